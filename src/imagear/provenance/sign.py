"""Signing: a clip (streamed from file to file: memory stays flat whatever its size), its
poster and its preview (small: in memory, written back into the same file) get the Content
Credentials of :mod:`imagear.provenance.manifest`, signed by an
:class:`~imagear.provenance.identity.Identity`.

c2pa makes no thumbnails here (the master's would cost more than the whole signature) and
does not read the clip back after signing: the pipeline checks the signed clip's boxes
(:func:`imagear.media.mp4.rewritten`).
Failures of c2pa are :class:`~imagear.errors.SigningFailed`.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import SigningFailed
from imagear.provenance.manifest import ClipFacts, definition, ingredient, mime_of

if TYPE_CHECKING:
    from imagear.provenance.identity import Identity

SETTINGS = {
    # above this size c2pa keeps its working copy in a temporary file, not in memory
    "core": {"backing_store_memory_threshold_in_mb": 16},
    "builder": {"thumbnail": {"enabled": False}},
    "verify": {"verify_after_sign": False},
}


def _version() -> str:
    import imagear

    return str(imagear.__version__)


def _builder(manifest: dict[str, object]) -> object:
    import c2pa

    context = c2pa.Context(c2pa.Settings.from_dict(SETTINGS))
    return c2pa.Builder(json.dumps(manifest), context)


def _signer(identity: Identity) -> object:
    import c2pa

    info = c2pa.C2paSignerInfo(
        alg=identity.alg.encode(), sign_cert=identity.chain, private_key=identity.key, ta_url=None
    )
    return c2pa.Signer.from_info(info)


def _failed(what: str, exc: Exception) -> SigningFailed:
    return SigningFailed(
        f"Signing the Content Credentials of {what} failed: {exc}.",
        "The clip was not stored and the previous one is kept; check c2pa_cert and c2pa_key, "
        "or store clips unsigned: {set:ar_provenance 0}.",
    )


def sign_file(
    identity: Identity,
    facts: ClipFacts,
    src: Path,
    dest: Path,
    *,
    title: str,
    read_master: bool = True,
) -> None:
    """Write ``src`` signed to ``dest`` (both files, streamed); the master image is read as
    the ingredient (``read_master`` False: declared from its facts, the file may be gone)."""
    import c2pa

    fmt = mime_of(src, "video/mp4")
    manifest = definition(facts, title, fmt, _version(), master_inline=not read_master)
    try:
        builder = _builder(manifest)
        assert isinstance(builder, c2pa.Builder)
        master, found = facts.master, ingredient(facts)
        if read_master and master is not None and found is not None:
            with master.file.open("rb") as image:
                builder.add_ingredient(found, master.format, image)
        with src.open("rb") as source, dest.open("wb") as out:
            builder.sign(_signer(identity), fmt, source, out)
            out.flush()
            os.fsync(out.fileno())
    except (c2pa.C2paError, OSError) as exc:
        raise _failed(title, exc) from exc


def sign_in_place(identity: Identity, facts: ClipFacts, path: Path, *, title: str) -> None:
    """Sign a small file (a poster, a preview) in memory and write it back into the same
    file (the same inode: a locked ``.part`` file stays locked); the master ingredient is
    declared, not read again."""
    import c2pa

    fmt = mime_of(path)
    manifest = definition(facts, title, fmt, _version(), master_inline=True)
    try:
        builder = _builder(manifest)
        assert isinstance(builder, c2pa.Builder)
        source, out = io.BytesIO(path.read_bytes()), io.BytesIO()
        builder.sign(_signer(identity), fmt, source, out)
        with path.open("r+b") as f:
            f.write(out.getbuffer())
            f.truncate()
    except (c2pa.C2paError, OSError) as exc:
        raise _failed(title, exc) from exc


__all__ = ["SETTINGS", "sign_file", "sign_in_place"]
