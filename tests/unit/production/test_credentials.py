"""Content Credentials on a real previz run: every PNG and MP4 output and the cut signed,
verified with the project's trust anchors, and the key never copied anywhere (SPEC 4)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recoil.errors import ConfigError
from recoil.media.credentials import CredentialStatus, read_credentials
from recoil.model.receipt import Receipt
from recoil.production.credentials import CUT_ASSERTION, verify_file
from recoil.production.run import RunOptions, run_production_sync
from recoil.records.log import read_records
from recoil.records.provenance import read_sidecar
from tests.helpers import ANA_WAITS, records, shotlist, write_project
from tests.signing import SIGNER_CN, TestSigner, make_signer

SIGNED = ("image/png", "video/mp4")


def signing_toml(signer: TestSigner) -> str:
    return (
        "[signing]\n"
        f'certificate = "{signer.chain}"\n'
        f'private_key_file = "{signer.key}"\n'
        f'trust_anchors = "{signer.root}"\n'
    )


def previz_film(folder: Path, settings: str | None = None) -> Path:
    """One beat where Ana speaks (a keyframe, a video, a line of speech), made by previz."""
    text = shotlist({"one": [ANA_WAITS]}, title="Signed", provider="previz", seed=5)
    return write_project(folder, text.replace("160x90", "64x36"), settings)


@dataclass(frozen=True, slots=True, kw_only=True)
class Film:
    path: Path
    signer: TestSigner
    receipts: list[Receipt]


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Film]:
    """The film run once, signed with a test signer whose files lie outside the project."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("RECOIL_DATABASE_URL", "RECOIL_C2PA_CERT", "RECOIL_C2PA_KEY"):
            patch.delenv(name, raising=False)
        patch.delenv("RECOIL_C2PA_TRUST", raising=False)
        signer = make_signer(tmp_path_factory.mktemp("keys"))
        path = previz_film(tmp_path_factory.mktemp("signed") / "film", signing_toml(signer))
        outcome = run_production_sync(path, RunOptions())
        assert outcome.report.failed == 0, outcome.failures
        assert outcome.export is not None and outcome.export.written
        receipts = [r for r in read_records(path / "receipts.jsonl") if isinstance(r, Receipt)]
        yield Film(path=path, signer=signer, receipts=receipts)


def outputs(film: Film) -> Iterator[tuple[Receipt, str, Path]]:
    for receipt in film.receipts:
        for artifact in receipt.artifacts.values():
            yield receipt, artifact.mime, film.path / artifact.path


def test_every_png_and_mp4_output_is_signed_and_names_its_request(film: Film) -> None:
    anchors = film.signer.root.read_text()
    mimes = set()
    for receipt, mime, path in outputs(film):
        if mime not in SIGNED:
            continue
        mimes.add(mime)
        found = read_credentials(path.read_bytes(), mime, trust_anchors=anchors)
        assert found.status is CredentialStatus.TRUSTED, (path, found.problems)
        assert found.signer == SIGNER_CN
        assert found.software_agent == f"previz {receipt.model}"
        assert found.generator.startswith("recoil ")
        request = found.assertions["org.recoil.request"]
        assert request["request_sha256"] == receipt.request_sha256
        assert (request["provider"], request["model"]) == ("previz", receipt.model)
    assert mimes == set(SIGNED)


def test_the_stored_hash_is_of_the_signed_bytes_and_the_raw_hash_is_kept(film: Film) -> None:
    for receipt, mime, path in outputs(film):
        artifact = next(a for a in receipt.artifacts.values() if film.path / a.path == path)
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact.sha256 == path.stem
        assert artifact.bytes == len(data)
        sidecar = read_sidecar(path)
        assert sidecar["artifact"]["raw_sha256"] == artifact.raw_sha256
        if mime in SIGNED:
            assert artifact.raw_sha256 != artifact.sha256


def test_the_cut_is_signed_and_lists_its_takes(film: Film) -> None:
    found = verify_file(film.path / "exports" / "cut.mp4")
    assert found.status is CredentialStatus.TRUSTED, found.problems  # anchors from recoil.toml
    cut = found.assertions[CUT_ASSERTION]
    assert cut["title"] == "Signed"
    assert [beat["beat_id"] for beat in cut["beats"]] == ["a"]
    assert cut["beats"][0]["receipt_id"] in {r.receipt_id for r in film.receipts}


