"""The quality gate: every new clip passes it before it may replace anything.

Image-to-video models fail silently (fp16 runs give black frames, some seeds a frozen still, a
wrong checkpoint a clip unrelated to the image), and a server's only promise is a body of some
size. So before a clip is stored (``imagear animate``, ``imagear batch``, the in-process
engines) and before ``imagear serve`` replies, every frame is decoded cheaply
(:func:`imagear.media.scan.scan_clip`: the luma plane on a small grid) and these checks run:

- ``black``: a frame's mean brightness is under ``min_brightness`` (grey levels, 0..255);
- ``blank``: a frame is one flat tone: the standard deviation of its grey levels (contrast) is
  under ``min_contrast``;
- ``frozen``: nothing moves: the largest mean change of a frame from the first one is under
  ``min_motion`` grey levels (a one-frame clip is frozen);
- ``resemblance``: for models that take the image, the first frame does not look like the
  master image: the best normalised cross-correlation of the two (small, grey; the image
  stretched to the clip or cropped as Ken Burns starts) is under ``min_resemblance`` (0..1);
  text-to-video models skip it;
- ``frames``, ``size``, ``fps``: the clip is not what was asked (frame count and size exactly,
  frame rate within :data:`FPS_TOLERANCE`). For a new generation (:meth:`Expected.from_options`,
  ``tolerant``) a server may pick its own size and clamp what it makes: a clip of another size
  but the same aspect ratio (within :data:`ASPECT_TOLERANCE`) is stored at its real size with a
  note (``Verdict.notes``), one of another aspect ratio is refused as distorted; fewer frames
  than asked but at least the model's minimum, and another frame rate, are stored with a note.

A check that compares with the master image is skipped when the image itself cannot be judged
that way: ``black`` when the image is as dark, ``blank``, ``frozen`` and ``resemblance`` when it
is one flat tone. A threshold of 0 turns its check off; :attr:`Thresholds.enabled` (setting
``ar_quality_gate``) turns the whole gate off. The thresholds are ``image_ar_settings`` keys
(:meth:`Thresholds.from_settings`); ``imagear serve`` takes them as options.

This module is light (no numpy, PIL or av at import): the server's settings hold a
:class:`Thresholds`. A refusal is :class:`~imagear.errors.QualityRejected` (exit 7), naming each
failed check with its measured value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import QualityRejected
from imagear.settings_spec import DEFAULTS, Settings

if TYPE_CHECKING:
    from imagear.media.reference import Reference
    from imagear.media.scan import ClipScan, PreviewSpec

FPS_TOLERANCE = 0.5
"""How far (frames per second) the clip's frame rate may be from the one asked."""

ASPECT_TOLERANCE = 0.01
"""How far (relative) a clip's aspect ratio may be from the one asked and not be distorted."""

CHECKS = ("black", "blank", "frozen", "resemblance", "frames", "size", "fps")


THRESHOLD_SETTINGS = {
    "enabled": "ar_quality_gate",
    "min_brightness": "ar_quality_min_brightness",
    "min_contrast": "ar_quality_min_contrast",
    "min_motion": "ar_quality_min_motion",
    "min_resemblance": "ar_quality_min_resemblance",
}
"""Each threshold's ``image_ar_settings`` key (where its default, bounds and meaning are
declared: :mod:`imagear.settings_spec`)."""


@dataclass(frozen=True)
class Thresholds:
    """The gate's limits (defaults = the ``ar_quality_*`` settings' defaults)."""

    enabled: bool = DEFAULTS.ar_quality_gate
    min_brightness: float = DEFAULTS.ar_quality_min_brightness
    min_contrast: float = DEFAULTS.ar_quality_min_contrast
    min_motion: float = DEFAULTS.ar_quality_min_motion
    min_resemblance: float = DEFAULTS.ar_quality_min_resemblance

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """From typed :class:`imagear.settings.Settings` (the ``ar_quality_*`` keys)."""
        return cls(
            enabled=bool(settings.ar_quality_gate),
            min_brightness=float(settings.ar_quality_min_brightness),
            min_contrast=float(settings.ar_quality_min_contrast),
            min_motion=float(settings.ar_quality_min_motion),
            min_resemblance=float(settings.ar_quality_min_resemblance),
        )


@dataclass(frozen=True)
class Expected:
    """What was asked of the generation; None: not asked, not checked. ``said``: how the
    messages name where the values come from ("asked"; ``imagear check``: "recorded")."""

    frames: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    said: str = "asked"
    tolerant: bool = False  # the size policy of a new generation (see the module docstring)
    min_frames: int = 1  # with ``tolerant``: the fewest frames the model makes

    @classmethod
    def from_options(cls, options: object) -> Expected:
        """From a model's validated Options (num_frames, width, height, fps), tolerant: the
        least frames stored is the model's minimum (its num_frames bound)."""

        frames, width, height, fps = (
            getattr(options, name, None) or None
            for name in ("num_frames", "width", "height", "fps")
        )
        return cls(frames, width, height, fps, tolerant=True, min_frames=_min_frames(options))


