from __future__ import annotations

import json

import pytest

from imagear.cli import app


def invoke(runner, *args: str):
    return runner.invoke(app, list(args))


@pytest.mark.all_databases
def test_list_get_set_reset(cli_env, runner) -> None:
    r = invoke(runner, "settings", "list", "--json")
    assert r.exit_code == 0, r.output
    values = json.loads(r.stdout)
    assert (
        values["ar_model"] == "svd"
        and values["ar_num_frames"] == 14
        and values["ar_enabled"] is True
    )

    r = invoke(runner, "settings", "set", "ar_fps", "12")
    assert r.exit_code == 0 and "ar_fps = 12" in r.output
    r = invoke(runner, "settings", "get", "ar_fps", "--json")
    assert json.loads(r.stdout) == {"ar_fps": 12}
    r = invoke(runner, "settings", "set", "ar_enabled", "0")
    assert invoke(runner, "settings", "get", "ar_enabled").stdout.strip() == "0"
    r = invoke(runner, "settings", "reset", "ar_fps")
    assert r.exit_code == 0
    assert invoke(runner, "settings", "get", "ar_fps").stdout.strip() == "7"
    invoke(runner, "settings", "reset")
    assert invoke(runner, "settings", "get", "ar_enabled").stdout.strip() == "1"
    table = invoke(runner, "settings", "list")
    assert "ar_request_timeout" in table.stdout and "60..3600" in table.stdout


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("ar_request_timeout", "30", "60..3600"),
        ("ar_request_timeout", "abc", "whole number"),
        ("ar_fps", "31", "4..30"),
        ("ar_num_frames", "7", "8..49"),
        ("ar_motion_bucket_id", "0", "1..255"),
        ("ar_motion_bucket_id", "256", "1..255"),
        ("ar_seed", "-1", "in 0..4294967295"),
        ("ar_model", "nope", "Unknown model"),
        ("ar_enabled", "maybe", "0 or 1"),
        ("ar_server_url", "ftp://x", "http(s) URL"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_written(
    cli_env, runner, key: str, value: str, needle: str
) -> None:
    before = json.loads(invoke(runner, "settings", "list", "--json").stdout)
    r = invoke(runner, "settings", "set", key, "--", value)
    assert r.exit_code == (3 if key == "ar_model" else 2)  # an unknown name is not found: 3
    assert needle in r.output
    assert json.loads(invoke(runner, "settings", "list", "--json").stdout) == before


def test_unknown_key(cli_env, runner) -> None:
    r = invoke(runner, "settings", "get", "ar_nope")
    assert r.exit_code == 3
    assert "no setting named 'ar_nope'" in r.output
    assert invoke(runner, "settings", "set", "ar_nope", "1").exit_code == 3


def test_server_url_is_normalised(cli_env, runner) -> None:
    assert invoke(runner, "settings", "set", "ar_server_url", "http://gpu:5052/").exit_code == 0
    assert invoke(runner, "settings", "get", "ar_server_url").stdout.strip() == "http://gpu:5052"
    assert invoke(runner, "settings", "set", "ar_server_url", "").exit_code == 0


def test_negative_values_need_no_double_dash(cli_env, runner) -> None:
    r = invoke(runner, "settings", "set", "ar_seed", "-3")
    assert r.exit_code == 2 and "in 0..4294967295" in r.output
