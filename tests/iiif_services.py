"""Real IIIF Image API services on loopback, for tests/test_iiif_masters.py: a static level 0
service (info.json and tiles or sizes written as files by :func:`write_level0`, served as
files by http.server) and a level 2 service (:class:`Level2Handler`: any region and size
scaled with Pillow), Image API 2 or 3. Every request path is logged."""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CONTEXTS = {
    2: "http://iiif.io/api/image/2/context.json",
    3: "http://iiif.io/api/image/3/context.json",
}


def info_json(
    base: str, version: int, level: int, width: int, height: int, **more: Any
) -> dict[str, Any]:
    if version == 3:
        doc = {
            "@context": CONTEXTS[3],
            "id": base,
            "type": "ImageService3",
            "protocol": "http://iiif.io/api/image",
            "profile": f"level{level}",
        }
    else:
        doc = {
            "@context": CONTEXTS[2],
            "@id": base,
            "protocol": "http://iiif.io/api/image",
            "profile": [f"http://iiif.io/api/image/2/level{level}.json"],
        }
    doc.update(width=width, height=height, **more)
    return doc


def write_level0(
    root: Path,
    name: str,
    image: Any,
    base: str,
    version: int,
    *,
    tile: int | None = None,
    factors: tuple[int, ...] = (),
    sizes: tuple[int, ...] = (),
) -> None:
    """A static level 0 service for ``image`` under ``root/name``: the tiles of every scale
    factor (``tile`` px) and/or the listed ``sizes`` (widths), as files at their canonical
    URLs, and its info.json."""
    w, h = image.size
    folder = root / name
    extra: dict[str, Any] = {}

    def put(region: str, size: str, img: Any) -> None:
        dest = folder / region / size / "0" / "default.jpg"
        dest.parent.mkdir(parents=True, exist_ok=True)
        img.convert("RGB").save(dest, "JPEG", quality=90)

    def size_text(sw: int, sh: int, full: bool) -> str:
        if full:
            return "max" if version == 3 else "full"
        return f"{sw},{sh}" if version == 3 else f"{sw},"

    if tile:
        extra["tiles"] = [{"width": tile, "height": tile, "scaleFactors": list(factors)}]
        for f in factors:
            step = tile * f
            for y in range(0, h, step):
                for x in range(0, w, step):
                    rw, rh = min(step, w - x), min(step, h - y)
                    sw, sh = math.ceil(rw / f), math.ceil(rh / f)
                    whole = (x, y, rw, rh) == (0, 0, w, h)
                    region = "full" if whole else f"{x},{y},{rw},{rh}"
                    put(
                        region,
                        size_text(sw, sh, whole and f == 1),
                        image.crop((x, y, x + rw, y + rh)).resize((sw, sh)),
                    )
    if sizes:
        extra["sizes"] = []
        for sw in sizes:
            sh = round(h * sw / w)
            extra["sizes"].append({"width": sw, "height": sh})
            put("full", size_text(sw, sh, sw == w), image.resize((sw, sh)))
    doc = info_json(f"{base}/{name}", version, 0, w, h, **extra)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info.json").write_text(json.dumps(doc))


class Logged(SimpleHTTPRequestHandler):
    log: list[str]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self.log.append(self.path)
        answer = getattr(self.server, "answers", {}).get(self.path.split("?")[0])
        if answer is not None:
            status, body, delay = answer
            if delay:
                threading.Event().wait(delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (the body cap): what the test checks
            return
        dynamic = getattr(self.server, "dynamic", None)
        if dynamic is not None and dynamic(self):
            return
        super().do_GET()


SIZE = re.compile(r"^/(?P<name>[^/]+)/(?P<region>[^/]+)/(?P<size>[^/]+)/0/default\.jpg$")


def level2(image: Any, version: int, base: str, name: str) -> Any:
    """A handler hook serving ``image`` as a level 2 service at ``/{name}``."""
    from PIL import Image

    w, h = image.size
    info = json.dumps(info_json(f"{base}/{name}", version, 2, w, h)).encode()

    def serve(handler: Logged) -> bool:
        path = handler.path
        if path == f"/{name}/info.json":
            body, kind = info, "application/json"
        else:
            found = SIZE.match(path)
            if found is None or found["name"] != name:
                return False
            region, size = found["region"], found["size"]
            img = image if region == "full" else image.crop(tuple(int(v) for v in _box(region)))
            if size not in ("full", "max"):
                sw_text, _, sh_text = size.partition(",")
                sw = int(sw_text) if sw_text else None
                sh = int(sh_text) if sh_text else None
                sw = sw or round(img.width * sh / img.height)  # type: ignore[operator]
                sh = sh or round(img.height * sw / img.width)
                img = img.resize((sw, sh), Image.Resampling.BILINEAR)
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=90)
            body, kind = out.getvalue(), "image/jpeg"
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return True

    return serve


def _box(region: str) -> tuple[int, int, int, int]:
    x, y, rw, rh = (int(v) for v in region.split(","))
    return x, y, x + rw, y + rh


@contextmanager
def image_server(root: Path) -> Iterator[tuple[str, list[str], ThreadingHTTPServer]]:
    """A real HTTP server on loopback serving ``root``: (base URL, request log, server)."""
    log: list[str] = []
    handler = type("Handler", (Logged,), {"log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
