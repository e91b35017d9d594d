"""Content-addressed artifacts (SPEC 4)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recoil.dispatch import dispatch
from recoil.model.context import DispatchContext
from recoil.providers.registry import Registry
from recoil.records.artifacts import ArtifactStore, sha256_bytes, sha256_file, write_atomic


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".json")


def test_dispatch_stores_content_addressed(context: DispatchContext, registry: Registry) -> None:
    """SPEC 4: artifacts live at artifacts/<first two hex>/<sha256>.<ext>, hashed as stored."""
    receipt = dispatch("keyframe", {"prompt": "a tower"}, context=context, registry=registry)
    artifact = receipt.artifacts["image"]
    path = context.receipts_file.parent / artifact.path
    data = path.read_bytes()
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert artifact.path == f"artifacts/{artifact.sha256[:2]}/{artifact.sha256}.png"  # relative
    assert path == context.artifacts_dir / artifact.sha256[:2] / f"{artifact.sha256}.png"
    assert artifact.bytes == len(data)
    assert artifact.mime == "image/png"
    assert artifact.facts["width"] == 128
    assert artifact.facts["height"] == 72
    # Atomic writes leave no temp files behind (the scratch folder stays, empty).
    assert [p.name for p in context.artifacts_dir.rglob(".*")] == [".partial"]
    assert list((context.artifacts_dir / ".partial").iterdir()) == []


def test_identical_outputs_are_stored_once(
    project_dir: Path, registry: Registry, tmp_path: Path
) -> None:
    """SPEC 4: identical outputs are stored once."""
    ctx = DispatchContext(project=project_dir, default_provider="fake", use_cache=False)
    payload = {"prompt": "same", "seed": 9}
    first = dispatch("keyframe", payload, context=ctx, registry=registry)
    second = dispatch("keyframe", payload, context=ctx, registry=registry)
    assert second.cached is False
    assert first.receipt_id != second.receipt_id
    assert first.artifacts["image"].path == second.artifacts["image"].path
    assert len(media_files(ctx.artifacts_dir)) == 1
    other = dispatch("keyframe", {"prompt": "different", "seed": 9}, context=ctx, registry=registry)
    assert other.artifacts["image"].path != first.artifacts["image"].path
    assert len(media_files(ctx.artifacts_dir)) == 2


def test_store_put_and_intact(tmp_path: Path) -> None:
    """SPEC 4: the store writes each content once and can tell an intact file from a damaged one."""
    store = ArtifactStore(tmp_path / "artifacts")
    path, digest, new = store.put(b"hello", "bin")
    assert digest == sha256_bytes(b"hello") == sha256_file(path)
    assert path == tmp_path / "artifacts" / digest[:2] / f"{digest}.bin"
    assert new is True
    assert store.put(b"hello", "bin") == (path, digest, False)
    assert store.intact(digest, "bin")
    path.write_bytes(b"HELLO")
    assert not store.intact(digest, "bin")
    assert not store.intact("ab" * 32, "bin")
    # Storing the same content again repairs a damaged copy of the same size.
    assert store.put(b"hello", "bin") == (path, digest, True)
    assert path.read_bytes() == b"hello"


def test_write_atomic_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    """SPEC 4: writes are atomic (temp file + rename): a failed write leaves no partial file."""
    target = tmp_path / "sub" / "file.bin"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_temp_files_of_a_killed_writer_are_swept(tmp_path: Path) -> None:
    """SPEC 4: a crash mid-write leaves no half-written file among the artifacts; the temp
    files of a dead writer are removed when the store is opened again, a live one's kept."""
    store = ArtifactStore(tmp_path / "artifacts")
    path, _, _ = store.put(b"complete", "bin")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    orphan = store.scratch / f".{dead_pid}.{path.name}.abc123.tmp"
    orphan.write_bytes(b"half")
    live = store.scratch / f".{os.getpid()}.{path.name}.def456.tmp"
    live.write_bytes(b"in progress")
    assert all(not p.name.endswith(".tmp") for p in path.parent.iterdir())
    assert store.sweep() == 1
    assert not orphan.exists() and live.exists()
    assert path.read_bytes() == b"complete"


def test_an_artifact_is_found_by_its_hash_wherever_its_receipt_says_it_was(
    context: DispatchContext, registry: Registry, tmp_path: Path
) -> None:
    """An older log recorded absolute paths; a moved project still finds each file."""
    receipt = dispatch("keyframe", {"prompt": "a tower"}, context=context, registry=registry)
    artifact = receipt.artifacts["image"]
    moved = tmp_path / "moved"
    context.receipts_file.parent.rename(moved)
    old = dataclasses.replace(artifact, path=f"/gone/project/{artifact.path}")
    for recorded in (artifact, old):
        found = ArtifactStore(moved / "artifacts").locate(recorded)
        assert found.is_file() and sha256_file(found) == artifact.sha256
