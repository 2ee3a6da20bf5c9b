"""Shared set-up of the web console tests: records (some with kenburns clips) and the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOKEN = "web-test-token-0123456789"
SMALL = {"num_frames": 10, "fps": 10, "width": 160, "height": 96}


def add_records(app: Any, make_image: Any, n: int, animated: int) -> list[int]:
    """``n`` records, the first ``animated`` of them with a small kenburns clip."""
    from imagear.animate import AnimateRequest, Animator
    from imagear.records import add_record

    ids = []
    for i in range(n):
        image = make_image(f"photo{i}.jpg", size=(320, 200))
        ids.append(add_record(app, image, f"REC-{i:03d}", f"Harbour view {i}").id)
    if animated:
        with Animator(app) as animator:
            for oid in ids[:animated]:
                animator.animate(
                    AnimateRequest(oid, model="kenburns", overrides=dict(SMALL), force=True)
                )
    return ids


def small_kenburns(app: Any) -> None:
    """Settings that make the web's generations small and quick (kenburns in this process)."""
    from imagear import settings

    for key, value in (("ar_model", "kenburns"), ("ar_server_url", "")):
        settings.set_value(app.engine, key, value)


def client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    from imagear.web.app import create_app

    return TestClient(create_app(app, TOKEN), base_url="http://127.0.0.1")


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def clip_file(app: Any, oid: int) -> Path:
    from imagear import store
    from imagear.records import get_record

    anim = get_record(app, oid).animation
    assert anim is not None
    path = store.file_of(app.config, anim)
    assert path is not None
    return path
