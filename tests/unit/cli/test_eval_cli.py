"""``recoil eval`` scores loose files; ``recoil score`` fills in a project's scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.unit.cli.running import Recoil, error_line


def _image(path: Path, value: int) -> Path:
    rng = np.random.default_rng(1)
    pixels = np.clip(rng.normal(value, 40, (48, 64, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_eval_scores_images_and_says_what_it_skipped(recoil: Recoil) -> None:
    good = _image(Path("good.png"), 120)
    Image.new("RGB", (64, 48)).save("black.png")
    result = recoil("eval", good, "black.png", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [entry["modality"] for entry in listed] == ["keyframe", "keyframe"]
    scores = {entry["file"]: entry["scores"] for entry in listed}
    assert scores["black.png"]["exposure"]["value"] < scores["good.png"]["exposure"]["value"]
    assert "mean_luma" in scores["good.png"]["exposure"]["measurements"]
    assert listed[0]["skipped"][0]["scorer"] == "prompt_adherence"

    text = recoil("eval", good)
    assert text.exit_code == 0
    assert text.stdout.startswith("good.png (keyframe)\n")
    assert "  exposure " in text.stdout and "prompt_adherence skipped: " in text.stdout


def test_eval_bad_input_is_one_line(recoil: Recoil) -> None:
    Path("notes.txt").write_text("hello")
    Path("broken.png").write_bytes(b"not a png")
    assert "--modality" in error_line(recoil("eval", "notes.txt"))
    assert "broken.png" in error_line(recoil("eval", "broken.png"))
    assert "nosuch.png" in error_line(recoil("eval", "nosuch.png"))
    line = error_line(recoil("eval", "broken.png", "--modality", "sound"))
    assert line == "error: --modality must be one of audio, keyframe, upscale, video, got 'sound'"
    for args in (["eval", "notes.txt"], ["eval", "broken.png"], ["score", "nowhere"]):
        assert recoil(*args).exit_code == 2


def test_score_on_a_project_run_without_eval(recoil: Recoil) -> None:
    assert recoil("init", "p").exit_code == 0
    run = recoil("run", "p", "--no-eval")
    assert run.exit_code == 0, run.output
    first = recoil("score", "p")
    assert first.exit_code == 0, first.output
    assert "scored 26 of 26 outputs" in first.stdout
    again = recoil("score", "p")
    assert "scored 0 of 26 outputs (0 new scores); nothing was generated" in again.stdout
    listed = json.loads(recoil("receipts", "p", "--json").stdout)
    assert all(r["eval_scores"] for r in listed if r["status"] == "succeeded")
    assert " score " in recoil("status", "p").stdout
