"""Issue 21 item 13: the first page of batch failures against the old full load, at 200,000
failure rows in SQLite (one run, both measured on the same database).

    PYTHONPATH=src python bench/bench_failures.py [--rows 200000] [--repeat 5]

Prints the insert time, the old full load (every failure row, as `batch failures`, /batch and
the admin page read them before), the new first pages (the web's: 100 rows and a COUNT on the
index; the CLI's: 50 rows and the counts, with the retry times' scan) and the ratios. Not a unit test: timings depend on the host.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(
            IMAGEAR_DATABASE_URL=f"sqlite:///{root / 'bench.db'}",
            IMAGEAR_STORAGE_ROOT=str(root / "storage"),
            IMAGEAR_IMAGES_ROOT=str(root / "images"),
            XDG_CONFIG_HOME=str(root / "config"),
            XDG_DATA_HOME=str(root / "data"),
        )
        from imagear.app import App
        from imagear.batch import failure_page, list_failures
        from imagear.db.schema import JOB

        app = App.load()
        try:
            later = datetime.now(UTC) + timedelta(hours=1)
            started = time.perf_counter()
            with app.engine.begin() as conn:
                for low in range(1, args.rows + 1, 20_000):
                    conn.execute(
                        JOB.insert(),
                        [
                            {
                                "object_id": oid,
                                "status": "given_up" if oid % 4 == 0 else "failed",
                                "attempts": 3,
                                "last_error": f"ServerError: the server at gpu-{oid % 7} failed",
                                "last_error_kind": "server",
                                "next_attempt_at": None if oid % 4 == 0 else later,
                                "updated_at": datetime.now(UTC),
                            }
                            for oid in range(low, min(low + 20_000, args.rows + 1))
                        ],
                    )
            print(f"inserted {args.rows:,} failure rows in {time.perf_counter() - started:.2f} s")

            def best(call: object) -> float:
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    call()  # type: ignore[operator]
                    times.append(time.perf_counter() - t0)
                return statistics.median(times)

            old = best(lambda: list_failures(app))  # every row, as before
            web = best(lambda: failure_page(app, 100, with_waiting=False))  # /batch, signed in
            cli = best(lambda: failure_page(app))  # batch failures: 50 rows + the counts
            last = best(lambda: failure_page(app, 50, args.rows - 50))
            page = failure_page(app)
            n = args.rows
            print(f"old full load ({n:,} rows):              {old * 1000:8.1f} ms (median)")
            print(f"new first page, web (100 rows + COUNT):  {web * 1000:8.1f} ms")
            print(f"new first page, CLI (50 rows + COUNTs):  {cli * 1000:8.1f} ms")
            print(f"new last page (offset {n - 50:,}):         {last * 1000:8.1f} ms")
            print(
                f"ratio old / first page: web {old / web:.0f}x, CLI {old / cli:.0f}x "
                f"(total {page.total:,}, more {page.more:,})"
            )
        finally:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
