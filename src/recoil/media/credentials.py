"""Content Credentials: C2PA manifests signed into PNG and MP4 files, and read back.

:func:`sign` embeds a manifest signed with the user's certificate chain and
private key (a :class:`~recoil.model.signing.ContentSigning`). It holds a
``c2pa.actions`` assertion with one ``c2pa.created`` action whose digital source
type is IPTC's ``trainedAlgorithmicMedia`` and whose software agent is the
generator, then the caller's own assertions (recoil's ``org.recoil.request``
names the request hash). No thumbnail is embedded and nothing is fetched.

A C2PA manifest carries a fresh manifest id, and an ECDSA signature a random
nonce, so signing the same bytes twice gives two different files: signed
outputs promise "same request, same media", not "same bytes". The cache key is
the request hash, so a signed project still reuses its outputs.

:func:`read_credentials` validates a file's manifest: the signature, the hash of
the media data it covers, and whether the signer chains to a trust anchor. The
key is read from its file for each signing and never appears in a value, a
message or a manifest. Both need the ``c2pa`` extra (``pip install 'recoil[c2pa]'``).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from recoil.errors import ConfigError, ValidationError
from recoil.model.signing import ContentSigning

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
"""The IPTC digital source type of media a trained model made."""
CREATED = "c2pa.created"
RECOIL_LABELS = "org.recoil."
"""Every assertion recoil writes has a label starting with this."""
SIGNED_MIMES = frozenset({"image/png", "video/mp4"})
"""The types :func:`sign` signs; other files are stored as they are."""
EXTRA_HINT = "pip install 'recoil[c2pa]'"
_KEY_SOURCE = "the file [signing] private_key_file or RECOIL_C2PA_KEY names"
_PEM_BLOCK = re.compile(r"-----BEGIN [^-]+-----.*?(-----END [^-]+-----|$)", re.DOTALL)
# Signing embeds no thumbnail (the SDK would re-encode the image) and verifying
# never goes to the network (no OCSP, no remote manifests).
_SIGN_SETTINGS: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}
_READ_SETTINGS: dict[str, Any] = {"verify": {"ocsp_fetch": False, "remote_manifest_fetch": False}}


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """What a manifest says about a file: its title, who made it, and recoil's assertions."""

    title: str
    generator: str
    """The claim generator, ``recoil``."""
    generator_version: str
    software_agent: str
    """What made the media (``previz previz-1``: the provider and model)."""
    assertions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Label (``org.recoil.request``) -> JSON-safe data."""


class CredentialStatus(StrEnum):
    """What a file's Content Credentials amount to."""

    UNSIGNED = "unsigned"
    """No manifest at all."""
    INVALID = "invalid"
    """A manifest whose signature, or the hash of the data it covers, does not check out."""
    VALID = "valid"
    """Signature and hashes are good; the signer does not chain to a trust anchor."""
    TRUSTED = "trusted"
    """Valid, and the signer chains to a trust anchor."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """A file's Content Credentials as :func:`read_credentials` found them."""

    status: CredentialStatus
    signer: str = ""
    """The signing certificate's subject common name."""
    organization: str = ""
    """The signing certificate's subject organization."""
    algorithm: str = ""
    generator: str = ""
    """The claim generator (``recoil 0.1.0``)."""
    software_agent: str = ""
    digital_source_type: str = ""
    """Of the ``c2pa.created`` action, if there is one."""
    assertions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """recoil's assertions (labels starting ``org.recoil.``)."""
    problems: tuple[str, ...] = ()
    """Every validation failure, ``code: explanation``."""

    @property
    def valid(self) -> bool:
        """Signed, and the signature and hashes check out (trusted or not)."""
        return self.status in (CredentialStatus.VALID, CredentialStatus.TRUSTED)

    @property
    def trusted(self) -> bool:
        """Valid, and the signer chains to a trust anchor."""
        return self.status is CredentialStatus.TRUSTED


def signs(mime: str) -> bool:
    """Whether :func:`sign` signs files of type ``mime``."""
    return _base_mime(mime) in SIGNED_MIMES


def sign(data: bytes, mime: str, claim: Claim, signing: ContentSigning) -> bytes:
    """``data`` with a signed manifest for ``claim`` (a type :func:`signs` refuses is unchanged).

    A manifest already in ``data`` is replaced. Raises :class:`ConfigError` when
    the extra is missing, a file of ``signing`` cannot be read, or the SDK refuses
    the certificate or key.
    """
    if _base_mime(mime) not in SIGNED_MIMES:
        return data
    out = io.BytesIO()
    sign_stream(io.BytesIO(data), out, mime, claim, signing)
    return out.getvalue()


def sign_stream(
    source: BinaryIO, dest: BinaryIO, mime: str, claim: Claim, signing: ContentSigning
) -> None:
    """:func:`sign` from one open file to another (``dest`` readable and seekable too), so a
    long cut is never held in memory."""
    kind = _base_mime(mime)
    c2pa = _c2pa()
    certificate, key = _signer_files(signing)
    manifest = _manifest(claim)
    info = c2pa.C2paSignerInfo(signing.algorithm.value.encode(), certificate, key, None)
    try:
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Context.from_dict(_SIGN_SETTINGS) as context,
            c2pa.Builder(manifest, context=context) as builder,
        ):
            builder.sign(signer, kind, source, dest)
    except c2pa.C2paError as exc:
        raise ConfigError(
            f"Content Credentials signing with the certificate {signing.certificate} failed "
            f"({_reason(exc)}); check that the key matches the certificate and that "
            f"[signing] algorithm ({signing.algorithm.value}) is the key's"
        ) from None


