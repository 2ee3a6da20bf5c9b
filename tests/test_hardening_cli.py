"""No input ever becomes a traceback (issue 16): the CLI's side.

- data and server text are shown as text: markup is not read, control characters are made
  visible (defect 3; tests/test_cli_text_fuzz.py fuzzes the same);
- out-of-range ids and counts, bad URLs, unreadable CSV rows, unsendable tokens and undecodable
  arguments are one line with their documented exit code (defects 4 and 8);
- ``records add`` decodes the whole image; ``ar_seed`` is bounded as the models bound it
  (defect 7);
- the server URL's password never appears in a message; a delete whose stored path escapes
  storage says so (defect 8).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from fake_server import FakeVideoServer
from imagear import records, settings
from imagear.app import App
from imagear.cli import app as cli
from imagear_models import ObjectImageAr

HOSTILE = (
    "[/] [bold]bold[/bold] [link=http://evil.example]link[/link] :smile: "
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x07osc\r\x9b2J\u202eevil\x08\t"
)
RAW = ("\x1b", "\r", "\x07", "\x9b", "\u202e", "\x08", "\x00")  # none may reach a terminal


def invoke(runner: Any, *args: str) -> Any:
    return runner.invoke(cli, list(args))


def assert_shown_as_text(result: Any) -> None:
    out = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "failed unexpectedly" not in out and "Traceback" not in out, out
    for char in RAW:
        assert char not in out, (char, out)


def add_clip_row(app: App, object_id: int, **values: Any) -> None:
    row = {
        "object_id": object_id,
        "mp4_filename": "kenburns_x_123456.mp4",
        "mp4_path": f"/uploads/ar/{object_id}/kenburns_x_123456.mp4",
        "ai_model": "kenburns",
        **values,
    }
    with Session(app.engine) as s:
        s.add(ObjectImageAr(**row))
        s.commit()


# -- defect 3: data and server text are text ----------------------------------------------------


@pytest.mark.all_databases
def test_hostile_titles_identifiers_prompts_and_values_are_shown_as_text(
    app: App, make_image: Any, runner: Any
) -> None:
    oid = records.add_record(app, make_image(), f"id {HOSTILE}", f"title {HOSTILE}").id
    add_clip_row(app, oid, ai_prompt=f"prompt {HOSTILE}", ai_model=f"m {HOSTILE}"[:64])
    settings.set_value(app.engine, "ar_default_prompt", HOSTILE)
    for args in (
        ("records", "list"),
        ("records", "show", str(oid)),
        ("recent",),
        ("settings", "list"),
        ("settings", "get", "ar_default_prompt"),
        ("settings", "set", "ar_default_prompt", f"again {HOSTILE}"),
    ):
        result = invoke(runner, *args)
        assert result.exit_code == 0, (args, result.output)
        assert_shown_as_text(result)
        assert "[/]" in result.output and "[bold]" in result.output, (args, result.output)
        assert "\\x1b[31mred" in result.output, (args, result.output)
    # --json keeps the exact text (JSON escapes control characters itself)
    data = json.loads(invoke(runner, "records", "show", str(oid), "--json").stdout)
    assert data["title"] == f"title {HOSTILE}"


def test_a_servers_words_are_shown_as_text(
    app: App, remote: FakeVideoServer, make_image: Any, runner: Any
) -> None:
    oid = records.add_record(app, make_image()).id
    remote.configure(status=500, error={"error": f"boom {HOSTILE}", "type": "[red]X[/]"})
    result = invoke(runner, "animate", "--object-id", str(oid))
    assert result.exit_code == 5, result.output
    assert_shown_as_text(result)
    assert "boom [/] [bold]bold[/bold]" in result.output
    remote.configure(status=200, health={"default_model": HOSTILE, "loaded_models": [HOSTILE]})
    result = invoke(runner, "health")
    assert_shown_as_text(result)
    assert "[link=http://evil.example]" in result.output


# -- defect 4: out-of-range numbers and bad input are one line with their exit code -----------


@pytest.mark.parametrize(
    "args",
    [
        ("--object-id", "9223372036854775808"),
        ("animate", "--object-id", "9223372036854775808"),
        ("recent", "-n", "9223372036854775808"),
        ("records", "show", "9223372036854775808"),
        ("records", "list", "--limit", "9223372036854775808"),
        ("records", "list", "--offset", "9223372036854775808"),
        ("delete", "--object-id", "2147483648"),
        ("batch", "--object-id", "9223372036854775808"),
        ("batch", "--backoff-secs", "1e300"),
        ("batch", "reset", "--object-id", "9223372036854775808"),
    ],
)
def test_ids_and_counts_are_bounded_where_they_are_parsed(
    cli_env: Any, runner: Any, args: tuple[str, ...]
) -> None:
    result = invoke(runner, *args)
    assert result.exit_code == 2, result.output
    assert_shown_as_text(result)


def test_an_ids_file_with_an_id_out_of_range_is_a_usage_error(
    cli_env: Any, runner: Any, tmp_path: Path
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n9223372036854775808\n")
    result = invoke(runner, "batch", "--object-ids", str(ids), "--dry-run")
    assert result.exit_code == 2, result.output
    assert "line 2" in result.output


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",  # ValueError in urlparse
        "http://gpu-host:99999",  # port out of range
        "http://gpu-host:port",
        "http://gpu host:5052",
        "http://gpu-host:5052/\nx",
        "http://gpu-host\t:5052",
        "http://gpu-host:0",
    ],
)
def test_bad_server_urls_are_refused(app: App, runner: Any, url: str) -> None:
    result = invoke(runner, "settings", "set", "ar_server_url", url)
    assert result.exit_code == 2, result.output
    assert "ar_server_url must be an http(s) URL" in result.output
    assert_shown_as_text(result)
    assert settings.get(app.engine, "ar_server_url") == ""


def test_a_csv_field_over_the_csv_limit_fails_its_line_only(
    app: App, make_image: Any, runner: Any, tmp_path: Path
) -> None:
    image = make_image("a.jpg")
    path = tmp_path / "import.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["identifier", "title", "digitalObjectPath"])
        out.writerow(["one", "fine", str(image)])
        out.writerow(["two", "t" * 140_000, str(image)])
        out.writerow(["three", "fine", str(image)])
    result = invoke(runner, "records", "import", str(path))
    assert result.exit_code == 1, result.output
    assert_shown_as_text(result)
    assert "line 3:" in result.output and "field limit" in result.output
    assert "Imported 2 record(s), 1 row(s) failed." in result.output


@pytest.mark.parametrize(
    ("token", "words"),
    [("tökén", "not ASCII"), ("tok\r\nX-Evil: 1", "line break"), ("two words", "space")],
)
def test_a_token_that_cannot_be_a_bearer_token_is_a_config_error(
    app: App,
    remote: FakeVideoServer,
    make_image: Any,
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    words: str,
) -> None:
    oid = records.add_record(app, make_image()).id
    monkeypatch.setenv("IMAGEAR_SERVER_TOKEN", token)
    for args in (("animate", "--object-id", str(oid)), ("health",)):
        result = invoke(runner, *args)
        assert result.exit_code == 2, result.output
        assert words in result.output and "truncated" not in result.output
        assert_shown_as_text(result)
    assert remote.count == 0


def test_an_argument_that_is_not_utf8_is_a_usage_error(cli_env: Any, runner: Any) -> None:
    result = invoke(runner, "records", "add", "photo-\udcff.jpg", "--title", "x")
    assert result.exit_code == 2, result.output
    assert "not valid UTF-8" in result.output and "\\xff" in result.output
    assert_shown_as_text(result)


# -- defect 7 ------------------------------------------------------------------------------------


def test_records_add_refuses_a_truncated_image(
    app: App, make_image: Any, runner: Any, tmp_path: Path
) -> None:
    whole = make_image("whole.jpg", size=(640, 480)).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) // 2])  # the header is fine, the pixels end early
    result = invoke(runner, "records", "add", str(cut))
    assert result.exit_code == 1, result.output  # an image that cannot be used: exit 1
    assert "truncated" in result.output
    assert records.list_records(app)[1] == 0


def test_ar_seed_is_bounded_as_the_models_bound_it(app: App, runner: Any) -> None:
    from imagear.models.base import MAX_SEED

    result = invoke(runner, "settings", "set", "ar_seed", str(MAX_SEED + 1))
    assert result.exit_code == 2 and f"0..{MAX_SEED}" in result.output, result.output
    assert invoke(runner, "settings", "set", "ar_seed", str(MAX_SEED)).exit_code == 0


# -- defect 8 ------------------------------------------------------------------------------------


def test_the_server_urls_password_never_appears(
    app: App, make_image: Any, runner: Any, reserve_port: Callable[[], int]
) -> None:
    oid = records.add_record(app, make_image()).id
    url = f"http://archivist:s3cr3t-pw@127.0.0.1:{reserve_port()}"
    assert invoke(runner, "settings", "set", "ar_server_url", url).exit_code == 0
    for args in (("health",), ("health", "--json"), ("animate", "--object-id", str(oid))):
        result = invoke(runner, *args)
        assert result.exit_code == 5, result.output
        assert "s3cr3t-pw" not in result.output and "***@127.0.0.1" in result.output


def test_advice_names_the_setting_that_chose_the_server(
    app: App,
    make_image: Any,
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
    reserve_port: Callable[[], int],
) -> None:
    oid = records.add_record(app, make_image()).id
    monkeypatch.setenv("IMAGEAR_SERVER_URL", f"http://127.0.0.1:{reserve_port()}")
    for args in (("health",), ("animate", "--object-id", str(oid))):
        result = invoke(runner, *args)
        assert result.exit_code == 5, result.output
        assert "Check server_url (`imagear config show`)" in result.output, result.output
        assert "ar_server_url" not in result.output


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://bob:s3cr3t-pw@127.0.0.1:5432/no_such_db",
        "mysql+pymysql://bob:s3cr3t-pw@127.0.0.1:3306/test",
        "postgresql+psycopg://bob:s3cr3t-pw@127.0.0.1:5432:99/x",  # a port that is no number
    ],
)
def test_the_database_urls_password_never_appears(
    cli_env: Any, runner: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("IMAGEAR_DATABASE_URL", url)
    for args in (("config", "show"), ("config", "show", "--json")):
        result = invoke(runner, *args)
        assert result.exit_code == 0, result.output
        assert "s3cr3t-pw" not in result.output and "bob:***@127.0.0.1" in result.output
    result = invoke(runner, "records", "list")
    assert result.exit_code != 0 and "unexpectedly" not in result.output, result.output
    assert "s3cr3t-pw" not in result.output and "bob:***@127.0.0.1" in result.output
    assert len(result.output.strip().splitlines()) <= 3, result.output


def test_delete_of_a_row_whose_path_escapes_storage_says_so(app: App, runner: Any) -> None:
    oid = 7  # a clip row written by another tool, whose stored path leaves storage_root
    add_clip_row(app, oid, mp4_path="/uploads/ar/../../../../etc/passwd", mp4_filename="passwd")
    result = invoke(runner, "delete", "--object-id", str(oid))
    assert result.exit_code == 0, result.output
    assert "None" not in result.output
    assert "outside storage_root" in result.output and "no file was removed" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("--max-upload-mb", "nan"),
        ("--max-upload-mb", "inf"),
        ("--max-megapixels", "inf"),
        ("--max-megapixels", "nan"),
        ("--upload-timeout", "0"),
        ("--queue-size", "99999999999999999999"),
    ],
)
def test_serve_options_out_of_range_are_usage_errors(
    cli_env: Any, runner: Any, args: tuple[str, ...]
) -> None:
    pytest.importorskip("uvicorn")
    result = invoke(runner, "serve", "--model", "kenburns", *args)
    assert result.exit_code == 2, result.output
    assert_shown_as_text(result)
