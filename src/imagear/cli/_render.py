"""Rendering helpers for the commands in :mod:`imagear.cli.animate`: Animator progress, clip
sizes, SIGTERM as Ctrl-C, and JSON rows in the table's column order."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from imagear.cli._common import err_console, warn
from imagear.cli._text import visible

if TYPE_CHECKING:
    from types import FrameType

    from rich.live import Live
    from rich.progress import Progress, TaskID

    from imagear.domain import JSONObject


def size_text(size: int | float | None) -> str:
    """A clip's size for people: bytes below 1 KB, KB below 1 MB, else MB (decimal units)."""
    if size is None:
        return "-"
    n = int(size)
    if n < 1_000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1_000:.1f} KB"
    return f"{n / 1_000_000:.1f} MB"


def outcome_json(outcome: object) -> JSONObject:
    """An AnimateOutcome as JSON data (:func:`imagear.domain.to_json`): its ``animation`` clip
    with its columns in the table's order."""
    from imagear.domain import json_object

    return json_object(outcome)


class Renderer:
    """Renders Animator progress: a status line (model, parameters, elapsed) and a transfer bar
    on a terminal; only the warnings otherwise."""

    def __init__(self, fancy: bool) -> None:
        self.fancy = fancy
        self._status: Progress | None = None
        self._transfer: Progress | None = None
        if fancy:  # rich.progress loads for a terminal only (25-30 ms), when a clip is made
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TransferSpeedColumn,
            )

            self._status = Progress(
                SpinnerColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=err_console.real,
            )
            self._transfer = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=err_console.real,
            )
        self._live: Live | None = None
        self._task: TaskID | None = None
        self._bar: TaskID | None = None
        self._head = ""
        self._params = ""
        self._lock = threading.Lock()
        self.replacing: bool | None = None  # from "start": does the record have a clip?

    @contextlib.contextmanager
    def running(self) -> Iterator[Renderer]:
        if self._status is None or self._transfer is None:
            yield self
            return
        from rich.console import Group
        from rich.live import Live

        self._live = Live(
            Group(self._status, self._transfer), console=err_console.real, transient=True
        )
        with self._live:
            yield self
        self._live = None

    def __call__(self, event: str, object_id: int | None = None, **data: Any) -> None:
        with self._lock:
            if event == "notice":
                warn(str(data.get("message")))
                return
            if event == "start":
                self.replacing = bool(data.get("replacing"))
            status, transfer = self._status, self._transfer
            if status is None or transfer is None:  # not a terminal: nothing to draw
                return
            from rich.markup import escape

            if event == "start":
                params = data.get("params") or {}
                labels = {"num_frames": "frames", "motion_bucket_id": "motion", "fps": "fps"}
                labels.update(motion="motion", seed="seed", prompt="prompt")
                shown = [f"{labels[k]} {v}" for k, v in params.items() if k in labels]
                if "width" in params:
                    shown.append(f"{params['width']}x{params.get('height')}")
                # progress descriptions are markup: data goes in escaped, control chars visible
                model = escape(visible(data.get("model")))
                self._head = f"[bold]{model}[/] record {object_id}"
                self._params = escape(visible(", ".join(shown)))
                self._task = status.add_task(f"{self._head} ({self._params})", total=None)
            elif event == "phase" and self._task is not None:
                text = f"{self._head}: {escape(visible(data['message']))} ({self._params})"
                status.update(self._task, description=text)
            elif event == "transfer":
                total = data.get("total")
                if self._bar is None:
                    self._bar = transfer.add_task("Receiving the clip", total=total)
                transfer.update(self._bar, completed=data.get("done", 0), total=total)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so partial files are removed before exiting."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
