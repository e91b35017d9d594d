"""``recoil run`` on fal and Replicate through the shipped bindings (their loopback servers).

SPEC 8 and 9: a shot list's ``params`` and its beats' duration, fps, resolution,
frames and voices reach each hosted model in the model's own names and forms; a
parameter the model does not take is one line before any paid call.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from recoil.production.folder import open_production
from tests.e2e.remote import Server, environment, start_server
from tests.helpers import ANA, beat, recoil, records, shotlist, write_project

pytestmark = pytest.mark.slow


@pytest.fixture(params=["fal", "replicate"])
def server(request: pytest.FixtureRequest) -> Any:
    running = start_server(str(request.param))
    yield running
    running.stop()


def _sent(server: Server) -> list[tuple[str, dict[str, Any]]]:
    """(model, input) of every job the server accepted, in order."""
    control = server.control
    with control.lock:
        if server.provider == "fal":
            return [(j.model, j.input) for j in control.jobs.values()]
        return [(p.model, p.input) for p in control.predictions.values()]


def _project(tmp_path: Path, server: Server, beats: list[dict[str, Any]], **project: Any) -> Path:
    text = shotlist({"one": beats}, title="Hosted", provider=server.provider, **project)
    folder = write_project(tmp_path / "hosted", text)
    server.configure(folder, extra="[run]\nretries = 0\n")
    return folder


def test_a_beat_reaches_each_model_as_the_model_expects(server: Server, tmp_path: Path) -> None:
    """A 4 s line of dialogue at 12 fps and 160x90 with a beat's params, on kling and TTS."""
    assert ANA["voice"] == "en-us"
    says = beat("a", "Ana waits by the door", says="Still here.", duration=4)
    params = {"video": {"cfg_scale": 0.3} if server.provider == "fal" else {"mode": "pro"}}
    project = _project(tmp_path, server, [{**says, "params": params}])

    result = recoil("run", str(project), cwd=tmp_path, env=environment(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    sent = dict(_sent(server))
    receipts = {r["modality"]: r for r in records(project, "receipt")}
    image = receipts["keyframe"]["artifacts"]["image"]
    frame = open_production(project).artifacts.path_for(image["sha256"], "png").read_bytes()
    if server.provider == "fal":
        keyframe = sent["fal-ai/flux/dev"]
        assert keyframe["image_size"] == {"width": 160, "height": 90}
        video = sent["fal-ai/kling-video/v2.1/standard/image-to-video"]
        assert (video["duration"], video["cfg_scale"]) == ("5", 0.3)
        assert _decoded(video["image_url"]) == frame
        speech = sent["fal-ai/elevenlabs/tts/multilingual-v2"]
        assert (speech["text"], speech["voice"]) == ("Still here.", "en-us")
    else:
        keyframe = sent["black-forest-labs/flux-schnell"]
        assert keyframe["aspect_ratio"] == "16:9" and keyframe["go_fast"] is False
        video = sent["kwaivgi/kling-v2.1"]
        assert (video["duration"], video["mode"]) == (5, "pro")
        assert _decoded(video["start_image"]) == frame
        speech = sent["jaaari/kokoro-82m"]
        # The character's espeak voice, mapped to a kokoro voice in recoil.toml.
        assert (speech["text"], speech["voice"]) == ("Still here.", "af_sarah")
    # The params are in the receipt (and so in the cache key and the sidecar).
    assert receipts["video"]["request"]["params"] == params["video"]
    assert server.control.rejected == []


def test_an_unknown_param_is_one_line_before_any_call(server: Server, tmp_path: Path) -> None:
    params = {"video": {"motion_bucket_id": 127}}
    beats = [beat("a", "Ana waits"), beat("b", "Ana turns", params=params)]
    project = _project(tmp_path, server, beats)

    result = recoil("run", str(project), cwd=tmp_path, env=environment(tmp_path))

    assert result.returncode == 2, result.stdout + result.stderr
    problems = [line.strip() for line in result.stderr.splitlines() if "motion_bucket_id" in line]
    assert len(problems) == 1, result.stderr
    assert "has no input 'motion_bucket_id'" in problems[0] and "b-t01/video" in problems[0]
    assert "a-t01" not in problems[0]
    assert server.control.submits == 0
    assert records(project, "receipt") == []


def test_a_beat_longer_than_the_model_makes_is_one_line_before_any_call(
    server: Server, tmp_path: Path
) -> None:
    project = _project(tmp_path, server, [beat("a", "Ana waits", duration=12)])

    result = recoil("run", str(project), cwd=tmp_path, env=environment(tmp_path))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "is more than the largest; shorten the beat" in result.stderr
    assert server.control.submits == 0


def test_a_voice_the_model_lacks_is_one_line_before_any_call(tmp_path: Path) -> None:
    """Kokoro's voices are its own: a character's voice it lacks says how to fix it."""
    server = start_server("replicate")
    try:
        ana = beat("a", "Ana waits", says="Still here.")
        project = _project(tmp_path, server, [ana])
        text = (project / "shotlist.yaml").read_text()
        (project / "shotlist.yaml").write_text(text.replace("voice: en-us", "voice: en-gb"))

        result = recoil("run", str(project), cwd=tmp_path, env=environment(tmp_path))
    finally:
        server.stop()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "input.voice: got 'en-gb', allowed: 'af_alloy'" in result.stderr
    assert server.control.submits == 0


def _decoded(value: str) -> bytes:
    assert value.startswith("data:image/png;base64,"), value[:40]
    return base64.b64decode(value.partition(",")[2])
