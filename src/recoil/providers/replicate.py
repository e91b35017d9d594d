"""The Replicate provider: Replicate's predictions API over plain httpx.

Settings (``[providers.replicate]`` in ``recoil.toml``; the token comes from
``REPLICATE_API_TOKEN`` in the environment or the credentials file)::

    base_url = "https://api.replicate.com/v1"
    data_uri_max_bytes = 262144                         # larger input files are uploaded
    [providers.replicate.models]
    keyframe = "black-forest-labs/flux-schnell"          # an official model, or
    video = "owner/name:5c7d5dc6dd8bf75c1acaa8565735e7"  # owner/name:version
    [providers.replicate.bindings."<owner/name>"]       # see recoil.providers.binding
    [prices.replicate]                                  # price per second of predict time
    "black-forest-labs/flux-schnell" = 0.000725

Protocol: ``POST /predictions`` ``{"version", "input"}`` (a model with a
version) or ``POST /models/{owner}/{name}/predictions`` ``{"input"}``;
``GET /predictions/{id}`` (starting, processing, succeeded, failed,
canceled); ``POST /predictions/{id}/cancel``. The output (a URL, a list of
URLs, or any JSON holding URLs) is downloaded at once: Replicate deletes it
after an hour. Cost is ``metrics.predict_time`` times the configured price.

The input is what the model's binding makes of the request
(:mod:`recoil.providers.replicate_models` ships bindings for common models; a
model without one gets the common input names its schema has), checked against
the ``openapi_schema`` Replicate publishes for the model's latest version (``GET
/models/{owner}/{name}``) or the version named (``GET
/models/{owner}/{name}/versions/{id}``), kept in the project. Input files go as
``data:`` URIs up to ``data_uri_max_bytes`` (256 KiB, the limit Replicate's API
documents for them) and larger ones through the Files API (``POST /files``,
multipart part ``content``; the file's ``urls.get`` is the input). The result
is the part of the output the binding's ``output`` names.

A submit whose connection drops after sending, or that a crash cut off, is
looked up, not re-sent: the adapter lists recent predictions (``GET
/predictions``, following ``next`` back to the time of the submit) and adopts
the one created since the submit for the same model with the same input, input
files aside (an upload's URL differs each time; an
identical request sent by another process in the same minute is
indistinguishable, so adopting it would at worst share its result). Two such
predictions leave the outcome unknown, and the step fails saying so. None
leaves it unknown too right after a dropped connection (the list may lag); after
a crash, when the next run asks, none means the submit never arrived, and it
is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from recoil.errors import PayloadError, ProviderError
from recoil.model.cost import Cost
from recoil.model.requests import Request
from recoil.providers.base import Job, JobState, JobStatus, Output
from recoil.providers.binding import MEDIA_SOURCES, Binding, output_at
from recoil.providers.hosted import HostedProvider
from recoil.providers.http import mime_for, role_names
from recoil.providers.inputschema import replicate_input_schema
from recoil.providers.replicate_models import REPLICATE_BINDINGS, REPLICATE_GENERIC

MODALITIES = ("keyframe", "video", "audio", "upscale")
_STATES = {
    "starting": JobStatus.QUEUED,
    "processing": JobStatus.RUNNING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "canceled": JobStatus.CANCELLED,
    "aborted": JobStatus.CANCELLED,
}
_LOOKUP_SKEW_S = 60.0
_LOOKUP_PAGES = 20


class ReplicateProvider(HostedProvider):
    """Replicate's predictions API (see the module docstring)."""

    name = "replicate"
    version = "replicate-v1"
    poll_interval_s = 0.5
    default_base_url = "https://api.replicate.com/v1"
    key_variable = "REPLICATE_API_TOKEN"
    shipped_bindings = REPLICATE_BINDINGS
    generic_bindings = REPLICATE_GENERIC
    parse_schema = staticmethod(replicate_input_schema)

    def check_model(self, request: Request) -> None:
        """A model ``owner/name`` (optionally ``:version``) must be known."""
        model = self.model_for(request)
        if model.count("/") != 1:
            raise PayloadError(
                request.modality,
                "model",
                f"replicate needs a model 'owner/name' or 'owner/name:version', got {model!r}; "
                f"set it in the payload or in [providers.replicate.models] {request.modality}",
            )

    def estimate_cost(self, request: Request) -> Cost:
        """Unknown before the run (Replicate bills predict seconds): no estimate."""
        return Cost(source="none")

    async def preflight(self) -> list[str]:
        """The token set, the base URL reachable and every configured model's schema had."""
        problems = []
        if not self._secret:
            problems.append(
                "replicate needs REPLICATE_API_TOKEN: export REPLICATE_API_TOKEN=... or add it "
                "to ~/.config/recoil/credentials.toml"
            )
        reach = await self.reach()
        if problems or reach:
            return problems + reach
        return await self.schema_problems()

    async def fetch_schema(self, model: str) -> tuple[str, Mapping[str, Any]]:
        """The model (its latest version) or the version named, with its openapi_schema."""
        name, _, version = model.partition(":")
        url = f"{self.base_url}/models/{name}"
        if version:
            url += f"/versions/{version}"
        response = await self._boundary.send(
            self._client, "GET", url, what=f"schema of {model}", headers=self._auth()
        )
        return url, self._boundary.json_object(response, f"schema of {model}")

    async def upload(self, name: str, data: bytes, mime: str) -> str:
        """The Files API: ``POST /files`` (multipart ``content``); the file's ``urls.get``."""
        digest = hashlib.sha256(data).hexdigest()
        response = await self._boundary.send(
            self._client,
            "POST",
            f"{self.base_url}/files",
            what="upload",
            files={"content": (name, data, mime)},
            data={"metadata": json.dumps({"sha256": digest})},
            headers=self._auth(),
        )
        answer = self._boundary.json_object(response, "upload")
        url = (answer.get("urls") or {}).get("get")
        if not isinstance(url, str) or not url:
            raise self._boundary.error(
                "upload: the answer has no urls.get", retryable=False, error_type="protocol"
            )
        return url

    async def submit(self, request: Request, key: str) -> Job:
        """Create the prediction; on a dropped connection, find it instead of re-sending.

        Replicate takes no idempotency key, so ``key`` is not sent.
        """
        model = self.model_for(request)
        binding = self.binding_for(request)
        sent_input = await self.prepared_input(request)
        files = _file_keys(binding)
        url, body = self._create(model, sent_input)
        sent_at = time.time()
        prediction: Mapping[str, Any]
        try:
            response = await self._boundary.send(
                self._client,
                "POST",
                url,
                what="submit",
                idempotent=False,
                json=body,
                headers=self._auth(),
            )
            prediction = self._boundary.json_object(response, "submit")
        except ProviderError as exc:
            if not exc.unknown_outcome:
                raise
            prediction = await self._adopt(exc, _without(sent_input, files), files, model, sent_at)
        return self._job(prediction, model, binding.output)

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """The prediction a submit cut off by a crash created, from the predictions list."""
        model = self.model_for(request)
        binding = self.binding_for(request)
        schema = await self.input_schema(model)
        files = _file_keys(binding)
        # Input files aside: an upload's URL differs each time it is made.
        sent = _without(self.body(request, binding, schema, {}), files)
        found = await self._lookup(sent, files, model, sent_us / 1e6)
        return None if found is None else self._job(found, model, binding.output)

    async def check(self, job: Job) -> JobState:
        """Ask for the prediction; when it succeeded, download its output."""
        response = await self._boundary.send(
            self._client, "GET", job.handle["get_url"], what="status", headers=self._auth()
        )
        prediction = self._boundary.json_object(response, "status")
        raw = str(prediction.get("status", ""))
        status = _STATES.get(raw)
        if status is None:
            raise self._boundary.error(
                f"unknown prediction status {raw!r}", retryable=False, error_type="protocol"
            )
        if not status.done:
            return JobState(status=status, raw_status=raw)
        cost = self._cost(str(job.handle["model"]), prediction.get("metrics"))
        if status is JobStatus.CANCELLED:
            return JobState(status=status, raw_status=raw, cost=cost)
        if status is JobStatus.FAILED:
            error = self._boundary.error(
                f"prediction {job.job_id} failed: {prediction.get('error') or 'no reason given'}",
                retryable=False,
                provider_status=raw,
                error_type="prediction_failed",
                cost=cost.amount,
            )
            return JobState(status=status, error=error, raw_status=raw, cost=cost)
        return await self._outputs(job, prediction, cost)

    async def cancel(self, job: Job) -> None:
        """Ask Replicate to cancel the prediction."""
        await self._boundary.send(
            self._client, "POST", job.handle["cancel_url"], what="cancel", headers=self._auth()
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._secret}"} if self._secret else {}

    def _job(self, prediction: Mapping[str, Any], model: str, output: str) -> Job:
        prediction_id = str(prediction.get("id") or "")
        if not prediction_id:
            raise self._boundary.error(
                "the submit answer has no prediction id", retryable=False, error_type="protocol"
            )
        urls = prediction.get("urls") or {}
        base = f"{self.base_url}/predictions/{prediction_id}"
        handle = {
            "id": prediction_id,
            "model": model,
            "output": output,
            "get_url": urls.get("get") or base,
            "cancel_url": urls.get("cancel") or f"{base}/cancel",
        }
        return Job(job_id=prediction_id, handle=handle)

    def _create(self, model: str, sent_input: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The URL and body that create a prediction of ``model`` with this input."""
        name, _, version = model.partition(":")
        if version:
            return f"{self.base_url}/predictions", {"input": sent_input, "version": version}
        return f"{self.base_url}/models/{name}/predictions", {"input": sent_input}

    async def _adopt(
        self,
        exc: ProviderError,
        sent_input: Mapping[str, Any],
        files: frozenset[str],
        model: str,
        sent_at: float,
    ) -> Mapping[str, Any]:
        """The prediction a submit that ended in ``exc`` (outcome unknown) created.

        Raises an unknown-outcome error saying what the lookup found when it finds none.
        """
        try:
            found = await self._lookup(sent_input, files, model, sent_at)
            looked = "none"
        except ProviderError as lookup:
            found, looked = None, str(lookup)
        if found is not None:
            return found
        # exc's message already starts with the provider's name: not twice.
        said = str(exc).removeprefix(f"{self.name}: ")
        raise self._unknown_outcome(
            f"{said} (looked for the prediction in the recent predictions list: {looked})"
        ) from None

    async def _lookup(
        self, sent_input: Mapping[str, Any], files: frozenset[str], model: str, sent_at: float
    ) -> Mapping[str, Any] | None:
        """The one prediction created since ``sent_at`` with this model and input, or None.

        ``sent_input`` is without the keys in ``files`` (input files), which are not compared.

        Raises a ProviderError when the list cannot be read, and an unknown-outcome
        one when several predictions match.
        """
        since = sent_at - _LOOKUP_SKEW_S
        url: str | None = f"{self.base_url}/predictions"
        matches: list[Mapping[str, Any]] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > _LOOKUP_PAGES:
                raise self._unknown_outcome(
                    f"more than {_LOOKUP_PAGES} pages of predictions since the submit"
                )
            response = await self._boundary.send(
                self._client, "GET", url, what="lookup", headers=self._auth()
            )
            page = self._boundary.json_object(response, "lookup")
            results = [p for p in page.get("results") or [] if isinstance(p, Mapping)]
            matches += await self._matches(results, sent_input, files, model, since)
            # Newest first: a page that reaches back past the submit is the last one needed.
            older = not results or min(_created(p) for p in results) < since
            following = page.get("next")
            url = None if older or not isinstance(following, str) or not following else following
        if len(matches) > 1:
            raise self._unknown_outcome(
                f"{len(matches)} identical predictions were created since the submit"
            )
        return matches[0] if matches else None

    async def _matches(
        self,
        results: list[Mapping[str, Any]],
        sent_input: Mapping[str, Any],
        files: frozenset[str],
        model: str,
        since: float,
    ) -> list[Mapping[str, Any]]:
        """The predictions of a list page created since ``since`` with this model and input."""
        name, _, version = model.partition(":")
        matches = []
        for prediction in results:
            if (
                _created(prediction) < since
                or prediction.get("model") != name
                or (version and prediction.get("version") != version)
            ):
                continue
            full = prediction if "input" in prediction else await self._full(prediction)
            if _without(full.get("input") or {}, files) == sent_input:
                matches.append(full)
        return matches

    async def _full(self, prediction: Mapping[str, Any]) -> Mapping[str, Any]:
        """A listed prediction with its input, which the list may leave out."""
        get = (prediction.get("urls") or {}).get("get")
        get = get or f"{self.base_url}/predictions/{prediction.get('id')}"
        answer = await self._boundary.send(
            self._client, "GET", get, what="lookup", headers=self._auth()
        )
        return self._boundary.json_object(answer, "lookup")

    def _unknown_outcome(self, message: str) -> ProviderError:
        return self._boundary.error(
            message, retryable=False, unknown_outcome=True, error_type="unknown_outcome"
        )

    async def _outputs(self, job: Job, prediction: Mapping[str, Any], cost: Cost) -> JobState:
        path = str(job.handle.get("output") or "")
        urls = list(_urls(output_at(prediction.get("output"), path)))
        if not urls:
            where = f" at output{path if path.startswith('[') else '.' + path}" if path else ""
            error = self._boundary.error(
                f"prediction {job.job_id} succeeded without any output URL{where}",
                retryable=False,
                error_type="invalid_output",
                cost=cost.amount,
            )
            return JobState(status=JobStatus.FAILED, error=error, raw_status="succeeded")
        files = await asyncio.gather(*(self._boundary.download(self._client, u) for u in urls))
        mimes = [
            mime_for(url, ctype) or ctype or "application/octet-stream"
            for url, (_, ctype) in zip(urls, files, strict=True)
        ]
        outputs = tuple(
            Output(name=name, data=data, mime=mime)
            for name, (data, _), mime in zip(role_names(mimes), files, mimes, strict=True)
        )
        version = prediction.get("version")
        model = str(job.handle["model"])
        return JobState(
            status=JobStatus.SUCCEEDED,
            outputs=outputs,
            cost=cost,
            raw_status="succeeded",
            model=f"{model.partition(':')[0]}:{version}" if version else model,
        )

    def _cost(self, model: str, metrics: Any) -> Cost:
        seconds = metrics.get("predict_time") if isinstance(metrics, Mapping) else None
        if not isinstance(seconds, int | float):
            return Cost(source="none", detail="replicate reported no predict_time")
        price = self.config.price(model)
        if price is None:
            price = self.config.price(model.partition(":")[0])
        if price is None:
            return Cost(source="none", detail=f"{seconds:g} s; no price for {model}")
        return Cost(
            amount=seconds * price, source="reported", detail=f"{seconds:g} s x {price:g}/s"
        )


def _file_keys(binding: Binding) -> frozenset[str]:
    """The model inputs a binding sends input files to."""
    return frozenset(i.to for i in binding.inputs if i.source in MEDIA_SOURCES)


def _without(body: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in keys}


def _urls(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.startswith(("http://", "https://", "data:")):
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _urls(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _urls(item)


def _created(prediction: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(prediction.get("created_at"))).timestamp()
    except ValueError:
        return 0.0
