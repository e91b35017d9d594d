"""Provenance sidecars: ``<artifact>.json`` beside every stored artifact.

A sidecar says where the file came from: the receipt, modality, provider and
model, the exact prompt sent (``provenance.prompt``) and its sha256, the seed,
the validated request with secrets removed, the input hashes and the time.
It also keeps the sha256 of the provider's raw output, since the stored bytes
carry embedded provenance and so hash differently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recoil.model.receipt import Artifact, Receipt, Sidecar
from recoil.records import codec
from recoil.records.artifacts import write_atomic
from recoil.records.redact import redact


def sidecar_path(artifact_path: Path) -> Path:
    """The sidecar file of an artifact."""
    return artifact_path.with_name(artifact_path.name + ".json")


def build_sidecar(receipt: Receipt, artifact: Artifact, created_at: str) -> dict[str, Any]:
    """The sidecar document (kind ``sidecar``) for one artifact of a receipt, secrets removed."""
    sidecar = Sidecar(
        receipt_id=receipt.receipt_id,
        modality=receipt.modality,
        provider=receipt.provider,
        model=receipt.model,
        provenance={**receipt.provenance, "prompt": receipt.prompt},
        prompt_sha256=receipt.prompt_sha256,
        request_sha256=receipt.request_sha256,
        seed=receipt.seed,
        request=receipt.request,
        inputs=receipt.inputs,
        artifact=artifact,
        created_at=created_at,
    )
    document: dict[str, Any] = redact(codec.encode(sidecar))
    return document


def write_sidecar(
    artifact_path: Path, sidecar: dict[str, Any], *, scratch: Path | None = None
) -> Path:
    """Write a sidecar atomically beside its artifact; return its path.

    ``scratch`` is where the temp file goes (the artifact store's, so a crash
    leaves nothing beside the artifacts).
    """
    path = sidecar_path(artifact_path)
    text = json.dumps(sidecar, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode(), scratch=scratch)
    return path


def read_sidecar(artifact_path: Path) -> dict[str, Any]:
    """The sidecar of an artifact, upgraded to the current schema if it is older."""
    return codec.upgrade(json.loads(sidecar_path(artifact_path).read_text()))
