"""Property-based run of `imagear serve` against its own OpenAPI document (schemathesis).

The schema is the app's own (``/animate`` declares its multipart body: the image as binary and
the form fields), so schemathesis generates real multipart uploads, valid and invalid, and
checks every answer: never a 5xx, never a traceback in the body, and each answer as documented.
The number of examples is bounded so that it runs in CI in a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from fake_server import make_mp4_bytes  # noqa: E402
from imagear.engines.base import GenerationResult  # noqa: E402
from imagear.models import ModelDescriptor, register, unregister  # noqa: E402
from imagear.server import ServerSettings, create_app  # noqa: E402
from test_server import Served, running_server  # noqa: E402

MAX_EXAMPLES = 30
# Every check of the answers, less the two that judge the inputs: which values a model takes
# depends on the model (kenburns takes fps 1..60, svd 4..30), which a schema cannot say, and a
# multipart form carries every value as text, so "a number where a string goes" is valid text.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
# Building the app starts nothing and makes no folder; the document is the served one.
schema = schemathesis.openapi.from_dict(
    create_app(ServerSettings(default_model="kenburns")).api.openapi()
)


class _QuickEngine:
    """Answers every generation at once with a small real MP4 (what is under test is the
    protocol, not the rendering)."""

    def generate(self, image: Any, options: Any, out_path: Path) -> GenerationResult:
        frames, fps = int(options.num_frames), int(options.fps)
        out_path.write_bytes(make_mp4_bytes(128, 72, frames, fps))  # cached per fps
        return GenerationResult("test-quick", int(options.seed), frames, fps, 0.01)

    def loaded(self) -> bool:
        return True

    def close(self) -> None:
        pass


class FakeQuick(ModelDescriptor):
    name = "test-quick"
    family = "test"
    native_width, native_height, divisible_by, min_side = 128, 72, 2, 16
    fixed_size = True  # the clip is what was asked for: 128x72, 8 frames
    default_frames, valid_frames, frames_rule, native_fps = 8, (8,), "8", 8
    requires_gpu = False
    honours_settings = False

    def create_engine(self, config: Any) -> Any:
        return _QuickEngine()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("schema")
    # small limits, so generated uploads and images meet them too
    limits: dict[str, Any] = {"max_upload_bytes": 256 * 1024, "max_pixels": 4_000_000}
    register(FakeQuick, replace=True)
    try:
        with running_server(
            root / "tmp", default_model="test-quick", models_dir=root / "models", **limits
        ) as srv:
            yield srv
    finally:
        unregister(FakeQuick.name)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples on every run: CI does not flake
)
def test_every_answer_is_documented_and_no_5xx(case: Any, served: Served) -> None:
    response = case.call(base_url=served.url, timeout=30)
    assert b"Traceback" not in response.content
    if response.status_code != 200:  # an error body: {"error", "type"} or FastAPI's {"detail"}
        body = response.json()
        assert isinstance(body.get("error") or body.get("detail"), str), body
    case.validate_response(response, checks=CHECKS)


def test_the_schema_declares_the_multipart_body() -> None:
    operation = schema["/animate"]["POST"]
    assert operation.definition.raw["requestBody"]["content"]["multipart/form-data"]


def test_no_temp_file_is_left(served: Served) -> None:
    from test_server import wait_until_empty

    assert wait_until_empty(Path(served.tmp_dir)) == []
