"""The signing identity of Content Credentials: the archive's certificate and key, or the
per-install identity imagear makes on first use.

Config keys ``c2pa_cert`` and ``c2pa_key`` (IMAGEAR_C2PA_CERT / IMAGEAR_C2PA_KEY) name PEM files:
the certificate chain, signer first, and its private key (EC P-256/384/521, Ed25519 or RSA).
With neither set, :func:`load_identity` makes (once) a small CA and a signing certificate under
it in ``{user data dir}/c2pa/`` (the key mode 0600) and says so once: validators show such a
signer as untrusted until the archive installs a certificate from a CA they trust
(docs/provenance.md). An unreadable, expired, not-yet-valid or mismatched certificate or key is
a :class:`~imagear.errors.ConfigError` (exit 2) naming the setting; nothing is signed.

``cryptography`` is imported inside functions (the ``provenance`` extra).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from imagear.errors import ConfigError, EngineUnavailable

if TYPE_CHECKING:
    from imagear.config import Config

INSTALL = "pip install 'imagear[provenance]'"
UNTRUSTED_NOTICE = (
    "Made a signing identity for this install's Content Credentials in {folder}; validators "
    "will show its signer as untrusted until c2pa_cert and c2pa_key name the archive's own "
    "certificate (docs/provenance.md)."
)


@dataclass(frozen=True)
class Identity:
    """What signs: the PEM chain (signer first), the PEM key, the c2pa algorithm name, who the
    signer is; ``made`` is True when this call created the per-install identity."""

    chain: bytes
    key: bytes
    alg: str
    subject: str
    not_after: dt.datetime
    configured: bool  # False: the per-install identity
    made: bool = False
    folder: Path | None = None


def require_extra() -> None:
    """EngineUnavailable naming the extra when c2pa-python or cryptography is missing."""
    try:
        import c2pa  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(
            f"Content Credentials need the provenance extra ({exc.name} is not installed).",
            f"Install it with `{INSTALL}`, or store clips unsigned: {{set:ar_provenance 0}}.",
        ) from exc


def default_folder() -> Path:
    """Where the per-install identity lives: ``{user data dir}/c2pa``."""
    import platformdirs

    from imagear.config import APP_NAME

    return Path(platformdirs.user_data_dir(APP_NAME)) / "c2pa"


_LOCK = threading.Lock()
_CACHE: dict[tuple[object, ...], Identity] = {}


def load_identity(config: Config, *, now: dt.datetime | None = None) -> Identity:
    """The identity that signs for ``config`` (cached per file and modification time)."""
    require_extra()
    cert, key = config.c2pa_cert, config.c2pa_key
    if (cert is None) != (key is None):
        missing = "c2pa_key" if key is None else "c2pa_cert"
        raise ConfigError(
            f"{missing} is not set, but {'c2pa_cert' if key is None else 'c2pa_key'} is: "
            "Content Credentials need both the certificate and its key.",
            f"Set {missing} to its PEM file (IMAGEAR_{missing.upper()}), or leave both empty "
            "for the per-install identity.",
            fields=[missing],
        )
    when = now or dt.datetime.now(dt.UTC)
    with _LOCK:
        if cert is not None and key is not None:
            return _cached((cert, key), lambda: read_identity(cert, key, when, True), when)
        folder = default_folder()
        cert_file, key_file = folder / "signer.pem", folder / "signer.key"
        if cert_file.is_file() and key_file.is_file():
            return _cached((cert_file, key_file), lambda: _installed(cert_file, key_file), when)
        made = make_identity(folder, when)
        stamp = (cert_file, key_file, _stamp(cert_file), _stamp(key_file))
        _CACHE[stamp] = replace(made, made=False)  # said once: later uses are not new
        return made


def _installed(cert_file: Path, key_file: Path) -> Identity:
    found = read_identity(cert_file, key_file, dt.datetime.now(dt.UTC), False)
    return replace(found, folder=cert_file.parent)


def _stamp(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


def _cached(files: tuple[Path, Path], load: Callable[[], Identity], when: dt.datetime) -> Identity:
    key = (*files, _stamp(files[0]), _stamp(files[1]))
    found = _CACHE.get(key)
    if found is None or found.not_after <= when:
        found = _CACHE[key] = load()
    return found


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{setting} ({path}) cannot be read: {exc.strerror or exc}.",
            f"Point {setting} (IMAGEAR_{setting.upper()}) at a readable PEM file.",
            fields=[setting],
        ) from exc


def read_identity(cert_file: Path, key_file: Path, now: dt.datetime, configured: bool) -> Identity:
    """Read and check a PEM chain and key: ConfigError naming the setting when the file cannot
    be read or parsed, the certificate is expired or not yet valid, or the key is not the
    certificate's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_setting = "c2pa_cert" if configured else f"the per-install certificate {cert_file}"
    key_setting = "c2pa_key" if configured else f"the per-install key {key_file}"
    chain_pem = _read(cert_file, "c2pa_cert")
    key_pem = _read(key_file, "c2pa_key")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise ConfigError(
            f"{cert_setting} ({cert_file}) is not a PEM certificate chain: {exc}.",
            "The file must hold the signing certificate first, then its CA certificates.",
            fields=["c2pa_cert"],
        ) from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{key_setting} ({key_file}) is not an unencrypted PEM private key: {exc}.",
            "Export the key as PEM (PKCS#8) without a passphrase, mode 0600.",
            fields=["c2pa_key"],
        ) from exc
    leaf = chain[0]
    if leaf.not_valid_after_utc <= now:
        raise ConfigError(
            f"{cert_setting} ({cert_file}) expired on {leaf.not_valid_after_utc:%Y-%m-%d}.",
            "Renew the certificate and point c2pa_cert at the new one.",
            fields=["c2pa_cert"],
        )
    if leaf.not_valid_before_utc > now:
        raise ConfigError(
            f"{cert_setting} ({cert_file}) is not valid before "
            f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
            "Check this machine's clock, or use a certificate valid now.",
            fields=["c2pa_cert"],
        )
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != leaf.public_key().public_bytes(der, public):
        raise ConfigError(
            f"{key_setting} ({key_file}) is not the key of {cert_setting} ({cert_file}).",
            "Point c2pa_key at the private key that belongs to the signing certificate "
            "(the first one in c2pa_cert).",
            fields=["c2pa_key", "c2pa_cert"],
        )
    return Identity(
        chain=chain_pem,
        key=key_pem,
        alg=algorithm(key),
        subject=leaf.subject.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
        configured=configured,
    )