def check_signing(signing: ContentSigning) -> None:
    """Sign a one-pixel PNG with ``signing``, so a bad certificate or key fails before a run."""
    from PIL import Image

    pixel = io.BytesIO()
    Image.new("RGB", (1, 1)).save(pixel, "PNG")
    claim = Claim(title="check", generator="recoil", generator_version="0", software_agent="")
    sign(pixel.getvalue(), "image/png", claim, signing)


def read_credentials(
    source: bytes | BinaryIO, mime: str | None, *, trust_anchors: str | None = None
) -> Credentials:
    """The Content Credentials of a file's bytes (or an open binary file).

    ``mime`` may be ``None`` to detect the type from the bytes. ``trust_anchors``
    is PEM text of the root certificates to trust; without it no signer is
    trusted. Raises :class:`ValidationError` for a type C2PA cannot hold.
    """
    c2pa = _c2pa()
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    settings = dict(_READ_SETTINGS)
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": trust_anchors}
    if mime is not None and _base_mime(mime) not in _readable(c2pa):
        raise ValidationError(
            f"cannot read Content Credentials from a {mime} file; "
            "C2PA manifests live in PNG, MP4, JPEG and the other types the C2PA SDK reads"
        )
    try:
        with c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader.try_create(mime, stream, None, context)
            if reader is None:
                return Credentials(status=CredentialStatus.UNSIGNED)
            with reader:
                state = reader.get_validation_state()
                report = json.loads(reader.json())
    except c2pa.C2paError as exc:
        # A manifest the SDK cannot even parse: the file was damaged after signing.
        return Credentials(status=CredentialStatus.INVALID, problems=(_reason(exc),))
    return _credentials(state, report)


def read_trust_anchors(path: Path) -> str:
    """PEM text of the trust anchors in ``path`` (ConfigError if unreadable or not PEM)."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not PEM text"
        raise ConfigError(f"cannot read the trust anchors {path}: {reason}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"the trust anchors {path} hold no PEM certificate")
    return text


def _credentials(state: str | None, report: Mapping[str, Any]) -> Credentials:
    manifest = report.get("manifests", {}).get(report.get("active_manifest"), {})
    signature = manifest.get("signature_info", {})
    created = _created_action(manifest)
    generator = (manifest.get("claim_generator_info") or [{}])[0]
    agent = created.get("softwareAgent", "")
    status = {"Trusted": CredentialStatus.TRUSTED, "Valid": CredentialStatus.VALID}.get(
        state or "", CredentialStatus.INVALID
    )
    return Credentials(
        status=status,
        signer=str(signature.get("common_name", "")),
        organization=str(signature.get("issuer", "")),  # the SDK's name for the subject's O
        algorithm=str(signature.get("alg", "")),
        generator=" ".join(str(generator.get(k, "")) for k in ("name", "version")).strip(),
        software_agent=str(agent.get("name", "") if isinstance(agent, Mapping) else agent),
        digital_source_type=str(created.get("digitalSourceType", "")),
        assertions={
            a["label"]: a.get("data", {})
            for a in manifest.get("assertions", [])
            if str(a.get("label", "")).startswith(RECOIL_LABELS)
        },
        problems=tuple(
            f"{failure.get('code', '')}: {failure.get('explanation', '')}"
            for failure in _failures(report)
        ),
    )


def _created_action(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                if action.get("action") == CREATED:
                    return dict(action)
    return {}


def _failures(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    results = report.get("validation_results") or {}
    failures = list((results.get("activeManifest") or {}).get("failure", []))
    # Older reports (and ones without an active manifest) list failures flat.
    seen = {f.get("code") for f in failures}
    failures += [s for s in report.get("validation_status", []) if s.get("code") not in seen]
    return failures


def _manifest(claim: Claim) -> dict[str, Any]:
    action: dict[str, Any] = {"action": CREATED, "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
    if claim.software_agent:
        action["softwareAgent"] = {"name": claim.software_agent}
    return {
        "title": claim.title,
        "claim_generator_info": [{"name": claim.generator, "version": claim.generator_version}],
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [action]}},
            *({"label": label, "data": dict(data)} for label, data in claim.assertions.items()),
        ],
    }


def _signer_files(signing: ContentSigning) -> tuple[bytes, bytes]:
    """The certificate chain and key, read now (messages never name the key's path)."""
    try:
        certificate = signing.certificate.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the Content Credentials certificate {signing.certificate}: "
            f"{exc.strerror}; set [signing] certificate in recoil.toml or RECOIL_C2PA_CERT"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in certificate:
        raise ConfigError(
            f"the Content Credentials certificate {signing.certificate} holds no PEM "
            "certificate; give a PEM chain, the signing certificate first"
        )
    try:
        key = signing.private_key.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the Content Credentials private key ({_KEY_SOURCE}): {exc.strerror}"
        ) from None
    if b"PRIVATE KEY-----" not in key:
        raise ConfigError(
            f"the Content Credentials private key ({_KEY_SOURCE}) is not a PEM private key"
        )
    return certificate, key


def _reason(exc: Exception) -> str:
    """The SDK's message, with any PEM text cut out: it must never echo a key."""
    text = _PEM_BLOCK.sub("<PEM>", str(exc)).strip()
    return " ".join(text.split()) or type(exc).__name__


def _readable(c2pa: Any) -> frozenset[str]:
    return frozenset(c2pa.Reader.get_supported_mime_types())


def _base_mime(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def _c2pa() -> Any:
    """The C2PA SDK module (``Any``: it ships no type information)."""
    try:
        import c2pa
    except ImportError:
        raise ConfigError(
            f"Content Credentials need the C2PA SDK, which is not installed: {EXTRA_HINT}"
        ) from None
    return c2pa
