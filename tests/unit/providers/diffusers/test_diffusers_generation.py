"""Generation off the event loop: a given-up call stops, and GPU memory errors say what to do."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from recoil.errors import ProviderError
from recoil.model.requests import KeyframeRequest
from recoil.providers.diffusers.calls import build_call
from recoil.providers.diffusers.generation import Generation, generate, provider_error
from recoil.providers.diffusers.pipelines import Placement, device_lock
from tests.helpers import records
from tests.unit.cli.running import Recoil, runner
from tests.unit.providers.diffusers.conftest import settings

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

PLACEMENT = Placement(
    folder=Path("/models/sd"),
    pipeline="StableDiffusionPipeline",
    device="cuda",
    dtype="float16",
    offload=False,
)


def _generation(placement: Placement, stop: threading.Event | None = None) -> Generation:
    request = KeyframeRequest(prompt="a door", width=32, height=32, steps=2, seed=1)
    return Generation(
        placement=placement,
        modality="keyframe",
        call=build_call(request, frozenset({"prompt", "width", "height", "num_inference_steps"})),
        fps=0.0,
        stop=stop or threading.Event(),
    )


def test_out_of_gpu_memory_is_permanent_and_names_the_fixes() -> None:
    """The same request needs the same memory: retrying it would fail the same way."""
    generation = _generation(
        Placement(
            folder=PLACEMENT.folder,
            pipeline=PLACEMENT.pipeline,
            device="mps",
            dtype="float16",
            offload=False,
        )
    )
    for exc in (
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("MPS backend out of memory (MPS allocated: 17.5 GB)"),
    ):
        error = provider_error(exc, generation)
        assert error.retryable is False
        assert error.provider_status == "out_of_memory"
        message = str(error)
        assert "mps ran out of memory running StableDiffusionPipeline at float16" in message
        assert "offload = true" in message
        assert "\n" not in message


def test_a_pipeline_refusing_its_arguments_is_permanent() -> None:
    error = provider_error(
        ValueError("`height` must be divisible by 8 but is 33."), _generation(PLACEMENT)
    )
    assert error.retryable is False
    assert (
        str(error)
        == "StableDiffusionPipeline refused the request: `height` must be divisible by 8 but is 33."
    )


def test_a_call_given_up_while_it_waits_for_its_device_never_starts(sd_folder: Path) -> None:
    placement = Placement(
        folder=sd_folder,
        pipeline="StableDiffusionPipeline",
        device="cpu",
        dtype="float32",
        offload=False,
    )
    stop = threading.Event()
    stop.set()
    with pytest.raises(ProviderError, match="given up") as caught:
        generate(_generation(placement, stop))
    assert caught.value.retryable is True


def test_a_timed_out_dispatch_stops_its_worker_at_the_next_step(
    tmp_path: Path, sd_folder: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI returns soon after the timeout, with the device free again.

    500 steps at 128 x 128 take minutes here; the CLI cannot return before its
    worker thread ends (``asyncio.run`` joins it), so a quick return shows the
    worker stopped at its next step.
    """
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "film"
    project.mkdir()
    (project / "recoil.toml").write_text("[run]\ntimeout_s = 1\n" + settings(sd_folder))
    recoil: Recoil = runner()
    start = time.monotonic()
    result = recoil(
        "dispatch", "keyframe", "-p", "a door", "--provider", "diffusers", "--project", project,
        "--param", "steps=500", "--param", "width=128", "--param", "height=128",
    )  # fmt: skip
    took = time.monotonic() - start
    assert result.exit_code == 1
    [receipt] = records(project, "receipt")
    assert receipt["error"]["type"] == "timeout"
    assert took < 30, took
    lock = device_lock("cpu")
    assert lock.acquire(timeout=5)
    lock.release()
