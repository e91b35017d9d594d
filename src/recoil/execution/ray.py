"""The Ray backend: provider calls run as Ray tasks; receipts and files stay with the driver.

:class:`RayDispatcher` is a :class:`~recoil.dispatch.Dispatcher` whose
providers are :class:`RayProvider` proxies. Everything but the provider's own
work happens in the driver, exactly as with the local dispatcher: validation,
the cache, the ``submitted`` record, polling and timeouts, storing outputs,
provenance and receipts. Each ``submit``, ``check`` and ``cancel`` is one Ray
task that builds the provider in the worker from its registry factory and
:class:`~recoil.providers.base.ProviderConfig` (once per worker process) and
sends back the job or state, outputs as bytes.

Files travel as bytes both ways, so a worker needs no view of the project
folder: the driver reads a request's input files (the keyframe a clip starts
from) and sends them with the ``submit`` (or ``find``); the worker writes them
to a temporary folder of its own, hands the provider the request with those
paths, and removes the folder when the call returns.

Per-provider resources come from the provider's options: ``ray_resources``
(e.g. ``{"num_gpus": 1}``, or ``{"resources": {"comfy": 1}}``) applies to
``submit``, where the work happens; ``check`` and ``cancel`` only ask, so they
take no CPU slot. The driver builds each provider too (for validation and
estimates), so an adapter should defer heavy setup, such as loading a model,
to its first ``submit``.

Ray is an optional extra: ``pip install 'recoil[ray]'``. Without an address
(``[run] ray_address``, or ``RAY_ADDRESS``) a local Ray is started; with one,
the cluster is joined.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import pickle
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from recoil.dispatch import Dispatcher
from recoil.errors import ConfigError, ProviderError
from recoil.model.context import DispatchContext
from recoil.model.cost import Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request
from recoil.providers.base import (
    ChecksRequests,
    Job,
    JobState,
    Provider,
    ProviderFactory,
    identity_of,
    learn_identity,
)
from recoil.providers.registry import Registry

T = TypeVar("T")
RESOURCES_OPTION = "ray_resources"
ADDRESS_ENV = "RAY_ADDRESS"
CONNECT_TIMEOUT_S = 5.0
"""How long a cluster's head node has to accept a connection before the run gives up."""
_CALL_OPTIONS = frozenset({"num_cpus", "num_gpus", "memory", "resources", "accelerator_type"})


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray executor needs Ray: pip install 'recoil[ray]'") from None
    return ray


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker needs to build a provider: its factory and configuration."""

    key: str
    """Identifies the (factory, configuration) pair; workers build one instance per key."""
    name: str
    factory: ProviderFactory
    config: ProviderConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class InputFile:
    """One input file of a request, as the driver read it."""

    path: str
    """Where the driver read it (the request names it by this path)."""
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Shipped:
    """A request and the bytes of its input files, as a worker receives them."""

    request: Request
    files: tuple[InputFile, ...]


class RayProvider:
    """A provider whose calls run as Ray tasks (see the module docstring)."""

    def __init__(self, name: str, local: Provider, spec: WorkerSpec) -> None:
        ray = _ray()
        self.local = local
        """The driver's instance: validation, model names, estimates, preflight."""
        self._spec = ray.put(spec)
        self._resources = _resources(name, spec.config)
        self._submit = ray.remote(_submit_task).options(**self._resources)
        self._check = ray.remote(_check_task).options(num_cpus=0)
        self._find = ray.remote(_find_task).options(num_cpus=0)
        self._cancel = ray.remote(_cancel_task).options(num_cpus=0)

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.local.name

    @property
    def version(self) -> str:
        """The adapter's version (part of the cache key, as locally)."""
        return self.local.version

    @property
    def poll_interval_s(self) -> float:
        """The adapter's poll interval."""
        return self.local.poll_interval_s

    @property
    def remote(self) -> bool:
        """Whether the adapter's jobs outlive this process (as locally)."""
        return self.local.remote

    def model_for(self, request: Request) -> str:
        """Answered by the driver's instance."""
        return self.local.model_for(request)

    def validate(self, request: Request) -> None:
        """Answered by the driver's instance."""
        self.local.validate(request)

    def identity_for(self, request: Request) -> Mapping[str, Any]:
        """Answered by the driver's instance (nothing if it has no identity)."""
        return identity_of(self.local, request)

    async def learn_identity(self, request: Request) -> bool:
        """Answered by the driver's instance (``False`` if it has no identity to learn)."""
        return await learn_identity(self.local, request)

    async def check_requests(self, requests: Sequence[tuple[str, Request]]) -> list[str]:
        """Answered by the driver's instance (no problems if it has no such check)."""
        if isinstance(self.local, ChecksRequests):
            return await self.local.check_requests(requests)
        return []

    def estimate_cost(self, request: Request) -> Cost:
        """Answered by the driver's instance."""
        return self.local.estimate_cost(request)

    async def preflight(self) -> list[str]:
        """Answered by the driver's instance."""
        return await self.local.preflight()

    async def submit(self, request: Request, key: str) -> Job:
        """``submit`` in a Ray task with the provider's resources."""
        shipped = await asyncio.to_thread(_shipped, request)
        # A worker lost mid-submit may have reached the vendor: never resend blindly.
        job = await _call(self._submit.remote(self._spec, shipped, key), during_submit=True)
        assert isinstance(job, Job)
        return job

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """``find`` in a Ray task."""
        shipped = await asyncio.to_thread(_shipped, request)
        job = await _call(self._find.remote(self._spec, shipped, key, sent_us), during_submit=False)
        assert job is None or isinstance(job, Job)
        return job

    async def check(self, job: Job) -> JobState:
        """``check`` in a Ray task."""
        state = await _call(self._check.remote(self._spec, job), during_submit=False)
        assert isinstance(state, JobState)
        return state

    async def cancel(self, job: Job) -> None:
        """``cancel`` in a Ray task."""
        await _call(self._cancel.remote(self._spec, job), during_submit=False)

    async def aclose(self) -> None:
        """Close the driver's instance; workers keep theirs until they exit."""
        await self.local.aclose()