def _min_frames(options: object) -> int:
    """The lower bound of the Options' ``num_frames`` field (1 when it declares none)."""
    fields = getattr(type(options), "model_fields", {})
    declared = fields.get("num_frames")
    bounds = [getattr(m, "ge", None) for m in getattr(declared, "metadata", ())]
    found = [int(b) for b in bounds if isinstance(b, int)]
    return max(found) if found else 1


@dataclass(frozen=True)
class Finding:
    """One failed check: its name, what was measured, the limit, and a phrase for people."""

    check: str
    measured: object
    limit: object
    message: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Verdict:
    """What the gate found. ``findings`` are the failed checks (empty: the clip passes);
    ``measured`` every value taken; ``skipped`` the checks not applied, with why."""

    scan: ClipScan
    findings: list[Finding] = field(default_factory=list)
    measured: dict[str, object] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # not as asked, but stored (size policy)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """The failed checks as one phrase ("the frames are black: ...; the clip is ...")."""
        return "; ".join(f.message for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "findings": [f.as_dict() for f in self.findings],
            "measured": dict(self.measured),
            "skipped": dict(self.skipped),
            "notes": list(self.notes),
        }


def _g(value: float) -> str:
    """A grey level or score for people: one decimal below 10, else whole."""
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


def _share(count: int, total: int, what: str) -> str:
    if count == total:
        return f"the frames are {what}"
    if count == 1:
        return f"1 of {total} frames is {what}"
    return f"{count} of {total} frames are {what}"


def _frame_checks(
    scan: ClipScan, reference: Reference | None, limits: Thresholds, verdict: Verdict
) -> bool:
    """black, blank, frozen; True when some frames are black or blank."""
    means, stds = scan.means, scan.stds
    n = scan.frames
    verdict.measured.update(
        brightness=round(float(means.mean()), 2),
        darkest_frame=round(float(means.min()), 2),
        contrast=round(float(stds.min()), 2),
        motion=round(scan.motion, 2),
    )
    flat_image = reference is not None and reference.std < limits.min_contrast
    dark = (means < limits.min_brightness) if limits.min_brightness > 0 else means < -1
    if (
        limits.min_brightness > 0
        and reference is not None
        and reference.mean < limits.min_brightness
    ):
        verdict.skipped["black"] = "the master image is itself this dark"
        dark = means < -1
    if dark.any():
        value = float(means[dark].mean())
        verdict.findings.append(
            Finding(
                "black",
                round(value, 2),
                limits.min_brightness,
                f"{_share(int(dark.sum()), n, 'black')}: mean brightness {_g(value)} of 255 "
                f"(at least {limits.min_brightness:g} needed)",
            )
        )
    flat = (stds < limits.min_contrast) & ~dark if limits.min_contrast > 0 else stds < -1
    if flat_image:
        verdict.skipped["blank"] = "the master image is itself one flat tone"
        flat = stds < -1
    if flat.any():
        value = float(stds[flat].mean())
        verdict.findings.append(
            Finding(
                "blank",
                round(value, 2),
                limits.min_contrast,
                f"{_share(int(flat.sum()), n, 'blank (one flat tone)')}: contrast {_g(value)} "
                f"of 255 (at least {limits.min_contrast:g} needed)",
            )
        )
    bad = bool(dark.any() or flat.any())
    if limits.min_motion <= 0:
        verdict.skipped["frozen"] = "turned off (ar_quality_min_motion is 0)"
    elif flat_image:
        verdict.skipped["frozen"] = "the master image is one flat tone: no motion can show"
    elif bad:
        verdict.skipped["frozen"] = "the frames are black or blank already"
    elif n < 2:
        verdict.findings.append(
            Finding("frozen", 0.0, limits.min_motion, "the clip is frozen: it has one frame")
        )
    elif scan.motion < limits.min_motion:
        verdict.findings.append(
            Finding(
                "frozen",
                round(scan.motion, 3),
                limits.min_motion,
                f"the clip is frozen: its frames barely change (largest change "
                f"{_g(scan.motion)} of 255, at least {limits.min_motion:g} needed)",
            )
        )
    return bad


