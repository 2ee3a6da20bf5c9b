"""A certificate chain C2PA validators accept: a CA and, under it, a signing certificate.

C2PA (the spec's certificate profile, as c2pa-rs checks it) wants of the signing certificate:
X.509 v3, not self-signed (so a CA issues it), ``basicConstraints`` CA false, ``keyUsage``
digitalSignature (critical), an ``extendedKeyUsage`` of emailProtection (or documentSigning)
and never anyExtendedKeyUsage, a subject key identifier and the issuer's authority key
identifier. The CA has ``keyCertSign``. Both are EC P-256 (ES256).

Used for the per-install identity (:mod:`imagear.provenance.identity`) and by the tests, which
also make expired and mismatched ones. ``cryptography`` is imported inside the function.
"""

from __future__ import annotations

import datetime as dt

YEARS = 10
"""How long the per-install identity is valid."""


def make_chain(
    common_name: str,
    now: dt.datetime,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    organisation: str = "imagear",
) -> tuple[bytes, bytes, bytes]:
    """(chain PEM: signer then CA, signer key PEM, CA key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = not_before or now - dt.timedelta(days=1)
    end = not_after or now + dt.timedelta(days=365 * YEARS)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            ]
        )

    def usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"{common_name} CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    return (
        leaf.public_bytes(pem) + ca.public_bytes(pem),
        key.private_bytes(pem, pkcs8, none),
        ca_key.private_bytes(pem, pkcs8, none),
    )


__all__ = ["YEARS", "make_chain"]
