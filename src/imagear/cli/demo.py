"""`imagear demo`: the first run, with nothing set up (no GPU, no server, no settings).

The bundled sample image becomes the record "imagear-demo" (once: later runs animate that
record again instead of adding a duplicate) and is animated with kenburns in this process.
"""

# No `from __future__ import annotations`: Typer reads the command signatures at every start,
# and string annotations would be parsed again each time (see HACKING.md, CLI start-up).
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imagear.cli._common import console, get_app, handle_errors, print_json
from imagear.cli._render import outcome_json, size_text
from imagear.cli._text import text
from imagear.cli.animate import JsonOpt, run_animate
from imagear.cli.gen_options import OptionPairs, parse_options
from imagear.cli.wording import CLI

if TYPE_CHECKING:
    from imagear.app import App
    from imagear.records import Record


def demo(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Also copy the clip into this folder."),
    ] = None,
    option: OptionPairs = None,
    as_json: JsonOpt = False,
) -> None:
    """First run: animate the bundled sample image with Ken Burns, no GPU or server needed.

    The sample becomes the record "imagear-demo" on the first run; later runs animate that
    record again. It is rendered with kenburns in this process whatever ar_model and
    ar_server_url say (settings are not changed), and the path of the MP4 is printed.
    """
    from imagear.animate import AnimateRequest
    from imagear.errors import StorageError

    with handle_errors(as_json):
        extra = dict(parse_options(option))
        record, added = _demo_record(get_app(ctx))
    request = AnimateRequest(
        record.id, "kenburns", {}, extra, force=True, in_process=True, wording=CLI
    )
    outcome = run_animate(ctx, request, as_json, show=False)
    copied = None
    if out is not None and outcome.file is not None:
        with handle_errors(as_json):
            try:
                out.mkdir(parents=True, exist_ok=True)
                copied = Path(shutil.copy2(outcome.file, out / outcome.file.name))
            except OSError as exc:
                raise StorageError(f"Cannot copy the clip to {out}: {exc.strerror}.") from exc
    if as_json:
        copied_to = str(copied) if copied else None
        print_json({**outcome_json(outcome), "copied_to": copied_to, "new_record": added})
        return
    mp4 = outcome.mp4 or {}
    size = mp4.get("size_bytes")
    lines = [
        f"Demo clip of record {record.id}: {outcome.file}",
        f"  {size_text(size if isinstance(size, int | float) else None)}, {mp4.get('width')}x{mp4.get('height')}, "
        f"{mp4.get('frames')} frames at {mp4.get('fps')} fps ({mp4.get('duration_secs')} s)",
    ]
    for line in lines + ([f"  copied to {copied}"] if copied else []):
        console.print(text(line), soft_wrap=True)


def _demo_record(app: "App") -> "tuple[Record, bool]":
    """The demo's record: the "imagear-demo" one an earlier run added (while its master image
    is still there), else the bundled sample added as a new record. (record, added)."""
    from importlib import resources

    from imagear.errors import NotFound, UnsafePath
    from imagear.records import add_record, add_unless_exists, find_master

    sample = resources.files("imagear") / "data" / "sample.jpg"
    with resources.as_file(sample) as sample_path:
        record, added = add_unless_exists(app, sample_path, DEMO_IDENTIFIER, DEMO_TITLE)
        if not added:
            try:
                find_master(app, record.id)
            except (NotFound, UnsafePath):  # its image was removed: start afresh
                record, added = add_record(app, sample_path, DEMO_IDENTIFIER, DEMO_TITLE), True
    return record, added


DEMO_IDENTIFIER, DEMO_TITLE = "imagear-demo", "imagear demo (sample image)"
