"""Per-install configuration: imagear.toml, IMAGEAR_* variables, platformdirs defaults.

What lives here is per install, not per setting: where the database is, where clips and master
images live on disk, and how to reach/guard the server. Generation settings (model, frames, server
URL, ...) live in the ``image_ar_settings`` table, exactly as in Heratio.

The file is found through ``--config PATH``, then ``IMAGEAR_CONFIG``, then ``./imagear.toml``,
then the platformdirs user config dir. Every key can be overridden by ``IMAGEAR_<KEY>``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import tomli_w

from imagear.errors import ConfigError
from imagear.limits import MAX_ID
from imagear.urls import IN_PROCESS, check_server_url

APP_NAME = "imagear"
DEFAULT_MAX_CLIP_MB = 500.0  # a 2 s clip is a few MB; the largest models' clips tens of MB
MAX_MB = 1024.0 * 1024  # 1 TB: anything above is a typo
DEFAULT_UPLOAD_WHOLE_MB = 20.0  # a 24-megapixel photo is about 5 MB as a JPEG
CONFIG_FILENAME = "imagear.toml"


@dataclass(frozen=True)
class Key:
    name: str
    kind: type
    help: str


# The documented keys, in the order `config show` and `config init` print them.
KEYS: tuple[Key, ...] = (
    Key(
        "database_url",
        str,
        "SQLAlchemy URL: sqlite:///path.db, postgresql://user@host/db, or mysql://user:password@host/db "
        "(a Heratio install's MySQL/MariaDB database)",
    ),
    Key("storage_root", Path, "Clips are written to {storage_root}/uploads/ar/{record id}/"),
    Key("images_root", Path, "Master images live at {images_root}/{digital_object.path}/{name}"),
    Key(
        "server_token",
        str,
        "Bearer token sent to the image-to-video server (and required by `imagear serve`)",
    ),
    Key(
        "models_dir",
        Path,
        "Local folder of diffusers checkpoints for in-process engines and `imagear serve`",
    ),
    Key("low_vram", bool, "In-process engines: CPU offload, forward chunking, small decode chunks"),
    Key("user", str, "Name written to object_image_ar.created_by (imagear's own database)"),
    Key(
        "server_url",
        str,
        "Where this install sends generation requests: an http(s) URL, or in-process; empty: "
        "the database's ar_server_url (on a Heratio database that row is shared with Heratio)",
    ),
    Key(
        "heratio_user_id",
        int,
        "Heratio user id written to object_image_ar.created_by on an AtoM/Heratio database "
        "(empty: NULL, as Heratio's own CLI writes)",
    ),
    Key(
        "time_zone",
        str,
        "Time zone of the times written into Heratio's DATETIME columns, e.g. Europe/Berlin "
        "(empty: UTC, as Heratio writes them)",
    ),
    Key(
        "max_clip_mb",
        float,
        "Largest clip accepted from an image-to-video server, in MB (a larger one is refused)",
    ),
    Key(
        "upload_whole_mb",
        float,
        "Largest upright RGB or grey JPEG master sent to an image-to-video server as its own "
        "file, in MB (nothing decoded here); 0: every master is decoded and reduced here first "
        "(fewer bytes on a slow link to the server)",
    ),
    Key(
        "web_public",
        bool,
        "imagear web: guests (not signed in) see published records (on an AtoM/Heratio "
        "database those AtoM marks published; on imagear's own, all); false: none",
    ),
    Key(
        "iiif_attribution",
        str,
        "IIIF manifests: the requiredStatement (attribution) shown with every clip; empty: none",
    ),
    Key(
        "iiif_rights",
        str,
        "IIIF manifests: the rights URI (a Creative Commons licence or a RightsStatements.org "
        "statement, http(s)); empty: none",
    ),
    Key("iiif_provider", str, "IIIF manifests: the provider's name (empty: the site's host name)"),
    Key(
        "iiif_provider_homepage",
        str,
        "IIIF manifests: the provider's homepage, http(s) (empty: the console's address)",
    ),
    Key(
        "culture",
        str,
        "AtoM culture whose titles are shown first on an AtoM/Heratio database, then English "
        "(Heratio's interface culture; e.g. fr, pt_BR)",
    ),
    Key(
        "c2pa_cert",
        Path,
        "PEM certificate chain (signer first) that signs the Content Credentials of every clip "
        "(empty: a per-install identity made on first use; docs/provenance.md)",
    ),
    Key("c2pa_key", Path, "PEM private key of c2pa_cert (keep it mode 0600)"),
    Key("archive_name", str, "The archive's name, recorded in each clip's Content Credentials"),
)
OPTIONAL_PATHS = ("c2pa_cert", "c2pa_key")
"""Path keys whose empty value means "not set" (None)."""
KEY_NAMES = tuple(k.name for k in KEYS)


def default_values() -> dict[str, Any]:
    data = Path(platformdirs.user_data_dir(APP_NAME))
    return {
        "database_url": f"sqlite:///{data / 'imagear.db'}",
        "storage_root": data / "storage",
        "images_root": data / "images",
        "server_token": "",
        "models_dir": data / "models",
        "low_vram": False,
        "user": login_name(),
        "server_url": "",
        "heratio_user_id": None,
        "time_zone": "",
        "max_clip_mb": DEFAULT_MAX_CLIP_MB,
        "upload_whole_mb": DEFAULT_UPLOAD_WHOLE_MB,
        "web_public": True,
        "iiif_attribution": "",
        "iiif_rights": "",
        "iiif_provider": "",
        "iiif_provider_homepage": "",
        "culture": "en",
        "c2pa_cert": None,
        "c2pa_key": None,
        "archive_name": "",
    }


def login_name() -> str:
    """Who runs imagear, for ``created_by``: $LOGNAME / $USER (as ``getpass`` reads them), else
    the account of this process's user id (cron and systemd units may set neither), else
    "imagear"."""
    import getpass

    try:
        return getpass.getuser() or "imagear"
    except (KeyError, OSError):  # a user id with no passwd entry (some containers)
        return "imagear"


@dataclass
class Config:
    """The effective configuration, plus where each value came from (for `config show`)."""

    database_url: str
    storage_root: Path
    images_root: Path
    server_token: str = ""
    models_dir: Path | None = None
    low_vram: bool = False
    user: str = "imagear"
    server_url: str = ""  # "" (follow ar_server_url) | "in-process" | an http(s) URL
    heratio_user_id: int | None = None
    time_zone: str = ""  # "" = UTC on a Heratio database (as Heratio writes)
    max_clip_mb: float = DEFAULT_MAX_CLIP_MB
    upload_whole_mb: float = DEFAULT_UPLOAD_WHOLE_MB  # 0: every master reduced here
    web_public: bool = True  # guests see published records; false: none
    iiif_attribution: str = ""
    iiif_rights: str = ""
    iiif_provider: str = ""
    iiif_provider_homepage: str = ""
    culture: str = "en"  # AtoM's interface culture of the titles shown (then English)
    c2pa_cert: Path | None = None  # None: the per-install identity (imagear.provenance)
    c2pa_key: Path | None = None
    archive_name: str = ""
    path: Path | None = None  # the file that was read, if any
    sources: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in KEY_NAMES}

    def zone(self) -> tzinfo | None:
        """The configured time zone (None: UTC on Heratio's tables); checked when the config
        loads."""
        return ZoneInfo(self.time_zone) if self.time_zone else None


def _coerce(key: Key, value: Any, origin: str) -> Any:
    if key.kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{key.name} in {origin} must be true or false, not {value!r}.")
    if key.kind is float:
        return _megabytes(key, value, origin)
    if key.kind is int:
        return _user_id(key, value, origin)
    if not isinstance(value, str):
        raise ConfigError(f"{key.name} in {origin} must be a string, not {value!r}.")
    if "\0" in value:  # no path, URL, token or name holds one; open() would crash on it
        raise ConfigError(
            f"{key.name} in {origin} contains a NUL character (\\0).",
            "Remove it: no path, URL, token or name can hold one.",
        )
    if key.kind is Path:
        if key.name in OPTIONAL_PATHS and not value.strip():
            return None
        return Path(value).expanduser()
    if key.name == "server_url":
        return _server_url(value, origin)
    if key.name == "time_zone":
        return _time_zone(value, origin)
    if key.name in ("iiif_rights", "iiif_provider_homepage"):
        return _web_uri(key, value, origin)
    if key.name == "culture":
        return _culture(value, origin)
    return value


def _web_uri(key: Key, value: str, origin: str) -> str:
    """An http(s) URI, or empty."""
    value = value.strip()
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ConfigError(
            f"{key.name} in {origin} must be an http(s) URI, not {value!r}.",
            "For rights, e.g. https://creativecommons.org/licenses/by/4.0/.",
        )
    return value


def _culture(value: str, origin: str) -> str:
    """An AtoM culture code (information_object_i18n.culture: VARCHAR(7)), e.g. en, pt_BR."""
    text = value.strip() or "en"
    if not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z0-9]{2,3})?", text):
        raise ConfigError(
            f"culture in {origin} is not an AtoM culture code: {value!r}.",
            "Use the code of Heratio's interface language, such as en, fr or pt_BR.",
        )
    return text


def _user_id(key: Key, value: Any, origin: str) -> int | None:
    """A positive whole number, or empty (None)."""
    if isinstance(value, str) and not value.strip():
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, bool | float) else 0
    except ValueError:
        number = 0
    if number > MAX_ID:  # created_by is an INT: a larger id fails only after generating
        raise ConfigError(
            f"{key.name} in {origin} is {number}, larger than a Heratio user id can be "
            f"(object_image_ar.created_by is an INT: at most {MAX_ID}).",
            "Find the id in Heratio's user admin (or its `user` table).",
        )
    if number < 1:
        raise ConfigError(
            f"{key.name} in {origin} must be a Heratio user id (a whole number above 0) or "
            f"empty, not {value!r}.",
            "Find the id in Heratio's user admin (or its `user` table); leave it empty to "
            "record NULL, as Heratio's own CLI does.",
        )
    return number


def _server_url(value: str, origin: str) -> str:
    """Empty, ``in-process``, or an http(s) URL (the rule of :mod:`imagear.urls`, which
    ``settings set ar_server_url`` applies too) without a trailing slash."""
    text = value.strip()
    if text.lower() in ("in-process", "in_process", "inprocess"):
        return IN_PROCESS
    if not text:
        return ""
    return check_server_url(
        text,
        f"server_url in {origin}",
        ConfigError,
        "Empty follows the database's ar_server_url; in-process runs the models here.",
    )


def _time_zone(value: str, origin: str) -> str:
    text = value.strip()
    if text:
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"time_zone in {origin} is not a time zone name: {value!r}.",
                "Use an IANA name such as Europe/Berlin or UTC (the zone Heratio's app.timezone "
                "names), or leave it empty for UTC.",
            ) from None
    return text


def _megabytes(key: Key, value: Any, origin: str) -> float:
    """A size in MB: a number above 0 (at most MAX_MB); 0 too for ``upload_whole_mb``."""
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    zero = key.name == "upload_whole_mb"
    if not ((0 <= number) if zero else (0 < number)) or not number <= MAX_MB:  # nan too
        least = "0 or more" if zero else "above 0"
        raise ConfigError(
            f"{key.name} in {origin} must be a number of megabytes {least} (at most "
            f"{MAX_MB:g}), not {value!r}."
        )
    return number


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """The config file to read, following the documented search order; None if there is none."""
    if explicit:
        path = Path(explicit).expanduser()
        problem = _not_a_file(path)
        if problem:
            raise ConfigError(
                f"Config file {path} {problem}.",
                "Create one with `imagear config init --path PATH` or drop --config.",
            )
        return path
    env = os.environ.get("IMAGEAR_CONFIG")
    if env:
        path = Path(env).expanduser()
        problem = _not_a_file(path)
        if problem:
            raise ConfigError(f"IMAGEAR_CONFIG points at {path}, which {problem}.")
        return path
    for candidate in (Path.cwd() / CONFIG_FILENAME, user_config_path()):
        if candidate.is_file():
            return candidate
    return None


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a config file (None: it is a regular file)."""
    if "\0" in str(path):
        return "is not a usable file name (it contains a NUL character)"
    try:
        if path.is_file():
            return None
        if path.is_dir():
            return "is a folder, not a file"
        if path.exists():
            return "is not a regular file (a pipe, socket or device)"
    except (OSError, ValueError):  # a NUL in the name, a name too long
        return "is not a usable file name"
    return "does not exist"


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILENAME


def load_config(explicit: str | Path | None = None) -> Config:
    """Build the effective Config: defaults, then the file, then IMAGEAR_* variables."""
    values = default_values()
    sources = dict.fromkeys(values, "default")
    path = find_config_file(explicit)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{path} is not valid TOML: {exc}.",
                "Fix the file or regenerate it with `imagear config init`.",
            ) from exc
        section = data.get("imagear", data)
        unknown = sorted(set(section) - set(KEY_NAMES) - {"imagear"})
        if unknown:
            raise ConfigError(
                f"{path} has unknown key(s): {', '.join(unknown)}.",
                f"Known keys: {', '.join(KEY_NAMES)}.",
            )
        for key in KEYS:
            if key.name in section:
                values[key.name] = _coerce(key, section[key.name], str(path))
                sources[key.name] = str(path)
    for key in KEYS:
        env_name = f"IMAGEAR_{key.name.upper()}"
        if env_name in os.environ:
            values[key.name] = _coerce(key, os.environ[env_name], env_name)
            sources[key.name] = env_name
    # Relative paths in a file are relative to that file, so cron jobs behave like a shell.
    base = path.parent if path is not None else Path.cwd()
    for key in KEYS:
        v = values[key.name]
        if isinstance(v, Path) and not v.is_absolute():
            values[key.name] = (base / v).resolve()
    url = values["database_url"]
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        # sqlite:///~/x.db and sqlite:///rel/x.db both mean what a person expects
        db_path = Path(os.path.expanduser(url[len("sqlite:///") :]))
        values["database_url"] = (
            f"sqlite:///{db_path if db_path.is_absolute() else (base / db_path).resolve()}"
        )
    return Config(**values, path=path, sources=sources)


