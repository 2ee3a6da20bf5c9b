"""IIIF at scale: a manifest and the collection's pages with 1,000,000 records, on PostgreSQL
and MariaDB (targets: a manifest under 20 ms, a collection page under 200 ms).

Setup (not timed), per database, in a database of its own (``bench_iiif``, dropped and made
again): imagear creates its tables; the database itself makes ``--records`` records, each
with a master image row and a clip row (``generate_series`` on PostgreSQL, MariaDB's sequence
engine); one real clip is made with kenburns from a 3000x2000 JPEG, and ``--samples``
records spread over the id range get that MP4 and that JPEG on disk (a manifest reads the
clip's file and the master's header).

Timed, through the web app in-process (FastAPI's TestClient: routing, the publication check,
the SQL, the JSON; no socket):

1. ``GET /iiif/{id}/manifest.json`` for the sample records, ``--repeat`` rounds: p50 / p99;
2. ``GET /iiif/collection.json`` (the first page) and the pages after the middle id and after
   an id near the end (keyset pages: the same work at any depth): p50 / max of each;

Baselines in the same run: ``GET /livez`` through the same client (the floor of any request
through the app) and a ``SELECT 1`` on the same engine; each result is printed with its ratio
to the ``/livez`` floor.

    PYTHONPATH=src python bench/bench_iiif.py [--records 1000000] [--samples 20]
        [--repeat 10] [--databases postgresql mysql] [--pg-url URL] [--mysql-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

NAME = "bench_iiif"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MYSQL_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"
CLIP = "kenburns_r_123456.mp4"


def fresh_database(admin_url: str) -> str:
    """Drop and make database ``bench_iiif``; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {NAME}"))
        conn.execute(text(f"CREATE DATABASE {NAME}"))
    engine.dispose()
    return make_url(admin_url).set(database=NAME).render_as_string(hide_password=False)


def fill(engine: Any, n: int) -> float:
    """``n`` records, each with a master row and a clip row, made by the database."""
    from sqlalchemy import text

    pg = engine.dialect.name == "postgresql"
    rows = f"generate_series(1, {n}) AS s(g)" if pg else f"seq_1_to_{n} AS s"
    g = "g" if pg else "s.seq"
    cat = (lambda *p: " || ".join(p)) if pg else (lambda *p: f"CONCAT({', '.join(p)})")
    now = "now()"
    ident, title = cat("'R'", g), cat("'Record '", g)
    folder, clip = cat("'/uploads/r/'", g, "'/'"), cat("'/uploads/ar/'", g, f"'/{CLIP}'")
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO information_object (id, identifier, title) "
                f"SELECT {g}, {ident}, {title} FROM {rows}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO digital_object (object_id, usage_id, mime_type, name, path, "
                f"parent_id) SELECT {g}, 140, 'image/jpeg', 'r.jpg', {folder}, NULL FROM {rows}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO object_image_ar (object_id, mp4_filename, mp4_path, mp4_size, "
                "mp4_duration_secs, mp4_width, mp4_height, mp4_fps, ai_model, created_at, "
                f"updated_at) SELECT {g}, '{CLIP}', {clip}, "
                f"100000, 2.0, 480, 320, 12, 'kenburns', {now}, {now} FROM {rows}"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if pg:  # statistics and the visibility map, as autovacuum would leave them
            conn.execute(text("VACUUM ANALYZE"))
        else:
            for table in ("information_object", "digital_object", "object_image_ar"):
                conn.execute(text(f"ANALYZE TABLE {table}"))
    return time.perf_counter() - t0


def photo(path: Path) -> None:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (3000, 2000), (30, 60, 90))
    draw = ImageDraw.Draw(img)
    for i in range(0, 3000, 120):
        draw.rectangle([i, 0, i + 50, 2000], fill=(200, (i * 3) % 255, 40))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=90)


