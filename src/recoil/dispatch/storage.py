"""Storing a dispatch's outputs: checked, provenance embedded, stored by content, sidecars.

Both functions do file work (probing, embedding, hashing, writing); the
dispatcher runs them in a worker thread, off the event loop.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from recoil.dispatch.prepare import Prepared
from recoil.errors import ProviderError
from recoil.model.ids import utc_now_iso
from recoil.model.receipt import Artifact, Receipt
from recoil.providers.base import Output
from recoil.records.artifacts import ArtifactStore, recorded_path
from recoil.records.provenance import build_sidecar, sidecar_path, write_sidecar


def store_outputs(
    store: ArtifactStore,
    project: Path,
    prepared: Prepared,
    outputs: tuple[Output, ...],
    *,
    embed_prompt: bool,
) -> dict[str, Artifact]:
    """Store ``outputs`` in ``store``, their recorded paths relative to ``project``.

    The outputs must include the request's expected kind; a file that is not
    what its mime type says is a permanent ``ProviderError``.
    """
    kind = prepared.request.expected_output
    if kind is not None and not any(o.mime.startswith(f"{kind}/") for o in outputs):
        got = ", ".join(o.mime for o in outputs)
        raise ProviderError(
            f"a {prepared.modality} request needs {kind} output; the provider returned {got}",
            retryable=False,
            error_type="invalid_output",
        )
    from recoil.media.embed import embed
    from recoil.media.probe import extension_for, probe

    fields = provenance_fields(prepared, embed_prompt=embed_prompt)
    stored: dict[str, Artifact] = {}
    for output in outputs:
        facts = probe(output.data, output.mime)  # garbage raises a permanent ProviderError
        data = embed(output.data, output.mime, fields)
        path, digest, _ = store.put(data, extension_for(output.mime))
        stored[output.name] = Artifact(
            name=output.name,
            path=recorded_path(path, project),
            sha256=digest,
            mime=output.mime,
            bytes=len(data),
            raw_sha256=hashlib.sha256(output.data).hexdigest(),
            facts=facts,
        )
    return stored


def provenance_fields(prepared: Prepared, *, embed_prompt: bool) -> dict[str, str]:
    """The provenance embedded in each output file (the prompt only with ``embed_prompt``)."""
    fields = {
        "recoil:request_sha256": prepared.request_sha256,
        "recoil:seed": str(prepared.request.seed),
        "recoil:model": prepared.model,
    }
    if embed_prompt:
        fields["recoil:prompt"] = prepared.prompt
    return fields


def write_sidecars(store: ArtifactStore, receipt: Receipt) -> None:
    """Write a sidecar beside each of ``receipt``'s artifacts that has none yet."""
    created = utc_now_iso()
    for artifact in receipt.artifacts.values():
        path = store.locate(artifact)
        # The first dispatch that made these bytes owns the sidecar; identical
        # bytes from a later dispatch are the same file with the same origin.
        if not sidecar_path(path).exists():
            write_sidecar(path, build_sidecar(receipt, artifact, created), scratch=store.scratch)
