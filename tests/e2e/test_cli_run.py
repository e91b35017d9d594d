"""The main job end to end through the real CLI: init, run, cut, timeline (SPEC 9, 11, 12)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import opentimelineio as otio
import pytest

from tests.e2e.conftest import Run
from tests.helpers import artifact_hashes, records

pytestmark = pytest.mark.slow


def test_run_makes_a_cut_and_timeline(recoil_cli: Run, small_project: Path) -> None:
    """SPEC 11: the cut decodes end to end, has H.264 video and audio, and lasts the beats."""
    result = recoil_cli("run", str(small_project))
    assert result.returncode == 0, result.stderr
    cut = small_project / "exports" / "cut.mp4"
    with av.open(str(cut)) as container:
        kinds = {s.type: s.codec_context.name for s in container.streams}
        assert kinds["video"] == "h264"
        assert "audio" in kinds
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(cut)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    fps = 12
    assert abs(frames - (1 + 1.5) * fps) <= 1
    assert abs(samples / rate - 2.5) <= 1 / fps + 0.05

    timeline = otio.adapters.read_from_file(str(small_project / "exports" / "cut.otio"))
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.metadata["recoil"]["beat_id"] for c in clips] == ["look", "walk"]
    for clip in clips:
        refs = clip.media_references()
        primary = clip.metadata["recoil"]["take_id"]
        alternates = set(refs) - {"DEFAULT_MEDIA"}
        beat = clip.metadata["recoil"]["beat_id"]
        assert primary.startswith(beat)
        assert len(alternates) == 1  # two takes per beat: the other is the alternate


def test_every_artifact_has_a_sidecar_and_one_receipt_per_dispatch(
    recoil_cli: Run, small_project: Path
) -> None:
    """SPEC 3/4: one receipt per dispatch; each sidecar's prompt_sha256 hashes its prompt."""
    assert recoil_cli("run", str(small_project)).returncode == 0
    receipts = records(small_project, "receipt")
    # 2 beats x 2 takes: keyframe + video each, audio for the one with dialogue.
    assert len(receipts) == 2 * 2 + 2 * 2 + 2
    assert len({r["receipt_id"] for r in receipts}) == len(receipts)
    files = [
        p for p in (small_project / "artifacts").rglob("*") if p.is_file() and p.suffix != ".json"
    ]
    assert files
    for path in files:
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        prompt = sidecar["provenance"]["prompt"]
        assert sidecar["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()


def test_two_fresh_runs_give_identical_artifacts(recoil_cli: Run, tmp_path: Path) -> None:
    """SPEC 4/8: previz is deterministic: two projects from one shot list, same bytes."""
    for name in ("a", "b"):
        assert recoil_cli("init", name).returncode == 0
        shotlist = (tmp_path / name / "shotlist.yaml").read_text()
        (tmp_path / name / "shotlist.yaml").write_text(
            shotlist.replace("resolution: 640x360", "resolution: 160x90")
        )
        result = recoil_cli("run", name, timeout=300)
        assert result.returncode == 0, result.stderr
    assert artifact_hashes(tmp_path / "a") == artifact_hashes(tmp_path / "b")
    cut_a = (tmp_path / "a" / "exports" / "cut.mp4").read_bytes()
    assert cut_a == (tmp_path / "b" / "exports" / "cut.mp4").read_bytes()


def test_second_run_generates_nothing(recoil_cli: Run, small_project: Path) -> None:
    """SPEC 7: a finished project reruns without a single new dispatch."""
    assert recoil_cli("run", str(small_project)).returncode == 0
    before = records(small_project)
    again = recoil_cli("run", str(small_project))
    assert again.returncode == 0, again.stderr
    assert records(small_project) == before
    assert "0 succeeded" in again.stdout


def test_dry_run_prints_the_plan_and_calls_nothing(recoil_cli: Run, small_project: Path) -> None:
    """SPEC 7: --dry-run prints beats, takes, dispatches and cost; no receipts are written."""
    result = recoil_cli("run", str(small_project), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "plan: 2 beats, 4 takes, 10 dispatches" in result.stdout
    receipts = small_project / "receipts.jsonl"
    assert not receipts.exists() or receipts.read_text() == ""
    assert not (small_project / "exports").exists()


def test_init_then_run_the_example(recoil_cli: Run, tmp_path: Path) -> None:
    """The README's main job: ``recoil init demo && recoil run demo``."""
    assert recoil_cli("init", "demo").returncode == 0
    result = recoil_cli("run", "demo", timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo" / "exports" / "cut.mp4").stat().st_size > 0
    assert recoil_cli("init", "demo").returncode == 2  # never overwrites a project


SMALL = ("--param", "seed=3", "--param", "width=160", "--param", "height=90")
LIGHTHOUSE = ("dispatch", "keyframe", "--prompt", "a lighthouse", "--project", "p", *SMALL)
"""``recoil dispatch`` of one small keyframe into the project ``p``."""


def test_dispatch_command_prints_artifact_and_receipt(recoil_cli: Run, tmp_path: Path) -> None:
    """SPEC 12: ``recoil dispatch`` runs one generation; --json prints the receipt."""
    (tmp_path / "p").mkdir()
    result = recoil_cli(*LIGHTHOUSE, "--json")
    assert result.returncode == 0, result.stderr
    receipt = json.loads(result.stdout)
    assert receipt["status"] == "succeeded"
    assert receipt["provider"] == "previz"
    # Recorded relative to the project folder, so that the folder can move.
    assert (tmp_path / "p" / receipt["artifacts"]["image"]["path"]).is_file()
    plain = recoil_cli(*LIGHTHOUSE)
    assert plain.returncode == 0
    assert "(cached)" in plain.stdout


def test_dispatch_errors_are_one_line(recoil_cli: Run, tmp_path: Path) -> None:
    """SPEC 2/12: unknown modality and bad payloads exit 2 with one line, no traceback."""
    (tmp_path / "p").mkdir()
    unknown = recoil_cli("dispatch", "smell", "--prompt", "x", "--project", "p")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: unknown modality 'smell'; registered modalities: audio, keyframe, upscale, video"
    ]
    bad = recoil_cli("dispatch", "keyframe", "--prompt", "x", "--param", "width=-4")
    assert bad.returncode == 2
    assert "field 'width'" in bad.stderr
    assert "Traceback" not in bad.stderr
