"""How the command line names generation options: its flags and ``-o KEY=VALUE`` pairs.

The model registry knows options by their option names; :data:`CLI` is the wording the
commands hand to it (a :class:`imagear.models.Wording`), so its messages and notices name the
flag the user typed (``svd accepts --frames 14 or 25, not 20.``). Light: no registry import.
"""

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
