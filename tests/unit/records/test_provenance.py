"""Provenance sidecars and embedded provenance (SPEC 4)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from recoil.dispatch import dispatch
from recoil.media.embed import read_embedded
from recoil.model.context import DispatchContext
from recoil.model.receipt import Artifact, Receipt, ReceiptStatus
from recoil.model.requests import KeyframeRequest
from recoil.providers.fake import FakeProvider
from recoil.providers.registry import Registry
from recoil.records.artifacts import write_atomic
from recoil.records.provenance import build_sidecar, read_sidecar, sidecar_path, write_sidecar

PROMPT = "  Ana\u2019s caf\u00e9 at dusk \u2014 \u6771\u4eac \U0001f306\n\tsecond line  "


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def raw_fake_output(prompt: str, seed: int | None) -> bytes:
    job = asyncio.run(
        FakeProvider().submit(KeyframeRequest(prompt=prompt, seed=seed), uuid.uuid4().hex)
    )
    assert job.result is not None
    return job.result.outputs[0].data


def test_sidecar_per_artifact_keeps_exact_prompt(
    project_dir: Path, registry: Registry, clean_env: None
) -> None:
    """SPEC 4: each artifact has a sidecar with receipt id, modality, provider, model, the exact
    prompt (byte for byte), prompt_sha256, seed, the request without secrets, input hashes,
    the raw output's sha256 and the created time."""
    ctx = DispatchContext(project=project_dir, default_provider="fake", provenance={"user": "ana"})
    payload = {"prompt": PROMPT, "api_key": "abcdef-not-for-files"}
    receipt = dispatch("keyframe", payload, context=ctx, registry=registry)
    artifact = receipt.artifacts["image"]
    path = ctx.receipts_file.parent / artifact.path
    assert sidecar_path(path) == path.with_name(path.name + ".json")
    sidecar = read_sidecar(path)
    assert sidecar["provenance"]["prompt"].encode() == PROMPT.encode()
    assert sidecar["prompt_sha256"] == sha256_text(PROMPT) == receipt.prompt_sha256
    assert sidecar["provenance"]["user"] == "ana"
    assert sidecar["receipt_id"] == receipt.receipt_id
    assert (sidecar["modality"], sidecar["provider"], sidecar["model"]) == (
        "keyframe",
        "fake",
        "fake-keyframe",
    )
    assert sidecar["seed"] == receipt.seed
    assert sidecar["request_sha256"] == receipt.request_sha256
    assert sidecar["request"]["params"]["api_key"] == "[redacted]"
    assert sidecar["request"]["prompt"] == PROMPT
    assert sidecar["inputs"] == {}
    assert sidecar["artifact"]["sha256"] == artifact.sha256
    assert datetime.fromisoformat(sidecar["created_at"]).utcoffset() is not None
    raw = raw_fake_output(PROMPT, receipt.seed)
    assert sidecar["artifact"]["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert artifact.raw_sha256 != artifact.sha256  # embedding happened before hashing
    assert b"abcdef-not-for-files" not in sidecar_path(path).read_bytes()


def test_sidecar_records_input_hashes(context: DispatchContext, registry: Registry) -> None:
    """SPEC 4: the sidecar (and receipt) keep the sha256 of every input artifact."""
    key = dispatch("keyframe", {"prompt": "a"}, context=context, registry=registry)
    image = key.artifacts["image"]
    clip = dispatch(
        "video",
        {"prompt": "a", "image": image.path, "duration_s": 0.25, "fps": 8},
        context=context,
        registry=registry,
    )
    assert clip.inputs == {"image": image.sha256}
    sidecar = read_sidecar(context.receipts_file.parent / clip.artifacts["video"].path)
    assert sidecar["inputs"] == {"image": image.sha256}


def test_png_carries_prompt_and_request_hash(context: DispatchContext, registry: Registry) -> None:
    """SPEC 4: PNG keyframes carry the prompt and request_sha256 in text chunks, and only
    deterministic facts (never the receipt id)."""
    receipt = dispatch("keyframe", {"prompt": PROMPT}, context=context, registry=registry)
    path = context.receipts_file.parent / receipt.artifacts["image"].path
    with Image.open(path) as image:
        text = dict(image.text)  # type: ignore[attr-defined]
    assert text["recoil:prompt"] == PROMPT
    assert text["recoil:request_sha256"] == receipt.request_sha256
    assert read_embedded(path.read_bytes(), "image/png")["recoil:prompt"] == PROMPT
    assert receipt.receipt_id.encode() not in path.read_bytes()


@pytest.mark.parametrize(
    ("modality", "payload", "name", "mime"),
    [
        ("video", {"duration_s": 0.25, "fps": 8}, "video", "video/mp4"),
        ("audio", {"duration_s": 0.1}, "audio", "audio/wav"),
    ],
)
def test_video_and_audio_carry_provenance(
    context: DispatchContext,
    registry: Registry,
    modality: str,
    payload: dict[str, float],
    name: str,
    mime: str,
) -> None:
    """SPEC 4: video and audio files carry the prompt and request_sha256 in container metadata
    (SPEC 3: their receipts carry media facts such as duration)."""
    receipt = dispatch(
        modality, {"prompt": "hello there", **payload}, context=context, registry=registry
    )
    artifact = receipt.artifacts[name]
    assert artifact.mime == mime
    assert artifact.facts["duration_s"] == pytest.approx(payload["duration_s"], abs=0.05)
    fields = read_embedded((context.receipts_file.parent / artifact.path).read_bytes(), mime)
    assert fields["recoil:prompt"] == "hello there"
    assert fields["recoil:request_sha256"] == receipt.request_sha256


def test_same_request_gives_same_bytes(registry: Registry, tmp_path: Path) -> None:
    """SPEC 4: the same request gives the same bytes (nothing time-dependent is embedded)."""
    digests = []
    for name in ("one", "two"):
        ctx = DispatchContext(project=tmp_path / name, default_provider="fake")
        receipt = dispatch("keyframe", {"prompt": "x", "seed": 4}, context=ctx, registry=registry)
        digests.append((ctx.receipts_file.parent / receipt.artifacts["image"].path).read_bytes())
    assert digests[0] == digests[1]


def test_embed_prompts_off_keeps_prompt_out_of_the_file(
    project_dir: Path, registry: Registry
) -> None:
    """SPEC 4: with prompt embedding off the prompt is not in the file; the sidecar is written."""
    ctx = DispatchContext(project=project_dir, default_provider="fake", embed_prompts=False)
    prompt = "CONFIDENTIAL plot twist"
    receipt = dispatch("keyframe", {"prompt": prompt}, context=ctx, registry=registry)
    path = ctx.receipts_file.parent / receipt.artifacts["image"].path
    assert prompt.encode() not in path.read_bytes()
    fields = read_embedded(path.read_bytes(), "image/png")
    assert "recoil:prompt" not in fields
    assert fields["recoil:request_sha256"] == receipt.request_sha256
    assert read_sidecar(path)["provenance"]["prompt"] == prompt


def _receipt(artifact: Artifact) -> Receipt:
    return Receipt(
        receipt_id="r_1",
        modality="keyframe",
        provider="fake",
        model="m",
        status=ReceiptStatus.SUCCEEDED,
        request_sha256="a" * 64,
        prompt=PROMPT,
        prompt_sha256=sha256_text(PROMPT),
        seed=3,
        started_us=1,
        finished_us=2,
        request={"prompt": PROMPT, "params": {"token": "tok-123456"}},
        provenance={"prompt": "caller's", "session_secret": "s3cr3t-value"},
        artifacts={"image": artifact},
    )


def test_build_sidecar_and_round_trip(tmp_path: Path) -> None:
    """SPEC 4: the sidecar document holds the exact prompt, wins over a caller's `prompt` key,
    and drops secrets; it is written atomically beside the artifact and read back equal."""
    path = tmp_path / "ab" / "abc.png"
    write_atomic(path, b"png")
    artifact = Artifact(name="image", path=str(path), sha256="ab" * 32, mime="image/png", bytes=3)
    sidecar = build_sidecar(_receipt(artifact), artifact, "2024-01-01T00:00:00+00:00")
    assert sidecar["kind"] == "sidecar"
    assert sidecar["schema"] == 2
    assert sidecar["provenance"]["prompt"] == PROMPT
    assert sidecar["provenance"]["session_secret"] == "[redacted]"
    assert sidecar["request"]["params"]["token"] == "[redacted]"
    assert sidecar["prompt_sha256"] == sha256_text(PROMPT)
    written = write_sidecar(path, sidecar)
    assert written == sidecar_path(path)
    assert read_sidecar(path) == sidecar
    assert json.loads(written.read_text()) == sidecar
