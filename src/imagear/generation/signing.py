"""The pipeline's Content Credentials (imagear.provenance): the sign stage and its helpers.

- :func:`load` (at the start of route, before anything is generated): with ``ar_provenance``
  on, the signing identity is loaded (a bad certificate or key is a ConfigError before any work; a
  per-install identity made now is said once, as a Notice);
- :func:`sign`, the ``sign`` stage (after verify, before commit): the clip is signed from its ``.part`` file into a
  new locked ``.part`` file (streamed), probed again (the stored size is the signed file's),
  and takes the old one's place; a clip that cannot be signed raises SigningFailed: nothing is
  stored and the previous clip is kept;
- :func:`label` (the sign stage, first): ``ar_visible_label`` burns its words into an AI clip;
- :meth:`ClipSigning.companion` signs the poster and the preview in the commit stage, before
  the three are swapped in.

With ``ar_provenance`` 0 nothing is loaded or signed and clips are stored unsigned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagear import store
from imagear.generation.events import Notice, Observer

if TYPE_CHECKING:
    from imagear.app import App
    from imagear.generation.protocol import Generated
    from imagear.generation.stages import Resolved, Routed, Verified
    from imagear.provenance.identity import Identity
    from imagear.provenance.manifest import ClipFacts
    from imagear.settings import Settings


@dataclass(frozen=True)
class ClipSigning:
    """The identity a run signs with, and (after ``sign``) what its clip's credentials say."""

    identity: Identity
    facts: ClipFacts | None = None
    title: str = ""

    def companion(self, path: Path, what: str) -> None:
        """Sign the poster or the preview in place (a ``.part`` file of the commit)."""
        from imagear.provenance.sign import sign_in_place

        assert self.facts is not None, "the sign stage runs before commit"
        sign_in_place(self.identity, self.facts, path, title=f"{self.title} ({what})")


def label(
    settings: Settings,
    got: tuple[Resolved, Routed, store.PartFile, Generated],
    verified: Verified,
    files: contextlib.ExitStack,
) -> tuple[store.PartFile, Verified, str] | None:
    """With ``ar_visible_label`` on and an AI model: the clip with the label burned in, in a
    new ``.part`` file that takes the old one's place (its probe, the words); else None."""
    resolved, _routed, part, generated = got
    words = settings.ar_visible_label_text.strip()
    if not settings.ar_visible_label or not resolved.descriptor.generative or not words:
        return None
    from imagear.media import probe_mp4
    from imagear.provenance.label import burn_label

    labelled = files.enter_context(store.part_file(part.path.parent, resolved.descriptor.name))
    burn_label(part.path, labelled.path, words, generated.fps or verified.info.fps)
    info = probe_mp4(labelled.path)
    part.discard()
    return labelled, dataclasses.replace(verified, info=info), words


def facts_of(
    app: App, resolved: Resolved, routed: Routed, generated: Generated, label: str | None = None
) -> ClipFacts:
    """What the credentials of this run's clip record."""
    from imagear.db import records as records_db
    from imagear.provenance.manifest import ClipFacts, MasterFacts, RecordFacts

    oid = resolved.object_id
    identifier, title = records_db.named(app.engine, oid) or (None, None)
    record = RecordFacts(oid, identifier, title, app.config.archive_name)
    desc, options = resolved.descriptor, resolved.options
    master = resolved.master
    place = routed.generator.placement
    motion = generated.motion or options.model_dump().get("motion")
    return ClipFacts(
        model=generated.model or desc.name,
        generative=desc.generative,
        seed=generated.seed,
        checkpoint=desc.hf_repo,
        prompt=generated.prompt,
        frames=generated.frames or options.num_frames,
        fps=generated.fps or options.fps,
        motion=str(motion) if motion else None,
        width=options.width,
        height=options.height,
        server=place.url if place.remote else f"in-process on {socket.gethostname()}",
        record=record,
        master=MasterFacts.of(master.file, master.name, master.mime_type),
        label=label,
    )


def load(app: App, settings: Settings, observe: Observer, oid: int) -> ClipSigning | None:
    """The signing identity (None when ar_provenance is 0); a new one made now is said once."""
    if not settings.ar_provenance:
        return None
    from imagear.provenance.identity import UNTRUSTED_NOTICE, load_identity

    identity = load_identity(app.config)
    if identity.made:
        observe(Notice(oid, UNTRUSTED_NOTICE.format(folder=identity.folder)))
    return ClipSigning(identity)


def sign(
    app: App,
    signing: ClipSigning,
    got: tuple[Resolved, Routed, store.PartFile, Generated],
    verified: Verified,
    files: contextlib.ExitStack,
    words: str | None = None,
) -> tuple[store.PartFile, Verified, ClipSigning]:
    """Sign the verified clip into a new ``.part`` file (entered in ``files``), which takes
    the old one's place: (the new part, the facts of the signed clip, the signing with its
    facts). ``words``: the visible label burned in, recorded in the credentials."""
    from imagear.media.mp4 import rewritten
    from imagear.provenance.sign import sign_file

    resolved, routed, part, generated = got
    facts = facts_of(app, resolved, routed, generated, words)
    title = f"{Path(resolved.master.name).stem} ({facts.model})"
    signed = files.enter_context(store.part_file(part.path.parent, resolved.descriptor.name))
    sign_file(signing.identity, facts, part.path, signed.path, title=f"{title}.mp4")
    info = rewritten(verified.info, signed.path)  # the same frames, a manifest box more
    part.discard()
    return (
        signed,
        dataclasses.replace(verified, info=info),
        dataclasses.replace(signing, facts=facts, title=title),
    )


__all__ = ["ClipSigning", "facts_of", "label", "load", "sign"]