class RayDispatcher(Dispatcher):
    """A dispatcher whose provider calls run as Ray tasks (see the module docstring).

    ``address`` is a Ray cluster address (default: ``RAY_ADDRESS``, else a
    local Ray); ``init_options`` go to ``ray.init`` when this starts Ray. A
    head that does not answer is a :class:`~recoil.errors.ConfigError` within
    :data:`CONNECT_TIMEOUT_S` (Ray itself would wait for it indefinitely).
    """

    def __init__(
        self,
        context: DispatchContext,
        *,
        registry: Registry | None = None,
        address: str | None = None,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        ray = _ray()
        if not ray.is_initialized():
            _check_reachable(address or os.environ.get(ADDRESS_ENV))
            ray.init(address=address, **dict(init_options or {}))
        super().__init__(context, registry=registry)

    def provider(self, name: str, modality: str, context: DispatchContext) -> Provider:
        """The Ray proxy of provider ``name`` (built on first use)."""
        factory = self.registry.provider(name, modality)
        instance = self._providers.get(name)
        if instance is None:
            config = context.provider_config.get(name) or ProviderConfig()
            spec = WorkerSpec(
                key=_spec_key(name, factory, config), name=name, factory=factory, config=config
            )
            instance = RayProvider(name, factory(config), spec)
            self._providers[name] = instance
        return instance


def _check_reachable(address: str | None) -> None:
    """Fail fast on a ``host:port`` that nothing listens on (``auto`` is Ray's to find)."""
    host, sep, port = (address or "").rpartition(":")
    if not sep or not port.isdigit() or "://" in host:
        return  # not host:port (a ray:// address from RAY_ADDRESS is Ray's to dial)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray head node at {address} ({exc.strerror or exc}); check "
            f"[run] ray_address (or {ADDRESS_ENV}), or start the head there: ray start --head"
        ) from None


def _resources(name: str, config: ProviderConfig) -> dict[str, Any]:
    raw = config.options.get(RESOURCES_OPTION, {})
    if not isinstance(raw, Mapping) or not set(raw) <= _CALL_OPTIONS:
        raise ConfigError(
            f"provider {name!r}: option {RESOURCES_OPTION} must be a table with keys from "
            f"{sorted(_CALL_OPTIONS)}, e.g. {{num_gpus = 1}}; got {raw!r}"
        )
    return dict(raw)


def _shipped(request: Request) -> Shipped:
    """``request`` with the bytes of its input files, read here in the driver."""
    files: dict[str, InputFile] = {}
    for label, path in request.inputs().items():
        if path in files:
            continue
        try:
            files[path] = InputFile(path=path, data=Path(path).read_bytes())
        except OSError as exc:
            raise ProviderError(
                f"cannot read the {request.modality} input {label!r} at {path} to send it "
                f"to a Ray worker: {exc.strerror or exc}; restore the file (`recoil verify` "
                "lists damaged outputs) and run again",
                retryable=False,
                provider_status="input_unreadable",
            ) from None
    return Shipped(request=request, files=tuple(files.values()))


def _spec_key(name: str, factory: ProviderFactory, config: ProviderConfig) -> str:
    where = f"{getattr(factory, '__module__', '')}.{getattr(factory, '__qualname__', '')}"
    blob = pickle.dumps(
        (name, where, dict(config.options), dict(config.prices), dict(config.secrets))
    )
    return hashlib.sha256(blob).hexdigest()


# -- the driver's side of a call ---------------------------------------------------


