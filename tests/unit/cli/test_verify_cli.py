"""``recoil verify``: Content Credentials of one file, or the output hashes of a project folder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recoil.media.credentials import Claim, sign
from tests.helpers import beat, shotlist, write_project
from tests.signing import SIGNER_CN, SIGNER_ORG, TestSigner, make_signer
from tests.unit.cli.running import Recoil, error_line

CLAIM = Claim(
    title="keyframe image",
    generator="recoil",
    generator_version="9.9.9",
    software_agent="previz previz-1",
    assertions={"org.recoil.request": {"request_sha256": "ab" * 32}},
)


def png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.arange(16 * 12 * 3, dtype=np.uint8).reshape(12, 16, 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def signer(tmp_path: Path) -> TestSigner:
    return make_signer(tmp_path / "keys")


@pytest.fixture
def signed(tmp_path: Path, signer: TestSigner) -> Path:
    path = tmp_path / "keyframe.png"
    path.write_bytes(sign(png(), "image/png", CLAIM, signer.signing))
    return path


def test_a_signed_file_with_its_root_reads_valid_and_trusted(
    recoil: Recoil, signed: Path, signer: TestSigner
) -> None:
    result = recoil("verify", signed, "--trust", signer.root)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{signed}: Content Credentials valid"
    assert f"signed by: {SIGNER_CN} ({SIGNER_ORG})" in lines
    assert "trusted: yes" in lines
    assert "generator: recoil 9.9.9" in lines
    assert "created by: previz previz-1 (source type trainedAlgorithmicMedia)" in lines
    assert f"org.recoil.request: request_sha256={'ab' * 32}" in lines
    assert result.stderr == ""


def test_without_a_trust_anchor_the_signer_is_not_trusted(recoil: Recoil, signed: Path) -> None:
    result = recoil("verify", signed)
    assert result.exit_code == 0, result.output
    assert "trusted: no" in result.stdout.splitlines()
    assert result.stderr.startswith("problem: signingCredential.untrusted")


def test_the_trust_anchors_of_the_files_project_are_used(
    recoil: Recoil, tmp_path: Path, signer: TestSigner
) -> None:
    project = tmp_path / "film"
    (project / "exports").mkdir(parents=True)
    (project / "recoil.toml").write_text(f'[signing]\ntrust_anchors = "{signer.root}"\n')
    path = project / "exports" / "still.png"
    path.write_bytes(sign(png(), "image/png", CLAIM, signer.signing))
    result = recoil("verify", path)
    assert result.exit_code == 0, result.output
    assert "trusted: yes" in result.stdout.splitlines()


def test_a_tampered_file_reads_invalid_and_exits_1(
    recoil: Recoil, signed: Path, signer: TestSigner
) -> None:
    data = bytearray(signed.read_bytes())
    data[data.index(b"IDAT") + 12] ^= 0x01
    signed.write_bytes(bytes(data))
    result = recoil("verify", signed, "--trust", signer.root)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == f"{signed}: Content Credentials INVALID"
    assert "problem: assertion.dataHash.mismatch" in result.stderr


def test_an_unsigned_file_says_so_and_exits_3(recoil: Recoil, tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    path.write_bytes(png())
    result = recoil("verify", path)
    assert result.exit_code == 3, result.output
    assert result.stdout == f"{path}: no Content Credentials (unsigned)\n"


def test_a_file_of_another_type_is_one_error_line(recoil: Recoil, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = recoil("verify", path)
    assert result.exit_code == 2, result.output
    assert "cannot read Content Credentials from a text/plain file" in result.stderr


def test_a_path_that_is_not_there_is_one_error_line(recoil: Recoil, tmp_path: Path) -> None:
    result = recoil("verify", tmp_path / "still.png")
    assert result.exit_code == 2, result.output
    assert error_line(result).endswith(
        "still.png: no such file or folder; give a PNG or MP4 file, or a project folder"
    )


def test_a_folder_still_has_its_output_hashes_checked(recoil: Recoil, tmp_path: Path) -> None:
    text = shotlist({"one": [beat("a", "a door opens")]}, title="Door", resolution="64x36")
    project = write_project(tmp_path / "film", text)
    ran = recoil("run", project)
    assert ran.exit_code == 0, ran.output
    result = recoil("verify", project)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ") and "output files intact" in result.stdout


def test_trust_anchors_that_are_not_pem_are_one_error_line(
    recoil: Recoil, signed: Path, tmp_path: Path
) -> None:
    (tmp_path / "roots.txt").write_text("not a certificate")
    result = recoil("verify", signed, "--trust", tmp_path / "roots.txt")
    assert result.exit_code == 2, result.output
    assert (
        error_line(result)
        == f"error: the trust anchors {tmp_path / 'roots.txt'} hold no PEM certificate"
    )
