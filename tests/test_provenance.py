"""Content Credentials (issue 22): every clip imagear stores carries a C2PA manifest that
c2pa's own Reader validates (not imagear's code path), with what made it; a changed byte is
caught; bad certificates are refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fake_server import FakeVideoServer
from imagear import records, settings
from imagear.animate import AnimateRequest, Animator
from imagear.app import App
from imagear.provenance.manifest import TRAINED

pytest.importorskip("c2pa")


def c2pa_report(path: Path) -> tuple[str, dict[str, Any]]:
    """(validation state, active manifest) as c2pa-python's Reader sees the file."""
    import c2pa

    mime = {
        ".mp4": "video/mp4",
        ".m4v": "video/mp4",
        ".jpg": "image/jpeg",
        ".webp": "image/webp",
    }[path.suffix]
    with path.open("rb") as f:
        reader = c2pa.Reader(mime, f)
        state = reader.get_validation_state()
        report = json.loads(reader.json())
    return state, report["manifests"][report["active_manifest"]]


def actions_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action
        for a in manifest["assertions"]
        if a["label"].startswith("c2pa.actions")
        for action in a["data"]["actions"]
    ]


def generation_of(manifest: dict[str, Any]) -> dict[str, Any]:
    return next(a["data"] for a in manifest["assertions"] if a["label"] == "org.imagear.generation")


def kenburns(app: App, oid: int, observe: Any = None) -> Any:
    with Animator(app, observer=observe) as animator:
        return animator.animate(
            AnimateRequest(
                oid,
                model="kenburns",
                overrides={"num_frames": 10, "fps": 10, "width": 160, "height": 100},
                extra={"motion": "pan_lr"},
            )
        )


def test_in_process_kenburns_clip_poster_and_preview_are_signed_as_an_edit(
    app: App, make_image: Any
) -> None:
    app.config.c2pa_cert = app.config.c2pa_key = None  # the per-install identity
    oid = records.add_record(app, make_image("photo.jpg"), title="Harbour, 1911").id
    notices: list[str] = []
    out = kenburns(app, oid, observe=lambda e: notices.append(getattr(e, "message", "")))
    assert out.file is not None and out.poster is not None and out.preview is not None
    state, manifest = c2pa_report(out.file)
    assert state == "Valid"
    assert manifest["claim_generator_info"][0]["name"] == "imagear"
    names = [a["action"] for a in actions_of(manifest)]
    assert names == ["c2pa.opened", "c2pa.edited"]
    assert TRAINED not in json.dumps(manifest)
    assert "pan over the photograph" in actions_of(manifest)[1]["description"]
    (master,) = manifest["ingredients"]
    assert (master["title"], master["format"], master["relationship"]) == (
        "photo.jpg",
        "image/jpeg",
        "parentOf",
    )
    gen = generation_of(manifest)
    assert gen["model"] == "kenburns" and gen["ai_generated"] is False
    assert gen["seed"] == out.animation.ai_seed and gen["motion"] == "pan_lr"
    assert gen["record"]["title"] == "Harbour, 1911" and gen["record"]["object_id"] == oid
    assert len(gen["master"]["sha256"]) == 64
    # the stored size is the signed file's
    assert out.animation is not None and out.animation.mp4_size == out.file.stat().st_size
    for companion in (out.poster, out.preview):
        state, manifest = c2pa_report(companion)
        assert state == "Valid", companion
        assert generation_of(manifest)["model"] == "kenburns"
    # the per-install identity was made on this first use and said so, once
    assert sum("untrusted" in n for n in notices) == 1
    key = Path(app.config.storage_root).parent / "xdg-data" / "imagear" / "c2pa" / "signer.key"
    assert key.is_file() and key.stat().st_mode & 0o777 == 0o600
    again = kenburns(app, records.add_record(app, make_image("b.jpg")).id, notices.append)
    assert c2pa_report(again.file)[0] == "Valid"
    assert sum("untrusted" in str(n) for n in notices) == 1


