"""A deleted clip is kept in the trash for a while (imagear.trash, imagear_trash): restored with
its row and files, refused when a new clip was made since, purged after the time limit (an
injected clock), on every database; and through the console's delete / restore routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from web_helpers import SMALL, add_records, bearer, client, clip_file

pytestmark = [pytest.mark.all_databases, pytest.mark.mysql]


def test_delete_keeps_the_clip_and_restore_puts_it_back(app: Any, make_image: Any) -> None:
    from imagear import trash
    from imagear.errors import AnimationNotFound
    from imagear.records import get_record

    (oid,) = add_records(app, make_image, 1, animated=1)
    before = get_record(app, oid).animation
    path = clip_file(app, oid)
    size = path.stat().st_size
    kept = trash.delete_to_trash(app, oid, "test")
    assert get_record(app, oid).animation is None and not path.exists()
    assert [p.name for p in trash.folder(app).rglob("*.mp4")] == [path.name]
    assert kept.until > datetime.now(UTC) + timedelta(hours=trash.KEEP_HOURS - 1)
    clip = trash.restore(app, oid)
    assert path.stat().st_size == size and clip.mp4_filename == before.mp4_filename
    again = get_record(app, oid).animation
    assert again is not None and again.ai_seed == before.ai_seed
    assert again.mp4_width == before.mp4_width and again.created_at == before.created_at
    assert list(trash.folder(app).rglob("*.mp4")) == []
    with pytest.raises(AnimationNotFound):
        trash.restore(app, oid)  # the trash held one deletion, now undone


def test_a_new_clip_blocks_the_restore_and_the_limit_purges(app: Any, make_image: Any) -> None:
    from imagear import trash
    from imagear.animate import AnimateRequest, Animator
    from imagear.errors import AnimationNotFound, Refused

    (oid,) = add_records(app, make_image, 1, animated=1)
    t0 = datetime.now(UTC)
    trash.delete_to_trash(app, oid, "test", now=t0)
    with Animator(app) as animator:
        animator.animate(AnimateRequest(oid, model="kenburns", overrides=dict(SMALL)))
    new = clip_file(app, oid)
    with pytest.raises(Refused):
        trash.restore(app, oid)
    assert new.is_file() and len(list(trash.folder(app).rglob("*.mp4"))) == 1
    later = t0 + timedelta(hours=trash.KEEP_HOURS, minutes=1)
    assert trash.purge(app, later) == 1
    assert list(trash.folder(app).rglob("*.mp4")) == []
    with pytest.raises(AnimationNotFound):
        trash.restore(app, oid, now=later)
    assert new.is_file()  # the new clip is untouched


def test_the_console_restores_a_deleted_clip(app: Any, make_image: Any) -> None:
    pytest.importorskip("fastapi")
    (oid,) = add_records(app, make_image, 1, animated=1)
    c = client(app)
    json = {"Accept": "application/json"}
    assert c.post(f"/records/{oid}/restore", headers=json).status_code == 401  # a guest
    gone = c.post(f"/records/{oid}/delete", headers={**bearer(), **json})
    assert gone.status_code == 200 and gone.json()["restore_url"] == f"/records/{oid}/restore"
    assert "/" not in gone.json()["message"]  # no server path in a curator's message
    back = c.post(f"/records/{oid}/restore", headers={**bearer(), **json})
    assert back.status_code == 200 and back.json()["message"] == "Clip restored."
    assert c.get(f"/image-ar/{oid}/video").status_code == 200
    again = c.post(f"/records/{oid}/restore", headers={**bearer(), **json})
    assert again.status_code == 404
