"""A test certificate authority and Content Credentials signer, made with ``cryptography``.

A root CA signs an end-entity certificate with the key usages C2PA asks of a
signer: ``digitalSignature``, and the ``emailProtection`` extended key usage.
Both use ES256 (ECDSA on P-256).
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from recoil.model.signing import ContentSigning

SIGNER_CN = "Recoil Test Signer"
SIGNER_ORG = "Recoil Test Studio"
CA_ORG = "Recoil Test CA"


@dataclass(frozen=True, slots=True, kw_only=True)
class TestSigner:
    """The files of a test signer, and what must never leak from its key."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    chain: Path
    """The signing certificate, then the root."""
    key: Path
    root: Path
    """The root CA certificate alone: the trust anchor."""
    key_pem: bytes
    key_der: bytes

    @property
    def signing(self) -> ContentSigning:
        """A :class:`ContentSigning` with this signer's files."""
        return ContentSigning(certificate=self.chain, private_key=self.key)

    def secrets(self) -> list[bytes]:
        """Byte strings that would show the key leaked: its PEM, its body, its DER, its path."""
        lines = [line for line in self.key_pem.splitlines() if b"-----" not in line]
        return [
            self.key_pem,
            b"".join(lines),
            *(line for line in lines if len(line) >= 40),  # a short last line could match by chance
            self.key_der,
            base64.b64encode(self.key_der),
            str(self.key).encode(),
        ]


def make_signer(folder: Path, *, name: str = "signer") -> TestSigner:
    """A fresh root CA and signer, their PEM files written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{name} root", CA_ORG)
    root = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _certificate(_name(SIGNER_CN, SIGNER_ORG), ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = TestSigner(
        chain=folder / f"{name}-chain.pem",
        key=folder / f"{name}.key",
        root=folder / f"{name}-root.pem",
        key_pem=key_pem,
        key_der=key_der,
    )
    signer.chain.write_bytes(_pem(leaf) + _pem(root))
    signer.key.write_bytes(key_pem)
    signer.root.write_bytes(_pem(root))
    return signer


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def _certificate(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)