def _resemblance_check(
    scan: ClipScan,
    reference: Reference | None,
    takes_image: bool,
    limits: Thresholds,
    verdict: Verdict,
    frames_bad: bool,
) -> None:
    why = None
    if not takes_image:
        why = "the model does not take the image (text-to-video)"
    elif reference is None:
        why = "no master image to compare with"
    elif limits.min_resemblance <= 0:
        why = "turned off (ar_quality_min_resemblance is 0)"
    elif reference.std < limits.min_contrast:
        why = "the master image is one flat tone"
    elif frames_bad:
        why = "the frames are black or blank already"
    if why is not None:
        verdict.skipped["resemblance"] = why
        return
    from imagear.media.reference import resemblance

    assert reference is not None
    score = resemblance(scan, reference)
    if score is None:
        verdict.skipped["resemblance"] = "the first frame is one flat tone"
        return
    verdict.measured["resemblance"] = round(score, 3)
    if score < limits.min_resemblance:
        verdict.findings.append(
            Finding(
                "resemblance",
                round(score, 3),
                limits.min_resemblance,
                f"the first frame does not look like the master image: resemblance "
                f"{score:.2f} (at least {limits.min_resemblance:g} needed)",
            )
        )


def _asked_checks(scan: ClipScan, expected: Expected, verdict: Verdict) -> None:
    verdict.measured.update(frames=scan.frames, width=scan.width, height=scan.height, fps=scan.fps)
    said = expected.said
    if expected.frames is not None and scan.frames != expected.frames:
        message = f"the clip has {scan.frames} frames, {expected.frames} were {said}"
        fewer_ok = expected.min_frames <= scan.frames < expected.frames
        if expected.tolerant and fewer_ok:
            verdict.notes.append(f"{message}: it was stored as it is")
        else:
            if expected.tolerant and scan.frames < expected.frames:
                message += f" (the model makes at least {expected.min_frames})"
            verdict.findings.append(Finding("frames", scan.frames, expected.frames, message))
    _size_check(scan, expected, verdict)
    if expected.fps is not None and abs(scan.fps - float(expected.fps)) > FPS_TOLERANCE:
        message = f"the clip plays at {scan.fps:g} fps, {float(expected.fps):g} were {said}"
        if expected.tolerant and scan.fps > 0:
            verdict.notes.append(f"{message}: it was stored as it is")
        else:
            verdict.findings.append(Finding("fps", scan.fps, expected.fps, message))


def _size_check(scan: ClipScan, expected: Expected, verdict: Verdict) -> None:
    width = expected.width if expected.width is not None else scan.width
    height = expected.height if expected.height is not None else scan.height
    if (scan.width, scan.height) == (width, height):
        return
    message = f"the clip is {scan.width}x{scan.height}, {width}x{height} was {expected.said}"
    if expected.tolerant and scan.height and height:
        drift = abs((scan.width / scan.height) / (width / height) - 1.0)
        if drift <= ASPECT_TOLERANCE:
            verdict.notes.append(f"{message}: it was stored at its own size (same aspect ratio)")
            return
        message += " (another aspect ratio: the picture would be distorted)"
    verdict.findings.append(
        Finding("size", f"{scan.width}x{scan.height}", f"{width}x{height}", message)
    )


def judge(
    scan: ClipScan,
    *,
    expected: Expected,
    reference: Reference | None,
    takes_image: bool,
    thresholds: Thresholds,
) -> Verdict:
    """Run every check on a scanned clip (see the module docstring)."""
    verdict = Verdict(scan)
    if not thresholds.enabled:
        verdict.skipped = dict.fromkeys(CHECKS, "the quality gate is off (ar_quality_gate is 0)")
        return verdict
    ref = reference if takes_image else None
    bad = _frame_checks(scan, ref, thresholds, verdict)
    _resemblance_check(scan, reference, takes_image, thresholds, verdict, bad)
    _asked_checks(scan, expected, verdict)
    return verdict


def inspect(
    path: str | Path,
    *,
    expected: Expected,
    reference: Reference | None,
    takes_image: bool,
    thresholds: Thresholds,
    preview: PreviewSpec | None = None,
) -> Verdict:
    """Scan the clip at ``path`` (keeping poster and preview frames with ``preview``) and judge
    it. Raises MediaError when it does not decode."""
    from imagear.media.scan import scan_clip

    scan = scan_clip(path, preview=preview)
    return judge(
        scan,
        expected=expected,
        reference=reference,
        takes_image=takes_image,
        thresholds=thresholds,
    )


def rejection(
    verdict: Verdict, what: str, quarantined: Path | None = None, advice: str | None = None
) -> QualityRejected:
    """The error for a refused clip: ``what`` names it ("The new clip of record 5")."""
    advice = advice if advice is not None else QualityRejected.default_advice or ""
    if quarantined is not None:
        advice = f"The refused clip was kept for a look at {quarantined}. {advice}"
    return QualityRejected(
        f"{what} was refused by the quality gate: {verdict.summary()}.",
        advice,
        checks=[f.as_dict() for f in verdict.findings],
        quarantined=str(quarantined) if quarantined is not None else None,
    )


__all__ = [
    "ASPECT_TOLERANCE",
    "CHECKS",
    "FPS_TOLERANCE",
    "Expected",
    "Finding",
    "Thresholds",
    "Verdict",
    "inspect",
    "judge",
    "rejection",
]