def render_starting_file(config: Config | None = None) -> str:
    """A commented imagear.toml with every key (written with tomli-w)."""
    values = config.as_dict() if config else default_values()
    lines = [
        "# imagear configuration. Every key can be overridden by IMAGEAR_<KEY> (e.g. IMAGEAR_DATABASE_URL).",
        "# Generation settings (server URL, model, frames, ...) are in the database: `imagear settings list`.",
        "",
    ]
    for key in KEYS:
        value = values[key.name]
        if value is None:
            value = ""
        if isinstance(value, Path):
            value = str(value)
        lines.append(f"# {key.help}")
        lines.append(tomli_w.dumps({key.name: value}).strip())
        lines.append("")
    return "\n".join(lines)


def write_starting_file(path: Path, force: bool = False, make_folder: bool = False) -> Path:
    """Write the commented starting file at ``path``. ConfigError when a file is there (unless
    ``force``); NotFound when its folder does not exist, unless ``make_folder`` (the default
    location, the user config dir, is made on first use: a folder typed by hand is not)."""
    from imagear.errors import NotFound, StorageError

    if path.exists() and not force:
        raise ConfigError(f"{path} already exists.", "Overwrite it only if you mean to.")
    if not make_folder and not path.parent.is_dir():
        raise NotFound(
            f"The folder {path.parent} does not exist; {path.name} was not written.",
            "Create the folder first, or check the path for a typo.",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_starting_file(), encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"Cannot write {path}: {exc.strerror}.") from exc
    return path