def test_trust_comes_from_the_option_the_project_or_the_environment(
    film: Film, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECOIL_C2PA_TRUST", raising=False)
    cut = film.path / "exports" / "cut.mp4"
    other = make_signer(tmp_path / "other", name="other")
    assert verify_file(cut, trust=other.root).status is CredentialStatus.VALID
    outside = tmp_path / "copy.mp4"
    outside.write_bytes(cut.read_bytes())
    assert verify_file(outside).status is CredentialStatus.VALID  # no project, no anchors
    monkeypatch.setenv("RECOIL_C2PA_TRUST", str(film.signer.root))
    assert verify_file(outside).status is CredentialStatus.TRUSTED


def test_a_flipped_byte_in_a_stored_output_reads_invalid(film: Film, tmp_path: Path) -> None:
    _, _, path = next(o for o in outputs(film) if o[1] == "image/png")
    data = bytearray(path.read_bytes())
    data[data.index(b"IDAT") + 12] ^= 0x01
    copy = tmp_path / "tampered.png"
    copy.write_bytes(bytes(data))
    found = verify_file(copy, trust=film.signer.root)
    assert found.status is CredentialStatus.INVALID
    assert any(problem.startswith("assertion.dataHash.mismatch") for problem in found.problems)


def test_the_key_is_in_no_file_of_the_project(film: Film) -> None:
    """Receipts, sidecars, the log, the store, exports: only recoil.toml names the key file."""
    files = [p for p in film.path.rglob("*") if p.is_file() and p.name != "recoil.toml"]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.suffix == ".mp4" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in film.signer.secrets():
            assert secret not in data, f"{path} holds the key or its path"


def test_a_second_run_reuses_the_signed_outputs(film: Film) -> None:
    before = {p: p.read_bytes() for _, _, p in outputs(film)}
    outcome = run_production_sync(film.path, RunOptions())
    assert outcome.report.failed == 0 and outcome.report.succeeded == 0
    assert {p: p.read_bytes() for _, _, p in outputs(film)} == before


def test_same_request_same_bytes_unsigned_same_media_signed(tmp_path: Path) -> None:
    """Unsigned, two runs give the same bytes. Signed, the same raw outputs under fresh
    signatures: other stored bytes, so a step whose input is a signed file (the video made
    from the keyframe) hashes another request than in another project."""
    signer = make_signer(tmp_path / "keys")

    def artifacts(name: str, settings: str | None) -> dict[str, tuple[str, str, str]]:
        path = previz_film(tmp_path / name, settings)
        assert run_production_sync(path, RunOptions()).report.failed == 0
        return {
            f"{r.modality}/{key}": (r.request_sha256, a.sha256, a.raw_sha256 or "")
            for r in read_records(path / "receipts.jsonl")
            if isinstance(r, Receipt)
            for key, a in r.artifacts.items()
        }

    plain, plain_again = artifacts("plain", None), artifacts("plain-again", None)
    assert plain == plain_again
    signed = artifacts("signed", signing_toml(signer))
    assert signed.keys() == plain.keys() == {"keyframe/image", "video/video", "audio/audio"}
    for key, (request, digest, raw) in signed.items():
        assert raw == plain[key][2]
        assert (request == plain[key][0]) == (key != "video/video")
        assert (digest == plain[key][1]) == (key == "audio/audio")  # WAV is not signed


def test_a_key_that_cannot_sign_stops_the_run_before_anything_is_sent(tmp_path: Path) -> None:
    signer = make_signer(tmp_path / "keys")
    stranger = make_signer(tmp_path / "keys", name="stranger")
    settings = signing_toml(signer).replace(str(signer.key), str(stranger.key))
    path = previz_film(tmp_path / "film", settings)
    with pytest.raises(ConfigError, match="Content Credentials signing with the certificate"):
        run_production_sync(path, RunOptions())
    assert {record["kind"] for record in records(path)} <= {"take_record"}  # no dispatch was sent


def test_signing_without_the_extra_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = make_signer(tmp_path / "keys")
    path = previz_film(tmp_path / "film", signing_toml(signer))
    monkeypatch.setitem(sys.modules, "c2pa", None)  # what an install without the extra sees
    with pytest.raises(ConfigError, match=r"pip install 'recoil\[c2pa\]'"):
        run_production_sync(path, RunOptions())
