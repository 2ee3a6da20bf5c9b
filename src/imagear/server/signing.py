"""Content Credentials on the clips `imagear serve` returns (imagear.provenance): a client that
stores them (Heratio's own) stores labelled clips.

The worker signs each clip after the quality gate, with the identity `imagear serve` loaded at
start (c2pa_cert / c2pa_key, or the per-install one): the model and its checkpoint, seed,
prompt, frames, fps, motion, which server, and the upload as the master ingredient (declared
from its title, format and SHA-256, taken while the upload was still on disk). A clip that
cannot be signed is a 500 (SigningFailed): nothing unsigned is sent.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagear.engines.base import GenerationResult
    from imagear.models import ModelDescriptor
    from imagear.models.base import BaseOptions
    from imagear.provenance.identity import Identity
    from imagear.provenance.manifest import MasterFacts


def master_of(path: Path | None, filename: str | None) -> MasterFacts | None:
    """The upload as the master ingredient (None without one)."""
    if path is None:
        return None
    from imagear.media import sniff_mime
    from imagear.provenance.manifest import MasterFacts

    title = Path(filename).name if filename else "upload"
    return MasterFacts.of(path, title, sniff_mime(path) or None)


def sign_served(
    identity: Identity,
    descriptor: ModelDescriptor,
    options: BaseOptions,
    result: GenerationResult,
    master: MasterFacts | None,
    clip: Path,
) -> None:
    """Sign ``clip`` in place (written signed beside it, then renamed over it)."""
    from imagear.provenance.manifest import ClipFacts
    from imagear.provenance.sign import sign_file

    facts = ClipFacts(
        model=result.model or descriptor.name,
        generative=descriptor.generative,
        seed=result.seed,
        checkpoint=descriptor.hf_repo,
        prompt=result.prompt,
        frames=result.num_frames,
        fps=result.fps,
        motion=result.motion if result.motion and not descriptor.generative else None,
        width=options.width,
        height=options.height,
        server=f"imagear serve on {socket.gethostname()}",
        master=master,
    )
    signed = clip.with_name(f"{clip.stem}.signed{clip.suffix}")
    try:
        title = f"{Path(master.title).stem if master else 'clip'} ({facts.model}).mp4"
        sign_file(identity, facts, clip, signed, title=title, read_master=False)
        os.replace(signed, clip)
    finally:
        signed.unlink(missing_ok=True)


__all__ = ["master_of", "sign_served"]
