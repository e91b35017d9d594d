"""ContentSigning: where the certificate chain and private key that sign outputs are.

Content Credentials (C2PA manifests) are opt-in: a dispatch context with a
:class:`ContentSigning` signs every PNG and MP4 it stores. The value holds
paths only; the key is read from its file when a file is signed and is never
held in a record, a receipt or an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class SigningAlgorithm(StrEnum):
    """The signature algorithms C2PA allows; the key's type must match."""

    ES256 = "es256"
    ES384 = "es384"
    ES512 = "es512"
    PS256 = "ps256"
    PS384 = "ps384"
    PS512 = "ps512"
    ED25519 = "ed25519"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentSigning:
    """The signer of a project's Content Credentials."""

    certificate: Path
    """PEM certificate chain: the signing certificate first, then its issuers."""
    private_key: Path = field(repr=False)
    """PEM private key of the signing certificate (kept out of ``repr``)."""
    algorithm: SigningAlgorithm = SigningAlgorithm.ES256
