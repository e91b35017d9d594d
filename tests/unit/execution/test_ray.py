"""The Ray backend runs the same workflow to the same bytes as the local dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from recoil.dispatch import Dispatcher
from recoil.errors import ConfigError
from recoil.execution.policy import RetryPolicy
from recoil.execution.scheduler import Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import Receipt, Submitted
from recoil.model.requests import KeyframeRequest, Request
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.providers.base import Job, Provider
from recoil.providers.fake import FakeProvider
from recoil.providers.registry import Registry, register_default_runners
from recoil.records.log import read_records

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        # Ray's switch for a cluster kept on loopback (as on macOS): without it the local
        # Ray listens on every interface and dials the machine's network address.
        patch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
        yield
        ray.shutdown()


def make_workflow() -> Workflow:
    return Workflow(
        workflow_id="wf-ray",
        steps=[
            WorkflowStep(
                step_id="key",
                modality="keyframe",
                payload={"prompt": "a lighthouse", "fake_fail": 1, "fake_retry_after_s": 0.01},
            ),
            WorkflowStep(
                step_id="clip",
                modality="video",
                payload={
                    "prompt": "a lighthouse",
                    "image": {"$step": "key", "output": "image"},
                    "duration_s": 0.5,
                    "fake_async": True,
                    "fake_latency_s": 0.05,
                },
                depends_on=["key"],
            ),
            WorkflowStep(step_id="line", modality="audio", payload={"prompt": "hello"}),
        ],
    )


def run(context: DispatchContext, dispatcher: Dispatcher) -> tuple[Workflow, Provider]:
    """Run the workflow; also return the provider instance the run used."""
    wf = make_workflow()

    async def main() -> Provider:
        async with dispatcher:
            scheduler = Scheduler(dispatcher, retry=RetryPolicy(base_delay_s=0.01))
            await scheduler.run([Unit(workflow=wf, context=context)])
            return dispatcher.provider("fake", "keyframe", context)

    return wf, asyncio.run(main())


def context_at(root: Path, **options: object) -> DispatchContext:
    config = ProviderConfig(options={"calls_file": str(root / "calls.txt"), **options})
    return DispatchContext(
        project=root, default_provider="fake", provider_config={"fake": config}, seed=11
    )


def test_ray_gives_the_same_artifacts_as_local(tmp_path: Path, local_ray: None) -> None:
    from recoil.execution.ray import RayDispatcher, RayProvider

    local_ctx = context_at(tmp_path / "local")
    ray_ctx = context_at(tmp_path / "ray", ray_resources={"num_cpus": 1})
    local, _ = run(local_ctx, Dispatcher(local_ctx))
    remote, proxy = run(ray_ctx, RayDispatcher(ray_ctx))

    def digests(wf: Workflow) -> dict[str, dict[str, str]]:
        assert all(s.status is StepStatus.SUCCEEDED for s in wf.steps), [s.error for s in wf.steps]
        return {
            s.step_id: {k: a.sha256 for k, a in s.receipt.artifacts.items()}
            for s in wf.steps
            if s.receipt is not None
        }

    assert digests(remote) == digests(local)
    assert isinstance(proxy, RayProvider)
    assert proxy.local.submits == 0  # type: ignore[attr-defined]  # the work ran in workers
    assert len((tmp_path / "ray" / "calls.txt").read_text().splitlines()) >= 4
    records = list(read_records(ray_ctx.receipts_file))
    failed = [r for r in records if isinstance(r, Receipt) and not r.succeeded]
    assert failed and failed[0].error is not None
    assert failed[0].error.retryable and failed[0].error.provider_status == "503"
    assert any(isinstance(r, Submitted) for r in records)  # the async job was recorded first
    for artifact in remote.steps[1].receipt.artifacts.values():  # type: ignore[union-attr]
        assert (ray_ctx.receipts_file.parent / artifact.path).is_file()
        assert artifact.path.startswith("artifacts/")  # relative to the project: it can move


def test_bad_ray_resources_are_a_config_error(tmp_path: Path, local_ray: None) -> None:
    from recoil.execution.ray import RayDispatcher

    ctx = context_at(tmp_path, ray_resources={"gpus": 1})
    dispatcher = RayDispatcher(ctx)
    with pytest.raises(ConfigError, match="ray_resources"):
        dispatcher.prepare("keyframe", {"prompt": "x"}, ctx)
    asyncio.run(dispatcher.aclose())


def test_find_runs_in_a_worker_like_submit(tmp_path: Path, local_ray: None) -> None:
    """A crashed run's submit is looked up through Ray as it would be locally."""
    from recoil.execution.ray import RayDispatcher

    ctx = context_at(tmp_path)
    dispatcher = RayDispatcher(ctx)
    prepared = dispatcher.prepare("keyframe", {"prompt": "a lighthouse"}, ctx)
    provider = prepared.provider

    async def scenario() -> tuple[Job, Job | None, Job | None]:
        try:
            job = await provider.submit(prepared.request, "r-crashed")
            found = await provider.find(prepared.request, "r-crashed", 0)
            missing = await provider.find(prepared.request, "r-never-sent", 0)
            return job, found, missing
        finally:
            await dispatcher.aclose()

    job, found, missing = asyncio.run(scenario())
    assert provider.remote  # the fake with a calls file: its jobs outlive the process
    assert found is not None and found.job_id == job.job_id
    assert missing is None
    assert provider.local.submits == 0  # type: ignore[attr-defined]  # the work ran in workers


class CheckingFake(FakeProvider):
    """A fake that checks requests before a run and learns an identity, as hosted adapters do."""

    async def check_requests(self, requests: Sequence[tuple[str, Request]]) -> list[str]:
        return [f"{label}: no lighthouses" for label, r in requests if "lighthouse" in r.prompt]

    async def learn_identity(self, request: Request) -> bool:
        return request.model is None


def test_the_driver_answers_preflight_checks_and_identity(tmp_path: Path, local_ray: None) -> None:
    """A run's request checks and identity lookups go to the driver's instance, as locally."""
    from recoil.execution.ray import RayDispatcher

    registry = register_default_runners(Registry(load_entry_points=False))
    registry.register_provider("checking", CheckingFake, ["keyframe"])
    ctx = context_at(tmp_path)
    dispatcher = RayDispatcher(ctx, registry=registry)
    request = KeyframeRequest(prompt="a lighthouse")

    async def scenario() -> tuple[list[str], bool, list[str], bool]:
        try:
            checking = dispatcher.provider("checking", "keyframe", ctx)
            plain = dispatcher.provider("fake", "keyframe", ctx)
            return (
                await checking.check_requests([("b1", request)]),  # type: ignore[attr-defined]
                await checking.learn_identity(request),  # type: ignore[attr-defined]
                await plain.check_requests([("b1", request)]),  # type: ignore[attr-defined]
                await plain.learn_identity(request),  # type: ignore[attr-defined]
            )
        finally:
            await dispatcher.aclose()

    assert asyncio.run(scenario()) == (["b1: no lighthouses"], True, [], False)
