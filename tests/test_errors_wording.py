"""Errors are data (code, params, fields); the CLI, the web console and the server word them,
and the server and the web share one error -> HTTP status table."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from imagear import errors
from imagear.cli.wording import PLACES as CLI_PLACES
from imagear.cli.wording import advice_of as cli_advice
from imagear.errors import (
    FeatureDisabled,
    ImagearError,
    InvalidOption,
    QualityRejected,
    RecordNotFound,
    ServerBusy,
    ServerUnreachable,
    UnknownModel,
    render_advice,
)
from imagear.httperrors import http_error, status_of

SRC = Path(errors.__file__).parent


def _classes() -> list[type[ImagearError]]:
    return [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, ImagearError) and c.__module__ == errors.__name__
    ]


def test_every_error_class_has_its_own_stable_code() -> None:
    codes = [c.code for c in _classes()]
    assert len(codes) == len(set(codes))
    assert all(code.islower() and " " not in code for code in codes)
    assert RecordNotFound.code == "record_not_found" and FeatureDisabled.code == "feature_disabled"


def test_errors_carry_params_and_fields() -> None:
    err = InvalidOption("bad", params={"model": "svd"}, fields=["num_frames"])
    assert err.params == {"model": "svd"} and err.fields == ("num_frames",)
    assert FeatureDisabled("off").fields == ("ar_enabled", "ar_user_button")
    assert RecordNotFound("gone").fields == () and RecordNotFound("gone").advice is None


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


@pytest.mark.parametrize("name", ["errors.py", "client.py", "generators.py", "httperrors.py"])
def test_services_spell_no_cli_command(name: str) -> None:
    said = [s for s in _strings(SRC / name) if "`imagear " in s or "imagear settings" in s]
    assert said == []


def test_each_front_end_words_the_same_error() -> None:
    from imagear.server.app import api_error
    from imagear.web.wording import advice_of as web_advice

    err = FeatureDisabled("Image animation is turned off (ar_enabled=0).")
    assert cli_advice(err) == (
        "Turn it on with `imagear settings set ar_enabled 1` (ar_user_button only hides the "
        "record pages' button)."
    )
    web = web_advice(err) or ""
    assert "/admin/image-ar/settings" in web and "`" not in web and "imagear" not in web
    assert "imagear" not in api_error(err).message
    unreachable = ServerUnreachable("down", "Check it is running ({see:health}).")
    assert cli_advice(unreachable) == "Check it is running (`imagear health`)."
    assert "GET /health" in api_error(unreachable).message
    assert "health card" in (web_advice(unreachable) or "")
    assert render_advice("Pass {flag:seed} or {flag:model kenburns}.") == (
        "Pass the seed option or the model option (kenburns)."
    )
    default = render_advice(QualityRejected.default_advice, CLI_PLACES) or ""
    assert cli_advice(QualityRejected("refused")) == default and "--seed" in default


@pytest.mark.parametrize(
    ("err", "status"),
    [
        (FeatureDisabled("off"), 409),
        (RecordNotFound("gone"), 404),
        (UnknownModel("which?"), 400),
        (InvalidOption("bad"), 422),
        (ServerBusy("busy"), 503),
        (ServerUnreachable("down"), 500),
    ],
)
def test_one_status_table_for_server_and_web(err: ImagearError, status: int) -> None:
    from imagear.server.app import api_error

    assert status_of(err) == status == api_error(err).status
    if status == 503:
        assert http_error(err).headers == {"Retry-After": "5"}