def test_remote_svd_clip_is_declared_ai_with_model_seed_and_master(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    oid = records.add_record(app, make_image("photo.jpg")).id
    with Animator(app) as animator:
        out = animator.animate(AnimateRequest(oid, overrides={"seed": 4242}))
    assert out.file is not None
    state, manifest = c2pa_report(out.file)
    assert state == "Valid"
    (created,) = actions_of(manifest)
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == TRAINED
    assert manifest["ingredients"][0]["relationship"] == "inputTo"
    assert manifest["ingredients"][0]["title"] == "photo.jpg"
    gen = generation_of(manifest)
    assert gen["model"] == "svd" and gen["seed"] == 4242 and gen["ai_generated"] is True
    assert gen["server"] == remote.url
    assert gen["checkpoint"]


def test_provenance_off_stores_unsigned(app: App, make_image: Any) -> None:
    import c2pa

    settings.set_value(app.engine, "ar_provenance", "0")
    oid = records.add_record(app, make_image("photo.jpg")).id
    out = kenburns(app, oid)
    assert out.file is not None
    with out.file.open("rb") as f, pytest.raises(c2pa.C2paError.ManifestNotFound):
        c2pa.Reader("video/mp4", f)


def test_a_replaced_clip_gets_new_credentials(app: App, make_image: Any) -> None:
    oid = records.add_record(app, make_image("photo.jpg")).id
    first = kenburns(app, oid)
    with Animator(app) as animator:
        second = animator.animate(
            AnimateRequest(
                oid,
                model="kenburns",
                overrides={"num_frames": 12, "fps": 10, "width": 160, "height": 100, "seed": 99},
                extra={"motion": "zoom_in"},
                force=True,
            )
        )
    assert second.status == "replaced" and second.file != first.file
    state, manifest = c2pa_report(second.file)
    made = generation_of(manifest)
    assert state == "Valid" and (made["seed"], made["motion"], made["frames"]) == (
        99,
        "zoom_in",
        12,
    )
    assert c2pa_report(second.poster)[0] == "Valid"


def test_a_signed_clip_cut_short_is_refused_and_the_old_one_kept(
    app: App, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signed clip is not decoded again (its frames are the verified clip's), but its
    boxes are checked whole: a signer's output cut short never replaces a clip."""
    from imagear.errors import MediaError
    from imagear.provenance import sign

    oid = records.add_record(app, make_image("photo.jpg")).id
    first = kenburns(app, oid)
    kept = first.file.read_bytes()
    real = sign.sign_file

    def cut_short(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        dest = Path(args[3])
        dest.write_bytes(dest.read_bytes()[:-5000])

    monkeypatch.setattr(sign, "sign_file", cut_short)
    with Animator(app) as animator, pytest.raises(MediaError, match="not a playable MP4"):
        animator.animate(
            AnimateRequest(
                oid,
                model="kenburns",
                overrides={"num_frames": 10, "fps": 10, "width": 160, "height": 100},
                force=True,
            )
        )
    assert first.file.read_bytes() == kept
    assert records.get_record(app, oid) is not None


def _first_frame(path: Path) -> Any:
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="gray").astype(float)


def test_the_visible_label_is_burned_into_ai_clips_only(
    app: App, remote: FakeVideoServer, make_image: Any
) -> None:
    settings.set_value(app.engine, "ar_visible_label_text", "AI-generated (imagear)")
    ai = records.add_record(app, make_image("photo.jpg")).id
    with Animator(app) as animator:
        plain = animator.animate(AnimateRequest(ai, overrides={"seed": 5}))
    before = _first_frame(plain.file)
    settings.set_value(app.engine, "ar_visible_label", "1")
    with Animator(app) as animator:
        labelled = animator.animate(AnimateRequest(ai, overrides={"seed": 5}, force=True))
    state, manifest = c2pa_report(labelled.file)
    assert state == "Valid"
    assert generation_of(manifest)["visible_label"] == "AI-generated (imagear)"
    # the same clip (same seed): the label's band changed the lower left, not the upper right
    after = _first_frame(labelled.file)
    h, w = after.shape
    band = abs(after[h - h // 12 :, : w // 4] - before[h - h // 12 :, : w // 4]).mean()
    elsewhere = abs(after[: h // 2, w // 2 :] - before[: h // 2, w // 2 :]).mean()
    assert band > 20 and elsewhere < 3, (band, elsewhere)
    # Ken Burns is an edit of the photograph: never labelled
    pan = kenburns(app, records.add_record(app, make_image("b.jpg")).id)
    assert "visible_label" not in generation_of(c2pa_report(pan.file)[1])
