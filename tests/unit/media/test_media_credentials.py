"""recoil.media.credentials: C2PA manifests signed into PNG and MP4, and read back (SPEC 4)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from recoil.errors import ConfigError, ValidationError
from recoil.media.credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    Claim,
    CredentialStatus,
    check_signing,
    read_credentials,
    sign,
)
from recoil.media.embed import embed, read_embedded
from recoil.model.signing import ContentSigning, SigningAlgorithm
from recoil.providers.previz.motion import encode_h264, yuv_frame
from tests.signing import SIGNER_CN, SIGNER_ORG, TestSigner, make_signer

CLAIM = Claim(
    title="keyframe image",
    generator="recoil",
    generator_version="9.9.9",
    software_agent="previz previz-1",
    assertions={"org.recoil.request": {"request_sha256": "ab" * 32, "seed": 7}},
)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> TestSigner:
    return make_signer(tmp_path_factory.mktemp("keys"))


def png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.arange(32 * 24 * 3, dtype=np.uint8).reshape(24, 32, 3)).save(out, "PNG")
    return out.getvalue()


def mp4() -> bytes:
    pictures = (Image.new("RGB", (64, 36), (i * 20, 40, 80)) for i in range(6))
    return encode_h264((yuv_frame(p) for p in pictures), width=64, height=36, fps=24)


def flip_media_byte(data: bytes, mime: str) -> bytes:
    """``data`` with one byte of the picture data flipped (an IDAT or mdat byte)."""
    box = b"IDAT" if mime == "image/png" else b"mdat"
    changed = bytearray(data)
    changed[data.index(box) + 12] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize(("mime", "make"), [("image/png", png), ("video/mp4", mp4)])
def test_signed_file_reads_valid_with_signer_and_assertion(
    signer: TestSigner, mime: str, make: object
) -> None:
    assert callable(make)
    signed = sign(make(), mime, CLAIM, signer.signing)
    found = read_credentials(signed, mime)
    assert found.status is CredentialStatus.VALID and found.valid and not found.trusted
    assert (found.signer, found.organization) == (SIGNER_CN, SIGNER_ORG)
    assert found.generator == "recoil 9.9.9"
    assert found.software_agent == "previz previz-1"
    assert found.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert found.assertions == {"org.recoil.request": {"request_sha256": "ab" * 32, "seed": 7}}
    assert [p.split(":")[0] for p in found.problems] == ["signingCredential.untrusted"]


@pytest.mark.parametrize(("mime", "make"), [("image/png", png), ("video/mp4", mp4)])
def test_the_root_as_trust_anchor_makes_the_signer_trusted(
    signer: TestSigner, tmp_path: Path, mime: str, make: object
) -> None:
    assert callable(make)
    signed = sign(make(), mime, CLAIM, signer.signing)
    anchors = signer.root.read_text()
    assert read_credentials(signed, mime, trust_anchors=anchors).status is CredentialStatus.TRUSTED
    other = make_signer(tmp_path, name="other").root.read_text()
    assert read_credentials(signed, mime, trust_anchors=other).status is CredentialStatus.VALID


@pytest.mark.parametrize(("mime", "make"), [("image/png", png), ("video/mp4", mp4)])
def test_one_flipped_media_byte_reads_invalid(signer: TestSigner, mime: str, make: object) -> None:
    assert callable(make)
    signed = sign(make(), mime, CLAIM, signer.signing)
    found = read_credentials(
        flip_media_byte(signed, mime), mime, trust_anchors=signer.root.read_text()
    )
    assert found.status is CredentialStatus.INVALID and not found.valid
    assert any("mismatch" in problem for problem in found.problems), found.problems


def test_a_damaged_manifest_reads_invalid(signer: TestSigner) -> None:
    signed = bytearray(sign(png(), "image/png", CLAIM, signer.signing))
    signed[signed.index(b"caBX") + 200] ^= 0x01  # inside the manifest store chunk
    assert read_credentials(bytes(signed), "image/png").status is CredentialStatus.INVALID


@pytest.mark.parametrize(("mime", "make"), [("image/png", png), ("video/mp4", mp4)])
def test_an_unsigned_file_reads_unsigned(mime: str, make: object) -> None:
    assert callable(make)
    found = read_credentials(make(), mime)
    assert found.status is CredentialStatus.UNSIGNED and not found.valid


def test_the_type_is_detected_when_not_given(signer: TestSigner) -> None:
    signed = sign(png(), "image/png", CLAIM, signer.signing)
    assert read_credentials(signed, None).status is CredentialStatus.VALID


def test_embedded_provenance_and_pictures_survive_signing(signer: TestSigner) -> None:
    fields = {"recoil:request_sha256": "cd" * 32}
    signed_png = sign(embed(png(), "image/png", fields), "image/png", CLAIM, signer.signing)
    assert read_embedded(signed_png, "image/png") == fields
    assert Image.open(io.BytesIO(signed_png)).tobytes() == Image.open(io.BytesIO(png())).tobytes()
    signed_mp4 = sign(embed(mp4(), "video/mp4", fields), "video/mp4", CLAIM, signer.signing)
    assert read_embedded(signed_mp4, "video/mp4") == fields
    with av.open(io.BytesIO(signed_mp4)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6


def test_signing_a_signed_file_replaces_its_manifest(signer: TestSigner) -> None:
    once = sign(png(), "image/png", CLAIM, signer.signing)
    twice = sign(once, "image/png", CLAIM, signer.signing)
    assert read_credentials(twice, "image/png").status is CredentialStatus.VALID


def test_signatures_differ_between_signings(signer: TestSigner) -> None:
    """A manifest has a fresh id and ECDSA a random nonce: signed bytes are not repeatable."""
    data = png()
    assert sign(data, "image/png", CLAIM, signer.signing) != sign(
        data, "image/png", CLAIM, signer.signing
    )


def test_other_types_are_left_as_they_are(signer: TestSigner) -> None:
    assert sign(b"RIFF....WAVE", "audio/wav", CLAIM, signer.signing) == b"RIFF....WAVE"


def test_a_type_without_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="cannot read Content Credentials from a text/plain"):
        read_credentials(b"hello", "text/plain")


def test_a_key_that_is_not_the_certificates_fails_the_check(
    signer: TestSigner, tmp_path: Path
) -> None:
    stranger = make_signer(tmp_path, name="stranger")
    wrong = ContentSigning(certificate=signer.chain, private_key=stranger.key)
    with pytest.raises(ConfigError, match=r"signing with the certificate .* failed") as caught:
        check_signing(wrong)
    _assert_no_key_in(str(caught.value), stranger)


def test_an_unreadable_key_is_named_by_its_setting_not_its_path(
    signer: TestSigner, tmp_path: Path
) -> None:
    missing = ContentSigning(certificate=signer.chain, private_key=tmp_path / "gone.key")
    with pytest.raises(ConfigError, match=r"private key \(the file \[signing\] private_key_file"):
        check_signing(missing)
    (tmp_path / "notakey.pem").write_text("hello")
    with pytest.raises(ConfigError, match="is not a PEM private key") as caught:
        check_signing(
            ContentSigning(certificate=signer.chain, private_key=tmp_path / "notakey.pem")
        )
    assert "notakey" not in str(caught.value)


def test_a_certificate_file_without_a_certificate_is_refused(
    signer: TestSigner, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        check_signing(ContentSigning(certificate=signer.key, private_key=signer.key))
    with pytest.raises(ConfigError, match="cannot read the Content Credentials certificate"):
        check_signing(ContentSigning(certificate=tmp_path / "none.pem", private_key=signer.key))


def test_the_algorithm_must_fit_the_key(signer: TestSigner) -> None:
    ps256 = ContentSigning(
        certificate=signer.chain, private_key=signer.key, algorithm=SigningAlgorithm.PS256
    )
    with pytest.raises(ConfigError, match=r"\[signing\] algorithm \(ps256\)"):
        check_signing(ps256)


def test_the_key_path_stays_out_of_repr(signer: TestSigner) -> None:
    assert str(signer.key) not in repr(signer.signing)


def _assert_no_key_in(text: str, signer: TestSigner) -> None:
    for secret in signer.secrets():
        assert secret.decode("latin-1") not in text
