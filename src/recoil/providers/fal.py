"""The fal provider: fal's queue API over plain httpx (no fal-client).

Settings (``[providers.fal]`` in ``recoil.toml``; the key comes from ``FAL_KEY``
in the environment or the credentials file, never from settings)::

    base_url = "https://queue.fal.run"
    schema_url = "https://fal.ai/api/openapi/queue/openapi.json"   # the endpoints' schemas
    storage_url = "https://rest.alpha.fal.ai"   # CDN uploads of input files
    data_uri_max_bytes = 262144                  # larger input files go through the CDN
    [providers.fal.models]
    keyframe = "fal-ai/flux/dev"
    keyframe_from_image = "fal-ai/flux/dev/image-to-image"     # chained beats
    video = "fal-ai/kling-video/v2.1/standard/image-to-video"
    audio = "fal-ai/elevenlabs/tts/multilingual-v2"
    [providers.fal.bindings."<model>"]   # see recoil.providers.binding
    [prices.fal]                       # price of one billable unit, per model
    "fal-ai/flux/dev" = 0.025

Protocol: ``POST {base}/{model}`` with the input JSON returns ``request_id``,
``status_url``, ``response_url`` and ``cancel_url`` (kept in the job handle);
``GET status_url`` says ``IN_QUEUE`` (with ``queue_position``),
``IN_PROGRESS`` or ``COMPLETED``; ``GET response_url`` gives the result (or the
error) and the ``x-fal-billable-units`` header; ``PUT cancel_url`` cancels.

The input JSON is what the model's binding makes of the request
(:mod:`recoil.providers.fal_models` ships bindings for common endpoints; a model
without one gets fal's common input names, those its schema has), checked
against the endpoint's published OpenAPI schema (``GET
{schema_url}?endpoint_id=<model>``, no key sent; kept in the project). Input
files up to ``data_uri_max_bytes`` go as base64 ``data:`` URIs, which fal's
models accept; larger ones are uploaded to fal's CDN, as fal recommends
(docs.fal.ai/documentation/model-apis/fal-cdn), once per file. The result is the part of the
answer the binding's ``output`` names (every ``{"url": ...}`` media object in
it, downloaded at once). fal has no idempotency key and no way to list
requests: a submit whose connection drops after sending, or that a crash cut
off, is an unknown outcome, reported and never re-sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from recoil.errors import PayloadError, ProviderError
from recoil.model.cost import Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request
from recoil.providers.base import Job, JobState, JobStatus, Output
from recoil.providers.binding import output_at
from recoil.providers.fal_models import FAL_BINDINGS, FAL_GENERIC
from recoil.providers.hosted import HostedProvider
from recoil.providers.http import mime_for, role_names
from recoil.providers.inputschema import fal_input_schema

MODALITIES = ("keyframe", "video", "audio", "upscale")
DEFAULT_SCHEMA_URL = "https://fal.ai/api/openapi/queue/openapi.json"
DEFAULT_STORAGE_URL = "https://rest.alpha.fal.ai"
"""Where fal's clients start a CDN upload (fal-js's storage flow)."""
_STATES = {
    "IN_QUEUE": JobStatus.QUEUED,
    "IN_PROGRESS": JobStatus.RUNNING,
    "COMPLETED": JobStatus.SUCCEEDED,
}


class FalProvider(HostedProvider):
    """fal's queue API (see the module docstring)."""

    name = "fal"
    version = "fal-queue-1"
    poll_interval_s = 0.5
    default_base_url = "https://queue.fal.run"
    key_variable = "FAL_KEY"
    shipped_bindings = FAL_BINDINGS
    generic_bindings = FAL_GENERIC
    parse_schema = staticmethod(fal_input_schema)

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        schema_url = config.options.get("schema_url", DEFAULT_SCHEMA_URL)
        self.schema_url = self._checked_base_url(schema_url, "schema_url")
        storage_url = config.options.get("storage_url", DEFAULT_STORAGE_URL)
        self.storage_url = self._checked_base_url(storage_url, "storage_url")

    def check_model(self, request: Request) -> None:
        """A model must be known for the request."""
        if not self.model_for(request):
            raise PayloadError(
                request.modality,
                "model",
                f"fal needs a model: set model in the payload or [providers.fal.models] "
                f'{request.modality} = "fal-ai/..." in recoil.toml',
            )

    def estimate_cost(self, request: Request) -> Cost:
        """One billable unit at the configured price (fal bills per image or second)."""
        price = self.config.price(self.model_for(request))
        if price is None:
            return Cost(source="none")
        return Cost(amount=price, source="estimated", detail=f"1 unit x {price:g}")

    async def preflight(self) -> list[str]:
        """The key set, every configured model named, the base URL reachable, schemas had."""
        problems = []
        if not self._secret:
            problems.append(
                "fal needs FAL_KEY: export FAL_KEY=... or add it to "
                "~/.config/recoil/credentials.toml"
            )
        problems.extend(
            f"[providers.fal.models] {modality} is empty"
            for modality, model in self.models.items()
            if not model
        )
        reach = await self.reach()
        return problems + reach + ([] if reach else await self.schema_problems())

    async def fetch_schema(self, model: str) -> tuple[str, Mapping[str, Any]]:
        """The endpoint's queue OpenAPI document (public: no key is sent)."""
        response = await self._boundary.send(
            self._client,
            "GET",
            self.schema_url,
            what=f"schema of {model}",
            params={"endpoint_id": model},
        )
        return f"{self.schema_url}?endpoint_id={model}", self._boundary.json_object(
            response, f"schema of {model}"
        )

    async def upload(self, name: str, data: bytes, mime: str) -> str:
        """fal's CDN: ``POST {storage_url}/storage/upload/initiate`` names the file and gets
        a signed ``upload_url`` (the bytes are ``PUT`` there, without the key) and the
        ``file_url`` the model reads."""
        response = await self._boundary.send(
            self._client,
            "POST",
            f"{self.storage_url}/storage/upload/initiate",
            what="upload",
            params={"storage_type": "fal-cdn-v3"},
            json={"content_type": mime, "file_name": name},
            headers=self._auth(),
        )
        answer = self._boundary.json_object(response, "upload")
        upload_url, file_url = answer.get("upload_url"), answer.get("file_url")
        if not (isinstance(upload_url, str) and upload_url and isinstance(file_url, str)):
            raise self._boundary.error(
                "upload: the answer has no upload_url and file_url",
                retryable=False,
                error_type="protocol",
            )
        await self._boundary.send(
            self._client,
            "PUT",
            upload_url,
            what="upload",
            content=data,
            headers={"Content-Type": mime},
        )
        return file_url

    async def submit(self, request: Request, key: str) -> Job:
        """Queue the request; the handle keeps fal's URLs (fal takes no idempotency key)."""
        model = self.model_for(request)
        output = self.binding_for(request).output
        body = await self.prepared_input(request)
        response = await self._boundary.send(
            self._client,
            "POST",
            f"{self.base_url}/{model}",
            what="submit",
            idempotent=False,
            json=body,
            headers=self._auth(),
        )
        answer = self._boundary.json_object(response, "submit")
        request_id = str(answer.get("request_id", ""))
        if not request_id:
            raise self._boundary.error(
                "submit answer has no request_id", retryable=False, error_type="protocol"
            )
        base = f"{self.base_url}/{model}/requests/{request_id}"
        handle = {
            "request_id": request_id,
            "model": model,
            "output": output,
            "status_url": answer.get("status_url") or f"{base}/status",
            "response_url": answer.get("response_url") or base,
            "cancel_url": answer.get("cancel_url") or f"{base}/cancel",
        }
        return Job(job_id=request_id, handle=handle)

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """fal cannot look a request up: the outcome of a cut-off submit stays unknown."""
        sent = datetime.fromtimestamp(sent_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise self._boundary.error(
            f"a run that crashed sent this {request.modality} request to "
            f"{self.model_for(request)} at {sent} and recorded no answer; fal has no way to "
            "look a request up, so it may have been accepted (and billed). It was not sent "
            "again, and no later `recoil run` sends it (that could pay twice): check the "
            "requests in your fal dashboard, and queue a new take with `recoil retake` to make "
            "it anew.",
            retryable=False,
            unknown_outcome=True,
            error_type="unknown_outcome",
        )

    async def check(self, job: Job) -> JobState:
        """Ask the status URL; once completed, fetch the result and download its files."""
        response = await self._boundary.send(
            self._client, "GET", job.handle["status_url"], what="status", headers=self._auth()
        )
        answer = self._boundary.json_object(response, "status")
        raw = str(answer.get("status", ""))
        status = _STATES.get(raw)
        if status is None:
            raise self._boundary.error(
                f"unknown status {raw!r} for request {job.job_id}",
                retryable=False,
                provider_status=raw,
                error_type="protocol",
            )
        if status is JobStatus.QUEUED:
            position = answer.get("queue_position")
            return JobState(status=status, raw_status=f"IN_QUEUE ({position})")
        if status is JobStatus.RUNNING:
            return JobState(status=status, raw_status=raw)
        return await self._result(job)

    async def cancel(self, job: Job) -> None:
        """Ask fal to cancel; a job that already finished needs nothing."""
        try:
            await self._boundary.send(
                self._client, "PUT", job.handle["cancel_url"], what="cancel", headers=self._auth()
            )
        except ProviderError as exc:
            if exc.provider_status not in ("400", "404", "409"):
                raise

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._secret}"} if self._secret else {}

    async def _result(self, job: Job) -> JobState:
        model = str(job.handle.get("model", ""))
        try:
            response = await self._boundary.send(
                self._client, "GET", job.handle["response_url"], what="result", headers=self._auth()
            )
        except ProviderError as exc:
            if exc.provider_status in (None, "429") or exc.unknown_outcome:
                raise  # the job may well have succeeded: ask again later
            return JobState(status=JobStatus.FAILED, error=exc, raw_status=exc.provider_status)
        answer = self._boundary.json_object(response, "result")
        cost = self._cost(model, response.headers.get("x-fal-billable-units"))
        path = str(job.handle.get("output") or "")
        found = list(_media(output_at(answer, path)))
        if not found:
            where = f"at {path!r} " if path else ""
            error = self._boundary.error(
                f"request {job.job_id} completed without any media URL {where}in its result "
                f"(keys: {', '.join(sorted(answer)) or 'none'}); if the model moved its "
                f"output, fix output in [providers.fal.bindings.{model!r}]",
                retryable=False,
                error_type="invalid_output",
                cost=cost.amount,
            )
            return JobState(status=JobStatus.FAILED, error=error, raw_status="COMPLETED")
        files = await asyncio.gather(*(self._boundary.download(self._client, u) for u, _ in found))
        mimes = [
            hint or mime_for(url, ctype) or ctype or "application/octet-stream"
            for (url, hint), (_, ctype) in zip(found, files, strict=True)
        ]
        outputs = tuple(
            Output(name=name, data=data, mime=mime)
            for name, (data, _), mime in zip(role_names(mimes), files, mimes, strict=True)
        )
        return JobState(
            status=JobStatus.SUCCEEDED,
            outputs=outputs,
            cost=cost,
            raw_status="COMPLETED",
            model=model,
        )

    def _cost(self, model: str, units_header: str | None) -> Cost:
        price = self.config.price(model)
        try:
            units = float(units_header) if units_header else None
        except ValueError:
            units = None
        if units is None:
            return Cost(source="none", detail="fal sent no x-fal-billable-units")
        if price is None:
            return Cost(
                source="none", detail=f"{units:g} units; no price for {model} in [prices.fal]"
            )
        return Cost(amount=units * price, source="reported", detail=f"{units:g} units x {price:g}")


def _media(value: Any) -> Iterator[tuple[str, str | None]]:
    """(url, mime hint) of every media file object in a result, in document order."""
    if isinstance(value, Mapping):
        url = value.get("url")
        if isinstance(url, str):
            ctype = str(value.get("content_type") or "")
            mime = mime_for(url, ctype) or (mime_for("x", ctype) if ctype else None)
            if mime is not None or url.startswith("data:"):
                yield url, mime
                return
        for item in value.values():
            yield from _media(item)
    elif isinstance(value, list):
        for item in value:
            yield from _media(item)
