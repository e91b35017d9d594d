"""The demo project end to end on ComfyUI, fal and Replicate (their loopback servers).

SPEC 8 and 11: ``recoil init demo`` (at 160x90, for speed), the provider's
tables in ``recoil.toml``, ``recoil run demo --provider NAME`` with the keys in
the environment; the cut decodes with its video and dialogue, the timeline has
a clip per beat, every dispatch went to NAME exactly once, and no key is
written anywhere, after runs that succeed and runs that fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import av
import numpy as np
import opentimelineio as otio
import pytest
import yaml

from tests.e2e.remote import KEYS, REMOTE, Server, environment, leaks, start_server
from tests.helpers import ANA_WAITS, recoil, records, shotlist, write_project

pytestmark = pytest.mark.slow

ROLE = {"keyframe": ("image", "image/"), "video": ("video", "video/"), "audio": ("audio", "audio/")}


@pytest.fixture(params=REMOTE)
def server(request: pytest.FixtureRequest) -> Any:
    running = start_server(request.param)
    yield running
    running.stop()


def _demo(tmp_path: Path, env: dict[str, str]) -> Path:
    result = recoil("init", "demo", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    shotlist = tmp_path / "demo" / "shotlist.yaml"
    text, count = re.subn(r"(?m)^(\s*resolution:\s*)\S+", r"\g<1>160x90", shotlist.read_text())
    assert count == 1
    shotlist.write_text(text)
    return tmp_path / "demo"


def _beats(project: Path) -> tuple[float, list[tuple[str, float, bool]]]:
    """The shot list's fps and its enabled beats: (id, duration, has dialogue)."""
    data = yaml.safe_load((project / "shotlist.yaml").read_text())
    beats = [
        (beat["id"], float(beat["duration"]), bool(beat.get("dialogue")))
        for scene in data["scenes"]
        for beat in scene["beats"]
        if beat.get("enabled", True)
    ]
    return float(data["project"]["fps"]), beats


def _cut(path: Path) -> tuple[int, float, np.ndarray[Any, Any], int]:
    """Video codec check, then (frames, fps, mono audio samples, sample rate) of the cut."""
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        fps = float(container.streams.video[0].average_rate or 0)
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        chunks = [frame.to_ndarray().mean(axis=0) for frame in container.decode(audio=0)]
    return frames, fps, np.concatenate(chunks), rate


def test_the_demo_runs_end_to_end(server: Server, tmp_path: Path) -> None:
    """Exit 0; cut, timeline, receipts as the shot list says; one submit per dispatch."""
    env = environment(tmp_path)
    project = _demo(tmp_path, env)
    server.configure(project)
    result = recoil("run", "demo", "--provider", server.provider, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    fps, beats = _beats(project)
    frames, cut_fps, audio, rate = _cut(project / "exports" / "cut.mp4")
    assert cut_fps == fps
    assert frames == sum(round(duration * fps) for _, duration, _ in beats)
    assert abs(len(audio) / rate - frames / fps) < 0.05  # plus the AAC encoder's padding
    start = 0.0
    for beat_id, duration, speaks in beats:
        # Every provider's speech is a tone from the beat's first frame; other beats are silent.
        window = audio[int((start + 0.1) * rate) : int((start + 0.4) * rate)]
        loudness = float(np.sqrt(np.mean(window**2)))
        assert (loudness > 0.01) == speaks, (beat_id, loudness)
        start += duration

    timeline = otio.adapters.read_from_file(str(project / "exports" / "cut.otio"))
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.metadata["recoil"]["beat_id"] for c in clips] == [b for b, _, _ in beats]
    assert all(c.media_reference.target_url.endswith(".mp4") for c in clips)

    receipts = records(project, "receipt")
    assert {r["provider"] for r in receipts} == {server.provider}
    assert {r["status"] for r in receipts} == {"succeeded"}
    for receipt in receipts:
        name, mime = ROLE[receipt["modality"]]
        assert receipt["artifacts"][name]["mime"].startswith(mime), receipt["artifacts"]
    assert server.control.submits == len(receipts)
    if server.provider == "comfyui":  # the beat chained from a video frame ran image-to-image
        chained = {r["model"] for r in receipts if r["provenance"].get("beat_id") == "offer"}
        assert "keyframe_from_image" in chained

    assert leaks(tmp_path, result.stdout, result.stderr) == []


TINY = shotlist({"one": [ANA_WAITS]}, title="Tiny", takes_per_beat=1, seed=3)


@pytest.mark.parametrize("provider", ["fal", "replicate"])
def test_a_failing_run_leaks_no_key(provider: str, tmp_path: Path) -> None:
    """SPEC 3: a key the server echoes back in its errors appears in no file or message."""
    server = start_server(provider)
    try:
        project = write_project(tmp_path / "tiny", TINY)
        server.configure(project, extra="[run]\nretries = 0\n")
        control = server.control
        if provider == "fal":
            key = KEYS["FAL_KEY"]
            control.script(
                "POST", "/fal-ai/flux", status=401, body={"detail": f"bad key 'Key {key}'"}
            )
            control.fail_next = "runner"  # the speech job's result is a 500
        else:
            key = KEYS["REPLICATE_API_TOKEN"]
            control.script(
                "POST", "/v1/predictions", status=401, body={"detail": f"bad token {key}"}
            )
            control.fail_next = f"CUDA error (worker env REPLICATE_API_TOKEN={key})"
        result = recoil(
            "run", "tiny", "--provider", provider, cwd=tmp_path, env=environment(tmp_path)
        )
        receipts = records(project, "receipt")
    finally:
        server.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    errors = json.dumps([r["error"] for r in receipts])
    assert {r["status"] for r in receipts} == {"failed"}
    assert "HTTP 401" in errors and "[redacted]" in errors
    assert leaks(tmp_path, result.stdout, result.stderr) == []
