"""Storing a dispatch's outputs: checked, provenance embedded, signed, stored by content.

Each output is probed, gets its provenance fields embedded and, when the
context signs (:attr:`~recoil.model.context.DispatchContext.signing`), Content
Credentials, in that order: the stored bytes, the ones hashed, are the signed
ones, and the artifact keeps the hash of the provider's raw output as well.
Both functions do file work (probing, embedding, signing, hashing, writing);
the dispatcher runs them in a worker thread, off the event loop.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import version
from pathlib import Path

from recoil.dispatch.prepare import Prepared
from recoil.errors import ProviderError
from recoil.media.credentials import Claim, sign, signs
from recoil.model.context import DispatchContext
from recoil.model.ids import utc_now_iso
from recoil.model.receipt import Artifact, Receipt
from recoil.providers.base import Output
from recoil.records.artifacts import ArtifactStore, recorded_path
from recoil.records.provenance import build_sidecar, sidecar_path, write_sidecar

REQUEST_ASSERTION = "org.recoil.request"
"""The label of the assertion naming the request hash in an output's Content Credentials."""


def store_outputs(
    store: ArtifactStore,
    project: Path,
    prepared: Prepared,
    outputs: tuple[Output, ...],
    *,
    context: DispatchContext,
) -> dict[str, Artifact]:
    """Store ``outputs`` in ``store``, their recorded paths relative to ``project``.

    ``context`` says whether prompts are embedded and who signs PNG and MP4 outputs.

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

    fields = provenance_fields(prepared, embed_prompt=context.embed_prompts)
    stored: dict[str, Artifact] = {}
    for output in outputs:
        facts = probe(output.data, output.mime)  # garbage raises a permanent ProviderError
        data = embed(output.data, output.mime, fields)
        if context.signing is not None and signs(output.mime):
            data = sign(data, output.mime, claim(prepared, output.name), context.signing)
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


def claim(prepared: Prepared, name: str) -> Claim:
    """The Content Credentials claim of output ``name``: generator, and the request hash."""
    return Claim(
        title=f"{prepared.modality} {name}",
        generator="recoil",
        generator_version=_recoil_version(),
        software_agent=f"{prepared.provider_name} {prepared.model}",
        assertions={
            REQUEST_ASSERTION: {
                "request_sha256": prepared.request_sha256,
                "modality": prepared.modality,
                "provider": prepared.provider_name,
                "model": prepared.model,
                "seed": prepared.request.seed,
            }
        },
    )


@cache
def _recoil_version() -> str:
    return version("recoil")


def write_sidecars(store: ArtifactStore, receipt: Receipt) -> None:
    """Write a sidecar beside each of ``receipt``'s artifacts that has none yet."""
    created = utc_now_iso()
    for artifact in receipt.artifacts.values():
        path = store.locate(artifact)
        # The first dispatch that made these bytes owns the sidecar; identical
        # bytes from a later dispatch are the same file with the same origin.
        if not sidecar_path(path).exists():
            write_sidecar(path, build_sidecar(receipt, artifact, created), scratch=store.scratch)