async def _call(ref: Any, *, during_submit: bool) -> Job | JobState | None:
    """Await a task's answer and turn it back into values and errors."""
    ray = _ray()
    try:
        kind, value, error = await ref
    except asyncio.CancelledError:
        ray.cancel(ref)  # a timeout or a stop: the task should not run on unseen
        raise
    except ray.exceptions.RayTaskError as exc:
        raise exc.cause from None  # an adapter bug: surface it as it would be locally
    except ray.exceptions.RayError as exc:
        raise ProviderError(
            f"the Ray worker running this call was lost: {exc}",
            retryable=not during_submit,
            unknown_outcome=during_submit,
            error_type="ray_worker_lost",
        ) from None
    if kind == "error":
        raise _error_from_dict(error)
    if error is not None:
        assert isinstance(value, Job | JobState)
        return _with_error(value, _error_from_dict(error))
    assert value is None or isinstance(value, Job | JobState)
    return value


def _with_error(value: Job | JobState, error: ProviderError) -> Job | JobState:
    if isinstance(value, JobState):
        return dataclasses.replace(value, error=error)
    assert value.result is not None
    return dataclasses.replace(value, result=dataclasses.replace(value.result, error=error))


# -- the worker's side ---------------------------------------------------------------

_worker_providers: dict[str, Provider] = {}
_worker_loop: list[asyncio.AbstractEventLoop] = []

Answer = tuple[str, Any, dict[str, Any] | None]
"""(``"ok"`` or ``"error"``, the value, the error carried by the value, if any)."""


def _submit_task(spec: WorkerSpec, shipped: Shipped, key: str) -> Answer:
    with _unpacked(shipped) as request:
        return _in_worker(spec, lambda p: p.submit(request, key))


def _find_task(spec: WorkerSpec, shipped: Shipped, key: str, sent_us: int) -> Answer:
    with _unpacked(shipped) as request:
        return _in_worker(spec, lambda p: p.find(request, key, sent_us))


def _check_task(spec: WorkerSpec, job: Job) -> Answer:
    return _in_worker(spec, lambda p: p.check(job))


def _cancel_task(spec: WorkerSpec, job: Job) -> Answer:
    return _in_worker(spec, lambda p: p.cancel(job))


@contextmanager
def _unpacked(shipped: Shipped) -> Iterator[Request]:
    """The request naming copies of its input files in a folder of this worker's."""
    request = shipped.request
    if not shipped.files:
        yield request
        return
    with tempfile.TemporaryDirectory(prefix="recoil-inputs-") as folder:
        moved: dict[str, str] = {}
        for i, file in enumerate(shipped.files):
            # A folder each keeps the file's own name: a provider may go by its suffix.
            copy = Path(folder, str(i), Path(file.path).name)
            copy.parent.mkdir()
            copy.write_bytes(file.data)
            moved[file.path] = str(copy)
        changes: dict[str, Any] = {}
        for name in request.input_fields:
            value = getattr(request, name)
            if isinstance(value, str):
                changes[name] = moved[value]
            elif isinstance(value, tuple):
                changes[name] = tuple(moved[item] for item in value)
        yield dataclasses.replace(request, **changes)


def _in_worker(spec: WorkerSpec, call: Callable[[Provider], Awaitable[T]]) -> Answer:
    # One loop per worker process, kept across tasks: providers hold clients
    # (HTTP pools, process pools) bound to the loop they were first used on.
    if not _worker_loop:
        _worker_loop.append(asyncio.new_event_loop())
    loop = _worker_loop[0]
    provider = _worker_providers.get(spec.key)
    if provider is None:
        provider = _worker_providers[spec.key] = spec.factory(spec.config)
    try:
        value = loop.run_until_complete(call(provider))
    except ProviderError as exc:
        return ("error", None, _error_to_dict(exc))
    except OSError as exc:  # connection trouble, as the dispatcher treats it locally
        error = ProviderError(str(exc), retryable=True, error_type=type(exc).__name__)
        return ("error", None, _error_to_dict(error))
    return _portable(value)


def _portable(value: object) -> Answer:
    """Errors travel as dicts: ProviderError's keyword-only fields do not pickle."""
    if isinstance(value, JobState) and value.error is not None:
        return ("ok", dataclasses.replace(value, error=None), _error_to_dict(value.error))
    if isinstance(value, Job) and value.result is not None and value.result.error is not None:
        result = dataclasses.replace(value.result, error=None)
        return ("ok", dataclasses.replace(value, result=result), _error_to_dict(value.result.error))
    return ("ok", value, None)


def _error_to_dict(exc: ProviderError) -> dict[str, Any]:
    return {
        "message": str(exc),
        "retryable": exc.retryable,
        "provider_status": exc.provider_status,
        "retry_after_s": exc.retry_after_s,
        "unknown_outcome": exc.unknown_outcome,
        "error_type": exc.error_type,
        "cost": exc.cost,
    }


def _error_from_dict(data: dict[str, Any] | None) -> ProviderError:
    assert data is not None
    fields = dict(data)
    return ProviderError(fields.pop("message"), **fields)
