"""What the hosted-API adapters (fal, Replicate) share: settings, client, bindings, schemas.

Options (``[providers.<name>]`` in ``recoil.toml``):

- ``base_url``: for a test server or a proxy; an absolute ``http://`` or
  ``https://`` URL with a host, checked when the provider is built.
- ``models``: modality -> model. ``keyframe_from_image`` names the model for a
  keyframe that starts from an image (a beat chained from the previous one),
  when the ``keyframe`` model cannot take one.
- ``bindings``: model -> binding table, over the shipped ones
  (:mod:`recoil.providers.binding`).

The key comes from the variable ``key_variable`` in the environment or the
credentials file, and the boundary keeps it out of every error.

Before a request is sent its model's published input schema is fetched (once:
it is kept in the project, :mod:`recoil.providers.inputschema`), the body the
binding makes is checked against it, and a problem is a permanent error that
says the request was not sent. ``check_requests`` runs the same check on every
request of a run at preflight, so a wrong parameter is one line before any
paid call. The binding a request goes through and the model's kept schema
(Replicate's version id and a hash of the inputs it publishes) are part of its
cache key and receipt (``identity_for``): a request sent through an edited
binding, or to a model whose schema was fetched again and changed, is never
answered from the cache of the old one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from recoil.errors import ConfigError, PayloadError, ProviderError, RecoilError, describe
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request
from recoil.providers.binding import (
    FILE_FIELDS,
    MEDIA_SOURCES,
    Binding,
    FileUrls,
    load_bindings,
    parse_binding,
)
from recoil.providers.http import Boundary, data_uri, default_timeout, mime_for, transport_reason
from recoil.providers.inputschema import SCHEMAS_DIR, InputSchema, Parser, SchemaStore
from recoil.records.redact import redact_text

DATA_URI_MAX_BYTES = 256 * 1024
"""Input files up to this size go inline as data URIs (Replicate documents 256 KiB for
them; fal's CDN is recommended for larger ones); larger files are uploaded."""
REACH_TIMEOUT_S = 5.0
"""How long preflight waits for any answer from a hosted provider's base URL."""
_LABELS_SHOWN = 4
"""How many requests a preflight line names when they share one problem."""


class HostedProvider:
    """The shared base of the fal and Replicate adapters (see the module docstring)."""

    name: str
    default_base_url: str
    key_variable: str
    shipped_bindings: Mapping[str, Mapping[str, Any]]
    generic_bindings: Mapping[str, Mapping[str, Any]]
    parse_schema: Parser
    remote = True

    def __init__(self, config: ProviderConfig) -> None:
        options = config.options
        self.config = config
        self.base_url = self._checked_base_url(options.get("base_url", self.default_base_url))
        self.models: Mapping[str, str] = dict(options.get("models", {}))
        self.bindings = load_bindings(self.name, self.shipped_bindings, options)
        self._generic = {
            modality: parse_binding(
                self.name,
                f"a {modality} model",
                {**table, "source": f"recoil's generic {modality} binding"},
                generic=True,
            )
            for modality, table in self.generic_bindings.items()
        }
        project = options.get("project_dir")
        folder = Path(str(project)) / SCHEMAS_DIR / self.name if project else None
        self.schemas = SchemaStore(self.name, type(self).parse_schema, folder)
        limit = options.get("data_uri_max_bytes", DATA_URI_MAX_BYTES)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigError(
                f"providers.{self.name}.data_uri_max_bytes must be a whole number >= 0, got "
                f"{limit!r}; 0 uploads every input file"
            )
        self.data_uri_max_bytes = limit
        self._uploaded: dict[str, asyncio.Future[str]] = {}
        """sha256 of an input file -> its upload (the URL), so each is uploaded once."""
        self._secret = config.secret(self.key_variable)
        self._boundary = Boundary(self.name, (self._secret,) if self._secret else ())
        self._client = httpx.AsyncClient(timeout=default_timeout(options))

    # -- what subclasses provide -------------------------------------------------

    async def fetch_schema(self, model: str) -> tuple[str, Mapping[str, Any]]:
        """The URL and document of ``model``'s published schema (one HTTP call)."""
        raise NotImplementedError

    async def upload(self, name: str, data: bytes, mime: str) -> str:
        """Upload an input file the way the provider documents; the URL the model reads."""
        raise NotImplementedError

    def check_model(self, request: Request) -> None:
        """Refuse a model name the provider cannot have (a PayloadError)."""
        raise NotImplementedError

    # -- models and bindings -----------------------------------------------------

    def model_for(self, request: Request) -> str:
        """The request's model, else the one configured for its modality.

        A keyframe with an image goes to ``keyframe_from_image`` when that is set.
        """
        if request.model:
            return request.model
        if getattr(request, "image", None) is not None:
            chained = self.models.get(f"{request.modality}_from_image")
            if chained:
                return chained
        return self.models.get(request.modality, "")

    def binding_for(self, request: Request) -> Binding:
        """The binding of the request's model: its own, else the modality's generic one."""
        model = self.model_for(request)
        binding = self.bindings.get(model) or self.bindings.get(model.partition(":")[0])
        if binding is None:
            generic = self._generic.get(request.modality)
            if generic is None:
                raise PayloadError(
                    request.modality,
                    "model",
                    f"{self.name} has no binding for {model!r}: add "
                    f'[providers.{self.name}.bindings."{model}"] to recoil.toml',
                )
            return dataclasses.replace(generic, model=model)
        if binding.modality != request.modality:
            raise PayloadError(
                request.modality,
                "model",
                f"{model} makes {binding.modality}, not {request.modality} ({binding.where}); "
                f"set [providers.{self.name}.models] {request.modality} to a "
                f"{request.modality} model",
            )
        return binding

    def identity_for(self, request: Request) -> Mapping[str, Any]:
        """The binding the request is sent through and the model's kept schema (its version
        and hash): part of the cache key and the receipt, so a model whose published inputs
        or version changed is generated again, not answered from the cache."""
        binding = self.binding_for(request)
        schema = self.schemas.get(self.model_for(request))
        kept = (
            {}
            if schema is None
            else {"schema": {"version": schema.version, "sha256": schema.sha256}}
        )
        return {
            **kept,
            "binding": {
                "model": binding.model,
                "output": binding.output,
                "defaults": dict(binding.defaults),
                "generic": binding.generic,
                "inputs": [
                    {
                        "from": spec.source,
                        "to": spec.to,
                        "type": spec.type,
                        "choices": list(spec.choices),
                        "map": dict(spec.map),
                    }
                    for spec in binding.inputs
                ],
            },
        }

    async def learn_identity(self, request: Request) -> bool:
        """Fetch and keep the model's schema if it is not kept yet (see ``identity_for``)."""
        model = self.model_for(request)
        if not model or self.schemas.get(model) is not None:
            return False
        try:
            await self.input_schema(model)
        except ProviderError:
            return False  # the call fails the same way, with its receipt
        return True

    def validate(self, request: Request) -> None:
        """The model must be known and bound, and the body fit its kept schema, if any."""
        self.check_model(request)
        binding = self.binding_for(request)
        binding.check_media(request)
        schema = self.schemas.get(self.model_for(request))
        if schema is not None:
            # Input files an earlier step makes may not be in the request yet.
            files = frozenset(i.to for i in binding.inputs if i.source in MEDIA_SOURCES)
            problems = self.problems(request, binding, schema, unchecked=files)
            if problems:
                raise PayloadError(request.modality, "input", "; ".join(problems))

    def problems(
        self,
        request: Request,
        binding: Binding,
        schema: InputSchema,
        *,
        unchecked: frozenset[str] = frozenset(),
    ) -> list[str]:
        """What keeps ``request``'s body from fitting ``schema`` (files as placeholders).

        Inputs in ``unchecked`` may be missing.
        """
        placeholders: dict[str, Any] = {
            name: f"https://input.invalid/{name}"
            for name in FILE_FIELDS
            if getattr(request, name, None) is not None
        }
        refs = getattr(request, "reference_images", ())
        if refs:
            placeholders["reference_images"] = [
                f"https://input.invalid/reference_images/{i}" for i in range(len(refs))
            ]
        try:
            body = self.body(request, binding, schema, placeholders)
        except PayloadError as exc:
            return [f"{exc.field}: {exc.reason}"]
        found = schema.problems(body, unchecked=unchecked)
        return [f"{schema.model}: {p} ({binding.where})" for p in found]

    def body(
        self, request: Request, binding: Binding, schema: InputSchema | None, urls: FileUrls
    ) -> dict[str, Any]:
        """The model's input for ``request``; a generic binding sends what the schema names."""
        if binding.generic and schema is not None:
            binding = binding.without(binding.names() - set(schema.properties))
        return binding.body(request, urls)

    async def input_schema(self, model: str) -> InputSchema:
        """``model``'s input schema: the one kept, else fetched now and kept."""
        kept = self.schemas.get(model)
        if kept is not None:
            return kept
        url, document = await self.fetch_schema(model)
        try:
            return self.schemas.put(model, document, url)
        except ValueError as exc:
            raise self._boundary.error(
                f"the schema {self.name} publishes for {model} ({url}) is not usable: {exc}",
                retryable=False,
                error_type="schema",
            ) from None

    async def prepared_input(self, request: Request) -> dict[str, Any]:
        """The checked body of ``request``, with its input files sent (see the docstring)."""
        self.check_model(request)
        binding = self.binding_for(request)
        binding.check_media(request)
        schema = await self.input_schema(self.model_for(request))
        problems = self.problems(request, binding, schema)
        if problems:
            raise self._boundary.error(
                f"the request does not fit the model's published schema, so it was not "
                f"sent: {'; '.join(problems)}",
                retryable=False,
                error_type="invalid_input",
            )
        return self.body(request, binding, schema, await self.file_urls(request))

    async def file_url(self, path: str) -> str:
        """A data URI up to ``data_uri_max_bytes``, else the URL of an upload (made once)."""
        data = await asyncio.to_thread(Path(path).read_bytes)
        mime = mime_for(path) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        if len(data) <= self.data_uri_max_bytes:
            return data_uri(data, mime)
        digest = hashlib.sha256(data).hexdigest()
        # Takes sharing a reference image share its one upload, even when sent at once.
        upload = self._uploaded.get(digest)
        if upload is None:
            upload = asyncio.ensure_future(self.upload(Path(path).name, data, mime))
            self._uploaded[digest] = upload
        try:
            return await asyncio.shield(upload)
        except ProviderError:
            if self._uploaded.get(digest) is upload:
                del self._uploaded[digest]  # a failed upload is tried again by the next call
            raise

    async def file_urls(self, request: Request) -> dict[str, str | list[str]]:
        """Each input file of ``request`` as the model gets it (see :meth:`file_url`)."""
        urls: dict[str, str | list[str]] = {}
        for name in FILE_FIELDS:
            path = getattr(request, name, None)
            if isinstance(path, str):
                urls[name] = await self.file_url(path)
        refs = getattr(request, "reference_images", ())
        if refs:
            urls["reference_images"] = [await self.file_url(path) for path in refs]
        return urls

    async def check_requests(self, requests: Sequence[tuple[str, Request]]) -> list[str]:
        """Every problem of these requests (label, request), before any is sent.

        Fetches each model's schema once (and keeps it); requests that share a
        problem (every take of a beat, every beat of a project) share its line.
        """
        found: dict[str, list[str]] = {}
        unavailable: dict[str, str] = {}  # model -> why its schema could not be had
        for label, request in requests:
            model = self.model_for(request)
            try:
                self.check_model(request)
                binding = self.binding_for(request)
                binding.check_media(request)
                if model in unavailable:
                    problems = [unavailable[model]]
                else:
                    schema = await self.input_schema(model)
                    problems = self.problems(request, binding, schema)
            except PayloadError as exc:
                problems = [exc.reason]
            except ProviderError as exc:
                problems = [unavailable.setdefault(model, str(exc))]
            for problem in problems:
                found.setdefault(f"{request.modality} {problem}", []).append(label)
        return [f"{problem} [{_labels(labels)}]" for problem, labels in found.items()]

    async def schema_problems(self) -> list[str]:
        """Preflight: the schema of every configured model can be had."""
        problems = []
        for modality, model in sorted(self.models.items()):
            if not model:
                continue
            try:
                await self.input_schema(model)
            except RecoilError as exc:
                problems.append(f"[providers.{self.name}.models] {modality}: {exc}")
        return problems

    async def reach(self) -> list[str]:
        """A preflight problem when no HTTP answer at all comes from the base URL.

        Any status counts as an answer (the base URL itself is rarely a route);
        no key is sent.
        """
        try:
            await self._client.get(self.base_url, timeout=REACH_TIMEOUT_S)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            reason = transport_reason(exc)
            if isinstance(exc, httpx.TimeoutException):
                reason = f"no answer within {REACH_TIMEOUT_S:g} s"
            return [
                self._boundary.scrub(
                    f"cannot reach {self.base_url}: {reason}; check "
                    f"providers.{self.name}.base_url in recoil.toml and your network"
                )
            ]
        return []

    def _checked_base_url(self, value: Any, setting: str = "base_url") -> str:
        text = value.strip().rstrip("/") if isinstance(value, str) else ""
        if not _is_base_url(text):
            # A key pasted into the wrong setting must not be printed back.
            raise ConfigError(
                redact_text(
                    f"providers.{self.name}.{setting} must be an absolute http:// or https:// "
                    f"URL with a host, got {describe(value)}; for example "
                    f'{setting} = "{self.default_base_url}", or leave it out'
                )
            )
        return text


def _labels(labels: list[str]) -> str:
    shown = ", ".join(labels[:_LABELS_SHOWN])
    more = len(labels) - _LABELS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _is_base_url(text: str) -> bool:
    """Whether ``text`` is a URL that requests can be sent under (paths are appended to it)."""
    try:
        parts = urlsplit(text)
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port != 0
        and not parts.query
        and not parts.fragment
        and not any(c.isspace() for c in text)
    )
