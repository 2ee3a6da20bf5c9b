"""Server URLs and tokens have one rule and one redaction (imagear.urls, issue 20).

A server URL that ``settings set ar_server_url`` refuses is refused the same way (exit 2, one
line, the same reason) from imagear.toml and from IMAGEAR_SERVER_URL; a password in any URL
(server or database) is hidden by the one function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagear.cli import app as cli
from imagear.errors import ConfigError, InvalidSetting
from imagear.urls import check_server_url, parse_pool, redact_url, server_url_problem

# passed imagear.toml and IMAGEAR_SERVER_URL on bef0327, refused by `settings set ar_server_url`
BAD = ["http://ho st:80", "http://host:99999", "http://:5052"]


def _reason(output: str) -> str:
    """The refusal without the name of where the value came from: "must be ... : why."."""
    line = output.strip().splitlines()[0]
    return line[line.index("must be") :]


@pytest.mark.parametrize("url", BAD)
def test_a_refused_server_url_is_refused_the_same_way_everywhere(
    cli_env: Any, runner: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str
) -> None:
    from imagear.app import App

    App.load().close()  # the database exists, so only the URL can be refused
    by_setting = runner.invoke(cli, ["settings", "set", "ar_server_url", url])
    toml = tmp_path / "elsewhere" / "imagear.toml"  # not ./imagear.toml: the env run reads none
    toml.parent.mkdir()
    toml.write_text(f'server_url = "{url}"\n', encoding="utf-8")
    by_file = runner.invoke(cli, ["--config", str(toml), "settings", "get", "ar_server_url"])
    monkeypatch.setenv("IMAGEAR_SERVER_URL", url)
    by_env = runner.invoke(cli, ["settings", "get", "ar_server_url"])
    results = {"settings set": by_setting, "imagear.toml": by_file, "env": by_env}
    for where, result in results.items():
        assert result.exit_code == 2, (where, result.output)
        lines = result.output.strip().splitlines()
        # one line saying why (then, indented, the advice): no traceback, no usage text
        assert lines[0].startswith("Error: ") and len(lines) <= 2, (where, result.output)
        assert all(line.startswith("  ") for line in lines[1:]), (where, result.output)
        assert "Traceback" not in result.output
    assert by_setting.output.strip().startswith("Error: ar_server_url must be"), by_setting.output
    assert f"server_url in {toml}" in by_file.output, by_file.output
    assert "server_url in IMAGEAR_SERVER_URL" in by_env.output, by_env.output
    reasons = {_reason(r.output) for r in results.values()}
    assert len(reasons) == 1, reasons


@pytest.mark.parametrize("url", BAD)
def test_the_rule_is_one_function(url: str) -> None:
    assert server_url_problem(url) is not None
    for error in (ConfigError, InvalidSetting):
        with pytest.raises(error):
            check_server_url(url, "x", error, "advice")


def test_good_urls_pass_without_a_trailing_slash() -> None:
    assert check_server_url(" http://gpu-host:5052/ ", "x", ConfigError, "") == (
        "http://gpu-host:5052"
    )
    assert parse_pool("http://a:1/, http://b:2;http://c") == [
        "http://a:1",
        "http://b:2",
        "http://c",
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:pw@host/db", "postgresql://bob:***@host/db"),
        ("http://archivist:s3cr3t@127.0.0.1:5052", "http://archivist:***@127.0.0.1:5052"),
        ("mysql+pymysql://bob:pa/ss@h:3306/x", "mysql+pymysql://bob:***@h:3306/x"),
        ("http://gpu-host:5052/animate", "http://gpu-host:5052/animate"),
        ("see http://u:p@a and http://v:q@b", "see http://u:***@a and http://v:***@b"),
    ],
)
def test_one_redaction_for_every_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
