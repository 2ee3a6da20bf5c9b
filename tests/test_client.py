"""imagear.client against respx (every server behaviour) and a real loopback server (deadline)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from fake_server import FakeVideoServer, make_mp4_bytes
from imagear.client import Health, VideoClient, error_text, retry_after
from imagear.errors import (
    AuthenticationFailed,
    BadResponse,
    ModelNotAvailable,
    OutOfGpuMemory,
    ServerBusy,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
)

URL = "http://gpu-host:5052"
MP4 = make_mp4_bytes()
X_HEADERS = {
    "Content-Type": "video/mp4",
    "X-Model": "svd-xt",
    "X-Seed": "4242",
    "X-Motion-Bucket": "99",
    "X-Generation-Secs": "12.34",
    "X-Frames": "25",
    "X-Fps": "6",
}


@pytest.fixture
def router() -> Iterator[respx.Router]:
    r = respx.Router(base_url=URL, assert_all_called=False)
    yield r


def make_client(router: respx.Router, **kw: object) -> tuple[VideoClient, list[float]]:
    sleeps: list[float] = []
    kw.setdefault("sleep", sleeps.append)
    client = VideoClient(URL, transport=httpx.MockTransport(router.handler), **kw)  # type: ignore[arg-type]
    return client, sleeps


def post(client: VideoClient, tmp_path: Path, **fields: object):
    return client.animate(b"\xff\xd8jpeg", {"model": "svd", **fields}, tmp_path / "clip.part")


# -- success -----------------------------------------------------------------------------------


def test_success_streams_to_file_and_reads_headers(router: respx.Router, tmp_path: Path) -> None:
    route = router.post("/animate").mock(
        return_value=httpx.Response(200, content=MP4, headers=X_HEADERS)
    )
    client, _ = make_client(router, token="s3cret")
    clip = post(client, tmp_path, seed=4242, num_frames=25, prompt=None)
    assert clip.path.read_bytes() == MP4
    assert clip.size_bytes == len(MP4)
    assert (clip.model, clip.seed, clip.motion_bucket_id) == ("svd-xt", 4242, 99)
    assert (clip.generation_secs, clip.frames, clip.fps) == (12.34, 25, 6.0)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer s3cret"
    body = request.content
    assert b'name="image"; filename="image.jpg"' in body
    assert b"Content-Type: image/jpeg" in body
    assert b'name="num_frames"\r\n\r\n25' in body
    assert b'name="prompt"' not in body  # None fields are not sent


def test_no_token_no_authorization_header(router: respx.Router, tmp_path: Path) -> None:
    route = router.post("/animate").mock(return_value=httpx.Response(200, content=MP4))
    client, _ = make_client(router)
    post(client, tmp_path)
    assert "authorization" not in route.calls.last.request.headers


def test_missing_headers_are_none(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(return_value=httpx.Response(200, content=MP4))
    client, _ = make_client(router)
    clip = post(client, tmp_path)
    assert (clip.model, clip.seed, clip.generation_secs, clip.frames) == (None, None, None, None)
    assert clip.elapsed_secs >= 0


@pytest.mark.parametrize(
    ("headers", "sent", "expected"),
    [
        ({}, {}, None),  # a model without a motion bucket (kenburns): nothing sent, none kept
        ({}, {"motion_bucket_id": 90}, 90),  # no header: what was sent
        ({"X-Motion-Bucket": "0"}, {}, None),  # older servers' "none"
        ({"X-Motion-Bucket": "0"}, {"motion_bucket_id": 90}, 90),
        ({"X-Motion-Bucket": "120"}, {"motion_bucket_id": 90}, 120),  # the server's word wins
    ],
)
def test_motion_bucket_header_or_what_was_sent(
    router: respx.Router, tmp_path: Path, headers: dict, sent: dict, expected: int | None
) -> None:
    router.post("/animate").mock(return_value=httpx.Response(200, content=MP4, headers=headers))
    client, _ = make_client(router)
    assert post(client, tmp_path, **sent).motion_bucket_id == expected


def test_progress_reports_bytes(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(return_value=httpx.Response(200, content=MP4))
    client, _ = make_client(router)
    events: list[tuple[str, dict]] = []
    client.animate(b"x", {}, tmp_path / "c.part", progress=lambda e, **d: events.append((e, d)))
    assert events[-1] == ("transfer", {"done": len(MP4), "total": len(MP4)})


# -- failures ----------------------------------------------------------------------------------


def test_unreachable_retried_then_explained(router: respx.Router, tmp_path: Path) -> None:
    route = router.post("/animate").mock(side_effect=httpx.ConnectError("Connection refused"))
    client, sleeps = make_client(router, max_retries=2)
    with pytest.raises(ServerUnreachable) as info:
        post(client, tmp_path)
    assert route.call_count == 3 and len(sleeps) == 2
    assert f"Cannot reach the image-to-video server at {URL}" in info.value.message
    assert "ar_server_url" in (info.value.advice or "")
    assert info.value.exit_code == 5
    assert not (tmp_path / "clip.part").exists()


def test_unreachable_then_up(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, content=MP4)]
    )
    client, sleeps = make_client(router)
    assert post(client, tmp_path).size_bytes == len(MP4)
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 1


def test_error_after_sending_is_not_retried(router: respx.Router, tmp_path: Path) -> None:
    route = router.post("/animate").mock(side_effect=httpx.ReadError("reset by peer"))
    client, sleeps = make_client(router)
    with pytest.raises(BadResponse):
        post(client, tmp_path)
    assert route.call_count == 1 and sleeps == []


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (400, {"error": "Unknown model 'foo'", "type": "ValueError"}, ModelNotAvailable, "foo"),
        (400, {"detail": "Model wan-2.1 is not loaded"}, ModelNotAvailable, "not loaded"),
        (401, {"detail": "Missing bearer token"}, AuthenticationFailed, "bearer"),
        (403, {"error": "forbidden", "type": "Auth"}, AuthenticationFailed, "forbidden"),
        (507, {"error": "CUDA out of memory", "type": "OutOfMemoryError"}, OutOfGpuMemory, "CUDA"),
        (500, {"error": "pipeline exploded", "type": "RuntimeError"}, ServerError, "exploded"),
        (500, {"detail": "Internal Server Error"}, ServerError, "Internal Server Error"),
        (502, {"detail": "bad gateway"}, ServerError, "bad gateway"),
    ],
)
def test_json_errors_are_mapped(
    router: respx.Router,
    tmp_path: Path,
    status: int,
    body: dict,
    kind: type,
    text: str,
) -> None:
    router.post("/animate").mock(return_value=httpx.Response(status, json=body))
    client, sleeps = make_client(router)
    with pytest.raises(kind) as info:
        post(client, tmp_path)
    assert type(info.value) is kind
    assert text in info.value.message and f"({status})" in info.value.message
    assert info.value.advice
    assert sleeps == []  # none of these is retried
    assert not (tmp_path / "clip.part").exists()


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_says_whether_a_token_was_sent(
    router: respx.Router, tmp_path: Path, status: int
) -> None:
    router.post("/animate").mock(return_value=httpx.Response(status, json={"detail": "no"}))
    client, _ = make_client(router)
    with pytest.raises(AuthenticationFailed) as missing:
        post(client, tmp_path)
    assert "requires a bearer token and none was sent" in missing.value.message
    assert "IMAGEAR_SERVER_TOKEN" in (missing.value.advice or "")
    client, _ = make_client(router, token="wrong")
    with pytest.raises(AuthenticationFailed) as refused:
        post(client, tmp_path)
    assert "refused the bearer token that was sent" in refused.value.message
    assert "matches the token the server was started with" in (refused.value.advice or "")
    assert missing.value.advice != refused.value.advice


def test_out_of_memory_advice(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(return_value=httpx.Response(507, json={"detail": "OOM"}))
    client, _ = make_client(router)
    with pytest.raises(OutOfGpuMemory) as info:
        post(client, tmp_path)
    assert "fewer frames" in (info.value.advice or "")


def test_fastapi_validation_errors_are_readable() -> None:
    body = b'{"detail": [{"loc": ["body", "image"], "msg": "Field required", "type": "missing"}]}'
    assert error_text(httpx.Response(422), body) == "image: Field required"
    assert error_text(httpx.Response(500), b"plain text") == "plain text"


def test_non_mp4_body_is_refused(router: respx.Router, tmp_path: Path) -> None:
    html = b"<html><body>" + b"Welcome to nginx" * 200 + b"</body></html>"
    router.post("/animate").mock(
        return_value=httpx.Response(200, content=html, headers={"Content-Type": "text/html"})
    )
    client, _ = make_client(router)
    with pytest.raises(BadResponse) as info:
        post(client, tmp_path)
    assert "not an MP4" in info.value.message and "text/html" in info.value.message
    assert not (tmp_path / "clip.part").exists()


def test_tiny_body_is_refused(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(return_value=httpx.Response(200, content=MP4[:600]))
    client, _ = make_client(router)
    with pytest.raises(BadResponse, match="only 600 bytes"):
        post(client, tmp_path)
    assert not (tmp_path / "clip.part").exists()


def test_empty_body_is_refused(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(return_value=httpx.Response(200, content=b""))
    client, _ = make_client(router)
    with pytest.raises(BadResponse, match="only 0 bytes"):
        post(client, tmp_path)


def test_truncated_body_is_refused(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(
        return_value=httpx.Response(
            200, content=MP4[:2000], headers={"Content-Length": str(len(MP4))}
        )
    )
    client, _ = make_client(router)
    with pytest.raises(BadResponse, match="truncated"):
        post(client, tmp_path)
    assert not (tmp_path / "clip.part").exists()


def test_timeout_is_explained(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(side_effect=httpx.ReadTimeout("timed out"))
    client, sleeps = make_client(router, timeout=900)
    with pytest.raises(ServerTimeout) as info:
        post(client, tmp_path)
    assert "timed out after 900 s" in info.value.message
    assert "ar_request_timeout" in (info.value.advice or "")
    assert sleeps == []


class SlowStream(httpx.SyncByteStream):
    """A body that trickles: one chunk every ``delay`` seconds."""

    def __init__(self, data: bytes, chunks: int, delay: float) -> None:
        self.data, self.chunks, self.delay = data, chunks, delay

    def __iter__(self) -> Iterator[bytes]:
        step = max(1, len(self.data) // self.chunks)
        for i in range(0, len(self.data), step):
            time.sleep(self.delay)
            yield self.data[i : i + step]


def test_slow_trickle_hits_the_total_deadline(router: respx.Router, tmp_path: Path) -> None:
    router.post("/animate").mock(
        return_value=httpx.Response(200, stream=SlowStream(MP4 * 4, 40, 0.05))
    )
    client, _ = make_client(router, timeout=0.4)
    started = time.monotonic()
    with pytest.raises(ServerTimeout, match="timed out after 0.4 s"):
        post(client, tmp_path)
    assert time.monotonic() - started < 1.0  # 40 chunks x 0.05 s would take 2 s
    assert not (tmp_path / "clip.part").exists()


# -- retries on 429 / 503 ----------------------------------------------------------------------


def test_429_retry_after_then_success(router: respx.Router, tmp_path: Path) -> None:
    route = router.post("/animate").mock(
        side_effect=[
            httpx.Response(429, json={"error": "slow down"}, headers={"Retry-After": "2"}),
            httpx.Response(503, json={"detail": "queue full"}, headers={"Retry-After": "1"}),
            httpx.Response(200, content=MP4, headers=X_HEADERS),
        ]
    )
    client, sleeps = make_client(router)
    clip = post(client, tmp_path)
    assert clip.seed == 4242 and route.call_count == 3
    assert sleeps == [2.0, 1.0]


def test_503_retry_after_http_date(router: respx.Router, tmp_path: Path) -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    router.post("/animate").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": when}),
            httpx.Response(200, content=MP4),
        ]
    )
    client, sleeps = make_client(router)
    post(client, tmp_path)
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 3.5


def test_busy_retries_are_bounded_in_count(router: respx.Router, tmp_path: Path) -> None:
    route = router.post("/animate").mock(
        return_value=httpx.Response(503, json={"detail": "busy"}, headers={"Retry-After": "1"})
    )
    client, sleeps = make_client(router, busy_retries=3)
    with pytest.raises(ServerBusy) as info:
        post(client, tmp_path)
    assert route.call_count == 4 and sleeps == [1.0, 1.0, 1.0]
    assert "busy" in info.value.message and "gave up after 4 attempts" in info.value.message


def test_busy_retries_are_bounded_in_time(router: respx.Router, tmp_path: Path) -> None:
    route = router.post("/animate").mock(
        return_value=httpx.Response(429, json={"detail": "later"}, headers={"Retry-After": "600"})
    )
    client, sleeps = make_client(router, timeout=60)
    with pytest.raises(ServerBusy, match="retry after 600 s"):
        post(client, tmp_path)
    assert route.call_count == 1 and sleeps == []  # waiting 600 s cannot fit in 60 s


def test_retry_after_parsing() -> None:
    assert retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0
    assert retry_after(httpx.Headers({})) is None
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert retry_after(httpx.Headers({"Retry-After": past})) == 0.0


# -- /health -----------------------------------------------------------------------------------


def test_health_fields_and_extras(router: respx.Router) -> None:
    router.get("/health").mock(
        return_value=httpx.Response(
            200,
            json={
                "status": "ok",
                "default_model": "svd",
                "loaded_models": ["svd", "svd-xt"],
                "cuda": True,
                "low_vram_mode": True,
                "device": "NVIDIA H100",
                "vram_total_gb": 79.1,
                "vram_free_gb": 60.25,
                "queue_length": 2,
                "available_models": ["svd", "svd-xt", "kenburns"],
            },
        )
    )
    client, _ = make_client(router)
    h = client.health()
    assert isinstance(h, Health)
    assert (h.default_model, h.loaded_models, h.cuda, h.low_vram_mode) == (
        "svd",
        ["svd", "svd-xt"],
        True,
        True,
    )
    assert (h.device, h.vram_total_gb, h.vram_free_gb) == ("NVIDIA H100", 79.1, 60.25)
    assert h.extra == {"queue_length": 2, "available_models": ["svd", "svd-xt", "kenburns"]}
    assert h.available_models == ["svd", "svd-xt", "kenburns"]
    assert h.as_dict()["reachable"] is True


def test_health_minimal_server(router: respx.Router) -> None:
    router.get("/health").mock(return_value=httpx.Response(200, json={"status": "ok"}))
    client, _ = make_client(router)
    h = client.health()
    assert h.loaded_models == [] and h.cuda is False and h.available_models is None


def test_health_not_json(router: respx.Router) -> None:
    router.get("/health").mock(return_value=httpx.Response(200, text="<html>hello</html>"))
    client, _ = make_client(router)
    with pytest.raises(BadResponse, match="not an image-to-video server"):
        client.health()


def test_health_unreachable_answers_quickly(router: respx.Router) -> None:
    route = router.get("/health").mock(side_effect=httpx.ConnectError("refused"))
    client, sleeps = make_client(router)
    with pytest.raises(ServerUnreachable):
        client.health()
    assert route.call_count == 2 and len(sleeps) == 1


def test_health_sends_token(router: respx.Router) -> None:
    route = router.get("/health").mock(return_value=httpx.Response(200, json={"status": "ok"}))
    client, _ = make_client(router, token="abc")
    client.health()
    assert route.calls.last.request.headers["authorization"] == "Bearer abc"


# -- a real socket ------------------------------------------------------------------------------


def test_real_server_stalled_body_is_cut_at_the_deadline(tmp_path: Path) -> None:
    """Headers at 0.6 s, then the body stalls for 5 s: the total deadline (1.2 s) still holds,
    although one read could block for the whole read timeout."""
    with FakeVideoServer(latency=0.6, body_size=200_000, stall_after=5000, stall_secs=5) as srv:
        client = VideoClient(srv.url, timeout=1.2)
        started = time.monotonic()
        with pytest.raises(ServerTimeout):
            client.animate(b"x", {}, tmp_path / "c.part")
        assert time.monotonic() - started < 1.8
        client.close()
    assert not (tmp_path / "c.part").exists()


def test_real_server_truncated(tmp_path: Path) -> None:
    with FakeVideoServer(body_size=100_000, truncate_at=50_000) as srv, VideoClient(srv.url) as c:
        with pytest.raises(BadResponse, match="truncated"):
            c.animate(b"x", {}, tmp_path / "c.part")
    assert not (tmp_path / "c.part").exists()


def test_real_server_refused(tmp_path: Path) -> None:
    with FakeVideoServer() as srv:
        url = srv.url
    client = VideoClient(url, max_retries=1, sleep=lambda s: None)
    with pytest.raises(ServerUnreachable, match=url):
        client.animate(b"x", {}, tmp_path / "c.part")
