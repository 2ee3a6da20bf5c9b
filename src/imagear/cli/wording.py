"""How the command line names generation options: its flags and ``-o KEY=VALUE`` pairs.

The model registry knows options by their option names; :data:`CLI` is the wording the
commands hand to it (a :class:`imagear.models.Wording`), so its messages and notices name the
flag the user typed (``svd accepts --frames 14 or 25, not 20.``). :func:`advice_of` words an
error's advice the same way (its places as commands, :data:`ADVICE` by code where it brings
none). Light: no registry import.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagear.errors import ImagearError

FLAGS: dict[str, str] = {
    "num_frames": "--frames",
    "fps": "--fps",
    "motion_bucket_id": "--motion",
    "seed": "--seed",
    "prompt": "--prompt",
    "width": "--width",
    "height": "--height",
}
"""The flag of each common per-call parameter; every other option is given as ``-o KEY=VALUE``."""

MOTION_FLAG = FLAGS["motion_bucket_id"]  # --motion N (a motion bucket) or --motion NAME


class CliWording:
    """The command line's wording of options (see :class:`imagear.models.Wording`)."""

    def label(self, key: str, given_as: str) -> str:
        if given_as == "pair":
            return f"-o {key}"
        return FLAGS.get(key, f"--{key.replace('_', '-')}")

    def term(self, key: str) -> str:
        return FLAGS[key].removeprefix("--") if key in FLAGS else key

    def model(self, name: str) -> str:
        return f"--model {name}"

    def motion_control(self) -> str | None:
        return MOTION_FLAG

    def options_advice(self, model: str, *, listed: bool = False) -> str | None:
        return f"See {'them' if listed else 'its options'} with `imagear models show {model}`."

    def given_as(self, key: str) -> str:
        """How ``imagear models show`` says an option is given: its flag or ``-o KEY=VALUE``."""
        return FLAGS.get(key, f"-o {key}=VALUE")


CLI = CliWording()


class CliPlaces:
    """The command line's wording of the places advice names (:data:`imagear.errors.PLACE_KINDS`):
    the command that shows or changes the thing, in backquotes; a generation option by its flag."""

    SEE: dict[str, str] = {
        "records": "records list",
        "settings": "settings list",
        "models": "models",
        "health": "health",
        "config": "config show",
    }

    def place(self, kind: str, arg: str) -> str:
        head, _, rest = arg.partition(" ")
        if kind == "flag":
            flag = "--model" if head == "model" else CLI.label(head, "option")
            return f"{flag} {rest}" if rest else flag
        if kind == "see":
            command = f"models show {rest}" if head == "model" else self.SEE.get(head, head)
        elif kind == "set":
            command = f"settings set {arg}"
        elif kind == "get":
            command = f"settings get {arg}"
        elif kind == "add":
            command = f"records add {arg}"
        else:
            command = f"animate --object-id {arg}"
        return f"`imagear {command}`"


PLACES = CliPlaces()

ADVICE: dict[str, str] = {
    "record_not_found": "List records with {see:records}.",
    "no_master_image": "Attach an image with {add:IMAGE} or in Heratio.",
    "setting_unknown": "List the keys with {see:settings}.",
    "model_unknown": "List the models with {see:models}.",
    "feature_disabled": "Turn it on with {set:ar_enabled 1} (ar_user_button only hides the record pages' button).",
    "records_read_only": "Add the record in Heratio, then animate it here: {animate:ID}.",
    "authentication_failed": (
        "Set the bearer token with IMAGEAR_SERVER_TOKEN (or server_token in imagear.toml)."
    ),
}
"""The command line's advice for an error that brings none, by its code."""


def advice_of(err: "ImagearError") -> str | None:
    """``err``'s advice in the command line's words: its own, else the CLI's for its code."""
    from imagear.errors import render_advice

    return render_advice(err.advice if err.advice is not None else ADVICE.get(err.code), PLACES)
