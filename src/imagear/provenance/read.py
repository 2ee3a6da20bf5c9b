"""Reading and validating a file's Content Credentials with c2pa's Reader: the signature, the
hash binding (a changed byte of the media data fails it) and the ingredients.

:func:`read_credentials` -> :class:`Credentials`: ``state`` is ``valid`` (it validates; the
signer may still be untrusted: ``trusted`` says), ``invalid`` (tampered: the bytes no longer
match, or the signature or the manifest does not validate) or ``missing`` (no credentials at
all; ``unsigned`` when the install turned provenance off, which the service decides).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from imagear.provenance.manifest import ASSERTION, TRAINED, mime_of

UNTRUSTED = "signingCredential.untrusted"
"""Not a failure of the clip: the signer's CA is not on the validator's trust list."""

EXIT_CODES = {"valid": 0, "missing": 8, "unsigned": 8, "invalid": 9}
"""``imagear verify``'s exit code by state (documented in imagear.errors)."""


@dataclass
class Credentials:
    """A file's Content Credentials as validated (``imagear verify``, ``imagear check``)."""

    file: Path
    state: str  # valid | invalid | missing | unsigned
    problems: list[str] = field(default_factory=list)
    trusted: bool = False
    signer: str | None = None
    issuer: str | None = None
    claim_generator: str | None = None
    ai_generated: bool | None = None
    actions: list[str] = field(default_factory=list)
    ingredients: list[dict[str, object]] = field(default_factory=list)
    generation: dict[str, object] = field(default_factory=dict)
    object_id: int | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]


def _generator(manifest: dict[str, object]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        first = info[0]
        return " ".join(str(first[k]) for k in ("name", "version") if first.get(k))
    generator = manifest.get("claim_generator")
    return str(generator) if generator else None


def _fill(found: Credentials, manifest: dict[str, object]) -> None:
    signature = manifest.get("signature_info")
    if isinstance(signature, dict):
        found.signer = str(signature.get("common_name") or "") or None
        found.issuer = str(signature.get("issuer") or "") or None
    found.claim_generator = _generator(manifest)
    for assertion in manifest.get("assertions") or []:  # type: ignore[attr-defined]
        label, data = assertion.get("label", ""), assertion.get("data") or {}
        if str(label).startswith("c2pa.actions"):
            for action in data.get("actions", []):
                found.actions.append(str(action.get("action")))
                if action.get("digitalSourceType") == TRAINED:
                    found.ai_generated = True
        elif label == ASSERTION and isinstance(data, dict):
            found.generation = data
    if found.ai_generated is None and found.actions:
        found.ai_generated = False
    for item in manifest.get("ingredients") or []:  # type: ignore[attr-defined]
        found.ingredients.append(
            {k: item.get(k) for k in ("title", "format", "relationship") if item.get(k)}
        )


def read_credentials(path: Path) -> Credentials:
    """Validate ``path``'s Content Credentials with c2pa's Reader (streamed from the file)."""
    import json

    import c2pa

    from imagear.provenance.identity import require_extra

    require_extra()
    found = Credentials(path, "missing")
    try:
        with path.open("rb") as f:
            reader = c2pa.Reader(mime_of(path, "video/mp4"), f)
            report = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.ManifestNotFound:
        return found
    except c2pa.C2paError as exc:
        found.state = "invalid"
        found.problems.append(f"the credentials cannot be read: {exc}")
        return found
    manifests = report.get("manifests") or {}
    active = manifests.get(report.get("active_manifest") or "", {})
    _fill(found, active)
    statuses = report.get("validation_status") or []
    found.problems = [
        f"{s.get('code')}: {s.get('explanation', '')}".strip(": ")
        for s in statuses
        if s.get("code") != UNTRUSTED
    ]
    found.trusted = state == "Trusted"
    found.state = "valid" if state in ("Valid", "Trusted") and not found.problems else "invalid"
    return found


__all__ = ["EXIT_CODES", "UNTRUSTED", "Credentials", "read_credentials"]
