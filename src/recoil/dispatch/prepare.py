"""Preparing a dispatch: the payload completed, its input files rooted and hashed, the cache key.

Everything here happens before a provider is called and writes nothing: the
dispatcher validates the payload into a request, routes it to a provider, then
:func:`prepared` gathers what every later step and every receipt needs.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoil.errors import PayloadError
from recoil.model.context import DispatchContext
from recoil.model.cost import Cost
from recoil.model.requests import Request
from recoil.model.workflow import STEP_REF
from recoil.providers.base import Provider, identity_of
from recoil.records.artifacts import recorded_path, sha256_file
from recoil.records.cache import request_sha256
from recoil.records.redact import redact, secret_values


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A validated dispatch, ready to send: everything but the provider call."""

    modality: str
    request: Request
    provider_name: str
    provider: Provider
    model: str
    inputs: Mapping[str, str]
    request_sha256: str
    estimate: Cost
    request_record: Mapping[str, Any]
    """The request as receipts record it (secrets removed), built once per dispatch."""
    provenance: Mapping[str, Any]
    """The provenance its receipts record (secrets removed)."""
    prompt_sha256: str

    @property
    def prompt(self) -> str:
        """The prompt as receipts and embedded provenance record it (secrets removed)."""
        return str(self.request_record.get("prompt", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where requests of one modality go: a provider the registry allows for it."""

    modality: str
    provider_name: str
    provider: Provider


def completed(
    payload: Mapping[str, Any], fields: tuple[str, ...], context: DispatchContext
) -> Mapping[str, Any]:
    """``payload`` with its input paths rooted at the project and a seed if it has none."""
    if fields and isinstance(payload, Mapping):
        payload = rooted(payload, fields, context.receipts_file.parent)
    if (type(payload) is dict or isinstance(payload, Mapping)) and payload.get("seed") is None:
        # Seeding the payload, not the request, validates it once instead of twice.
        seed = context.seed if context.seed is not None else random.randrange(2**31)
        payload = {**payload, "seed": seed}
    return payload


def prepared(
    route: Route,
    request: Request,
    inputs: Mapping[str, str],
    *,
    provenance: Mapping[str, Any],
    project: Path,
) -> Prepared:
    """The prepared dispatch of a validated ``request``; ``project`` roots recorded paths."""
    provider = route.provider
    model = provider.model_for(request)
    identity = identity_of(provider, request)
    if identity:
        provenance = {**provenance, "provider_identity": identity}
    request_dict = request.to_dict()
    secrets = secret_values()
    record = request_dict
    if inputs:
        # Receipts keep input paths inside the project relative to it, like artifacts.
        record = recorded_inputs(request_dict, request.input_fields, project)
    return Prepared(
        modality=route.modality,
        request=request,
        provider_name=route.provider_name,
        provider=provider,
        model=model,
        inputs=inputs,
        request_sha256=request_sha256(
            modality=route.modality,
            provider=route.provider_name,
            model=model,
            request=request_dict,
            inputs=inputs,
            seed=request.seed,
            provider_version=provider.version,
            provider_identity=identity,
        ),
        estimate=provider.estimate_cost(request),
        request_record=redact(record, secrets),
        provenance=redact(provenance, secrets),
        prompt_sha256=hashlib.sha256(request.prompt.encode()).hexdigest(),
    )


PLANNED_INPUT = "<output "
"""How the placeholder of a file an earlier step will make begins (see :func:`planned`)."""


def planned(payload: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A step's payload as its provider can check it before the steps it depends on have run.

    A reference to an earlier step's output (``{"$step": ...}``) in an input
    field stands for the file it will be: a placeholder path, so the provider
    checks a request that has that input (a template binds it, or not).
    Elsewhere a reference is left out.
    """
    checkable: dict[str, Any] = {}
    for name, value in payload.items():
        if isinstance(value, Mapping) and STEP_REF in value:
            if name in fields:
                output, step = value.get("output"), value[STEP_REF]
                checkable[name] = f"{PLANNED_INPUT}{output!s} of step {step!s}>"
            continue
        checkable[name] = value
    return checkable


def rooted(payload: Mapping[str, Any], fields: tuple[str, ...], root: Path) -> Mapping[str, Any]:
    """``payload`` with its relative input-file paths made absolute under ``root``."""

    def relative(value: Any) -> bool:
        return isinstance(value, str) and bool(value) and not Path(value).is_absolute()

    def absolute(value: Any) -> Any:
        return str(root / value) if relative(value) else value

    if not any(
        relative(v) or (isinstance(v, list | tuple) and any(map(relative, v)))
        for v in (payload.get(name) for name in fields)
    ):
        return payload
    rooted = dict(payload)
    for name in fields:
        value = rooted.get(name)
        if isinstance(value, list | tuple):
            rooted[name] = [absolute(v) for v in value]
        elif value is not None:
            rooted[name] = absolute(value)
    return rooted


def recorded_inputs(request: dict[str, Any], fields: tuple[str, ...], base: Path) -> dict[str, Any]:
    """The request as receipts record it: input paths inside ``base`` made relative."""
    record = dict(request)
    for name in fields:
        value = record.get(name)
        if isinstance(value, str):
            record[name] = recorded_path(Path(value), base)
        elif isinstance(value, list | tuple):
            record[name] = [recorded_path(Path(v), base) for v in value]
    return record


def hash_inputs(modality: str, request: Request) -> dict[str, str]:
    """Input label -> sha256 of the input file; a missing file is a ``PayloadError``."""
    hashes: dict[str, str] = {}
    for label, value in request.inputs().items():
        path = Path(value)
        if not path.is_file():
            raise PayloadError(modality, label, f"input file not found: {value}")
        hashes[label] = sha256_file(path)
    return hashes
