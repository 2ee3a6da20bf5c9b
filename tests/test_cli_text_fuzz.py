"""Fuzz test of the CLI's text rendering (issue 16, defect 3).

Titles, identifiers, prompts, setting values and a server's messages made of brackets, Rich
markup, emoji codes, terminal escapes and control characters: whatever they are, every command
shows them as text (no MarkupError, no restyling), no control character reaches the terminal,
and the text itself is all there. Bounded: a few seconds in CI.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagear import records
from imagear import settings as settings_svc
from imagear.app import App
from imagear.cli import app as cli
from imagear.cli._text import text, visible

# What hostile or broken data is made of: markup, emoji codes, escapes, controls, bidi.
PIECES = [
    "[",
    "]",
    "[/]",
    "[bold]",
    "[/bold]",
    "[link=http://evil.example]",
    "[red on white]",
    "\\[",
    ":smile:",
    ":",
    "\x1b[31m",
    "\x1b]8;;http://evil.example\x07",
    "\x1b",
    "\x07",
    "\x08",
    "\r",
    "\n",
    "\t",
    "\x7f",
    "\x9b",
    "\x85",
    "\u202e",
    "\u2066",
    "\u2028",
    "ü",
    "漢",
    "\U0001f600",
    "\udcff",  # a byte that was not UTF-8
    " ",
    "x",
    "%s",
    "{}",
]
hostile = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=12).map("".join)
UNSAFE = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))] + [
    "\u202e",
    "\u2066",
    "\u2028",
    "\udcff",
]


def _safe_chars(s: str) -> str:
    return "".join(c for c in s if c not in UNSAFE and not 0xD800 <= ord(c) <= 0xDFFF)


def _render(renderable: Any) -> str:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=120, color_system="truecolor", force_terminal=True).print(renderable)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_visible_text_keeps_every_safe_character_and_no_control(s: str) -> None:
    shown = visible(s)
    assert not any(c in UNSAFE for c in shown)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in shown)
    rest = iter(shown)  # every safe character of s is still there, in order
    assert all(c in rest for c in _safe_chars(s))
    assert text(s).plain == shown  # nothing was taken as markup or emoji
    styled = text(("Error:", "bold red"), " ", s)
    assert styled.plain == "Error: " + shown
    rendered = _render(styled)  # never a MarkupError; only Rich's own styling escapes
    without_styles = rendered.replace("\x1b[1;31m", "").replace("\x1b[0m", "")
    assert "\x1b" not in without_styles and "\r" not in without_styles


@settings(max_examples=100, deadline=None)
@given(message=hostile, advice=hostile)
def test_an_error_line_is_one_line_of_text(message: str, advice: str) -> None:
    import typer
    from rich.console import Console

    from imagear.cli import _common
    from imagear.errors import InvalidOption

    out = io.StringIO()
    object.__setattr__(_common.err_console, "_console", Console(file=out, width=100))
    try:
        with pytest.raises(typer.Exit):
            _common.fail(InvalidOption(message or "x", advice or None))
        _common.warn(message)
    finally:
        object.__setattr__(_common.err_console, "_console", None)  # built again on first use
    lines = out.getvalue().splitlines()
    assert lines[0] == "Error: " + visible(message or "x")
    assert not any(c in UNSAFE for c in out.getvalue().replace("\n", ""))


@pytest.fixture
def sqlite_app(cli_env: dict[str, str]) -> Any:
    if not cli_env["IMAGEAR_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the rendering is the same on every database: fuzzed once")
    a = App.load()
    yield a
    a.close()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    words=hostile.filter(
        lambda s: "\x00" not in s and not any("\udc80" <= c <= "\udcff" for c in s)
    )
)
def test_every_command_shows_hostile_data_as_text(
    words: str, sqlite_app: App, make_image: Any, runner: Any
) -> None:
    app = sqlite_app
    rec = records.add_record(app, make_image(), f"id{words}"[:1024], f"title{words}")
    settings_svc.set_value(app.engine, "ar_default_prompt", words)
    for args in (
        ["records", "list", "--limit", "3", "--offset", str(max(0, rec.id - 1))],
        ["records", "show", str(rec.id)],
        ["settings", "list"],
        ["settings", "get", "ar_default_prompt"],
        ["recent"],
        ["animate", "--object-id", str(rec.id), "--model", f"m{words}"],  # refused: names it
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code in (0, 3), (args, result.output)
        out = result.output
        assert "failed unexpectedly" not in out and "Traceback" not in out, (args, out)
        assert not any(c in UNSAFE for c in out.replace("\n", "")), (args, out)
        if args[:2] == ["records", "show"]:
            assert visible(f"title{words}") in out.replace("\n", "")
    data = json.loads(runner.invoke(cli, ["records", "show", str(rec.id), "--json"]).stdout)
    assert data["title"] == f"title{words}"
