"""`imagear serve` and `imagear web` share one start-up (:func:`imagear.server.run.start`) and
one token reader (:func:`imagear.server.run.read_token`)."""

from __future__ import annotations

import pytest

from imagear.errors import ConfigError
from imagear.server.run import read_token


def test_one_token_reader_for_serve_and_web(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_VAR", "from-env-0123456789")
    monkeypatch.delenv("NO_TOKEN_VAR", raising=False)
    assert (
        read_token("given-0123456789ab", "TOKEN_VAR", "configured-0123456789")
        == "given-0123456789ab"
    )
    assert read_token(None, "TOKEN_VAR", "configured-0123456789") == "from-env-0123456789"
    assert read_token(None, None, "configured-0123456789") == "configured-0123456789"
    assert read_token() == ""  # none: serve runs open, web draws one
    with pytest.raises(ConfigError, match="NO_TOKEN_VAR, which is not set"):
        read_token(env="NO_TOKEN_VAR")
    monkeypatch.setenv("TOKEN_VAR", "two words")
    with pytest.raises(ConfigError, match="in TOKEN_VAR cannot be a bearer token"):
        read_token(env="TOKEN_VAR")
    with pytest.raises(ConfigError, match="cannot be a bearer token"):
        read_token("bad\ntoken")