def algorithm(key: object) -> str:
    """The c2pa signing algorithm for ``key`` (es256/384/512, ed25519, ps256)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "es256", 384: "es384", 521: "es512"}.get(key.curve.key_size, "es256")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise ConfigError(
        "c2pa_key is not an EC, Ed25519 or RSA key; C2PA cannot sign with it.",
        fields=["c2pa_key"],
    )


def make_identity(folder: Path, now: dt.datetime) -> Identity:
    """Make the per-install identity in ``folder`` (a CA and a signing certificate; the key
    written mode 0600 before any byte of it)."""
    from imagear.provenance.certs import make_chain

    chain_pem, key_pem, _ca_key = make_chain(f"imagear install {os.uname().nodename}", now)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_file, cert_file = folder / "signer.key", folder / "signer.pem"
        fd = os.open(key_file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem)
        os.chmod(key_file, 0o600)
        cert_file.write_bytes(chain_pem)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the per-install signing identity in {folder}: {exc.strerror}.",
            "Make the folder writable, or set c2pa_cert and c2pa_key to the archive's own.",
            fields=["c2pa_cert", "c2pa_key"],
        ) from exc
    found = read_identity(cert_file, key_file, now, False)
    return replace(found, made=True, folder=folder)


__all__ = [
    "INSTALL",
    "UNTRUSTED_NOTICE",
    "Identity",
    "algorithm",
    "default_folder",
    "load_identity",
    "make_identity",
    "read_identity",
    "require_extra",
]
