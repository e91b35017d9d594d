"""What the CLI checks of a ComfyUI binding before a prompt is sent (issue 15).

``recoil providers``, ``recoil run --dry-run`` and the run's preflight do the
same checks against the server: node classes, bound inputs, the output node,
and that every request of the shot list has a place in its template (the
keyframe a video step is animated from needs an ``image`` binding).
``recoil dispatch`` checks the binding against the server before it sends
the prompt. Each refusal is one line. The CLI runs in-process, against the
loopback ComfyUI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.remote import WORKFLOWS
from tests.helpers import beat, records, shotlist, write_project
from tests.providers.servers import comfyui
from tests.providers.servers.comfyui import ComfyControl
from tests.unit.cli.running import Recoil, error_line, runner

KEYFRAME = """
[providers.comfyui.templates.keyframe]
workflow = "workflows/txt2img.json"
output = "9"
[providers.comfyui.templates.keyframe.inputs]
prompt = "6.text"
seed = "3.seed"
width = "5.width"
height = "5.height"
"""
VIDEO = """
[providers.comfyui.templates.video]
workflow = "workflows/wan_i2v.json"
output = "58"
[providers.comfyui.templates.video.inputs]
prompt = "6.text"
seed = "3.seed"
image = "52.image"
width = "50.width"
height = "50.height"
frames = "50.length"
fps = "57.fps"
"""


@pytest.fixture
def server() -> Iterator[tuple[str, ComfyControl]]:
    url, control = comfyui.start()
    control.latency_s = 0.01
    yield url, control
    control.stop()


@pytest.fixture
def recoil(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Recoil:
    monkeypatch.chdir(tmp_path)
    return runner()


def _project(folder: Path, url: str, templates: str) -> Path:
    """A one-beat project (a keyframe and a clip, no dialogue) on the server at ``url``."""
    text = shotlist(
        {"door": [beat("open", "the door opens")]}, title="Door", takes_per_beat=1, seed=3
    )
    text = text.replace("project:\n", "project:\n  provider: comfyui\n", 1)
    settings = f'[providers.comfyui]\nservers = ["{url}"]\n{templates}'
    project = write_project(folder / "door", text, settings)
    shutil.copytree(WORKFLOWS, project / "workflows")
    return project


def test_a_good_binding_passes_every_check_and_runs(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    project = _project(tmp_path, url, KEYFRAME + VIDEO)
    assert recoil("providers", project).exit_code == 0
    assert recoil("run", project, "--dry-run").exit_code == 0
    assert control.submits == 0
    result = recoil("run", project)
    assert result.exit_code == 0, result.stderr
    assert control.submits == 2


# -- 3: the dry run checks the servers as `recoil providers` does ----------------------


def test_a_dry_run_fails_on_a_node_class_the_server_lacks(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    project = _project(tmp_path, url, KEYFRAME + VIDEO)
    workflow = project / "workflows" / "txt2img.json"
    workflow.write_text(workflow.read_text().replace('"VAEDecode"', '"NotInstalledNode"'))
    result = recoil("run", project, "--dry-run")
    assert result.exit_code != 0
    line = error_line(result)
    assert "node class 'NotInstalledNode' is not installed on the server" in line
    assert "(dry run: nothing sent)" not in result.stdout
    assert control.submits == 0


def test_a_dry_run_fails_on_a_bound_input_the_node_lacks(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    project = _project(tmp_path, url, KEYFRAME.replace('"5.width"', '"5.widht"') + VIDEO)
    line = error_line(recoil("run", project, "--dry-run"))
    assert "binding width -> 5.widht: node 5 (EmptyLatentImage) has no input 'widht'" in line
    assert control.submits == 0


# -- 5: `recoil dispatch` checks the binding before it sends the prompt ---------------


def test_dispatch_refuses_a_misspelled_bound_input(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    project = _project(tmp_path, url, KEYFRAME.replace('"5.width"', '"5.widht"'))
    result = recoil(
        "dispatch", "keyframe", "-p", "a door", "--provider", "comfyui", "--project", project
    )
    assert result.exit_code != 0
    line = error_line(result)
    assert "binding width -> 5.widht" in line
    assert "it has batch_size, height, width" in line
    assert control.submits == 0


# -- 6: a video template without an image binding is caught before the run -----------


def _no_image(tmp_path: Path, url: str) -> Path:
    return _project(tmp_path, url, KEYFRAME + VIDEO.replace('image = "52.image"\n', ""))


def test_providers_catches_a_video_template_without_an_image_binding(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, _ = server
    result = recoil("providers", _no_image(tmp_path, url))
    assert result.exit_code == 1
    assert "FAIL comfyui" in result.stdout
    [fix] = [line for line in result.stdout.splitlines() if "fix:" in line]
    assert "comfyui template 'video' binds no 'image' input" in fix


def test_a_dry_run_catches_a_video_template_without_an_image_binding(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    result = recoil("run", _no_image(tmp_path, url), "--dry-run")
    assert result.exit_code != 0
    assert "comfyui template 'video' binds no 'image' input" in error_line(result)
    assert control.submits == 0


def test_a_run_with_a_video_template_without_an_image_binding_sends_nothing(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    project = _no_image(tmp_path, url)
    result = recoil("run", project)
    assert result.exit_code != 0
    assert "comfyui template 'video' binds no 'image' input" in error_line(result)
    assert control.submits == 0
    assert records(project, "receipt") == []


def test_the_reason_a_step_failed_is_printed(
    recoil: Recoil, server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    project = _project(tmp_path, url, KEYFRAME + VIDEO)
    control.fail_node = "50"  # the video graph's WanImageToVideo fails while running
    result = recoil("run", project)
    assert result.exit_code == 1
    assert (
        "failed: open-t01/video: video dispatch via comfyui failed: comfyui: node 50 "
        "(WanImageToVideo) failed while running: RuntimeError: mat1 and mat2" in result.stderr
    )