def put_files(app: Any, ids: list[int]) -> None:
    """A real clip (kenburns, of record ids[0]) and the 3000x2000 master for the samples."""
    from imagear import store
    from imagear.animate import AnimateRequest, Animator

    images = Path(app.config.images_root)
    for oid in ids:
        dest = images / f"uploads/r/{oid}/r.jpg"
        if oid == ids[0]:
            photo(dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(images / f"uploads/r/{ids[0]}/r.jpg", dest)
    small = {"num_frames": 24, "fps": 12, "width": 480, "height": 320}
    with Animator(app) as animator:
        clip = animator.animate(
            AnimateRequest(ids[0], model="kenburns", overrides=small, force=True)
        ).animation
    made = store.file_of(app.config, clip)
    assert made is not None and made.is_file()
    for oid in ids[1:]:
        folder = Path(app.config.storage_root) / f"uploads/ar/{oid}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(made, folder / CLIP)


def timed(client: Any, path: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def bench(kind: str, admin_url: str, args: Any) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from imagear.app import App
    from imagear.web.app import create_app

    url = fresh_database(admin_url)
    tmp = Path(tempfile.mkdtemp(prefix="bench-iiif-"))
    os.environ.update(
        IMAGEAR_DATABASE_URL=url,
        IMAGEAR_STORAGE_ROOT=str(tmp / "storage"),
        IMAGEAR_IMAGES_ROOT=str(tmp / "images"),
        IMAGEAR_MODELS_DIR=str(tmp / "models"),
        IMAGEAR_SERVER_URL="in-process",
    )
    app = App.load()
    try:
        app.engine  # noqa: B018 - creates the tables
        fill_secs = fill(app.engine, args.records)
        n = args.records
        ids = sorted({1 + (n - 1) * i // max(1, args.samples - 1) for i in range(args.samples)})
        put_files(app, ids)
        client = TestClient(create_app(app, "bench-token"), base_url="http://127.0.0.1")
        for oid in ids:  # warm-up: the first read of each sample's files
            timed(client, f"/iiif/{oid}/manifest.json", 1)
        livez = timed(client, "/livez", 200)
        select1 = []
        for _ in range(200):
            t0 = time.perf_counter()
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1")).scalar_one()
            select1.append((time.perf_counter() - t0) * 1000)
        manifests = [
            ms
            for _ in range(args.repeat)
            for oid in ids
            for ms in timed(client, f"/iiif/{oid}/manifest.json", 1)
        ]
        pages = {
            "first": "/iiif/collection.json",
            "middle": f"/iiif/collection/after-{n // 2}.json",
            "end": f"/iiif/collection/after-{max(1, n - 300)}.json",
        }
        page_ms = {name: timed(client, path, args.repeat) for name, path in pages.items()}
        items = len(client.get(pages["middle"]).json()["items"])
    finally:
        app.close()
        shutil.rmtree(tmp, ignore_errors=True)
    floor = statistics.median(livez)
    result: dict[str, Any] = {
        "database": kind,
        "records": args.records,
        "fill_secs": round(fill_secs, 1),
        "livez_p50_ms": round(floor, 2),
        "select1_p50_ms": round(statistics.median(select1), 2),
        "manifest_p50_ms": round(statistics.median(manifests), 2),
        "manifest_p95_ms": round(pct(manifests, 0.95), 2),
        "manifest_p99_ms": round(pct(manifests, 0.99), 2),
        "manifest_slowest_ms": [round(v, 1) for v in sorted(manifests)[-5:]],
        "manifest_ratio_to_livez": round(statistics.median(manifests) / floor, 1),
        "manifest_ok": pct(manifests, 0.99) < 20,
        "page_items": items,
    }
    for name, values in page_ms.items():
        result[f"page_{name}_p50_ms"] = round(statistics.median(values), 1)
        result[f"page_{name}_max_ms"] = round(max(values), 1)
    worst = max(max(v) for v in page_ms.values())
    result["page_ratio_to_livez"] = round(worst / floor, 1)
    result["pages_ok"] = worst < 200
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--databases", nargs="+", default=["postgresql", "mysql"])
    p.add_argument("--pg-url", default=PG_ADMIN)
    p.add_argument("--mysql-url", default=MYSQL_ADMIN)
    args = p.parse_args()
    admins = {"postgresql": args.pg_url, "mysql": args.mysql_url}
    ok = True
    for kind in args.databases:
        result = bench(kind, admins[kind], args)
        print(json.dumps(result), flush=True)
        ok = ok and result["manifest_ok"] and result["pages_ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
