"""What scoring costs a user: the demo's 26 artifacts, a 10 s clip, and its share of a run.

- score the demo: ``recoil run demo --no-eval`` once, then time
  ``score_project`` (what ``recoil score`` does: every scorer on every
  succeeded step's output, the eval records appended and indexed) on a fresh
  copy of that project, best of ``--repeat``.
- a 10 s 24 fps 640x360 clip: every video scorer, decode included, on one
  core (``benchmarks/evals_scorers.py`` has the per-kind figures); and the
  lower bound, decoding the same frames alone, as a ratio.
- share of the run: ``run_production`` on a fresh demo with scoring on and
  with it off, interleaved, best of ``--repeat`` each: the extra time as a
  share of the run without scoring. Target: under 20 %.

Run: ``python benchmarks/evals.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from evals_scorers import SIZE, decode_floor, time_scoring  # noqa: E402

from recoil.model.requests import VideoRequest  # noqa: E402
from recoil.production.run import RunOptions, run_production_sync  # noqa: E402
from recoil.production.scoring import score_project  # noqa: E402
from recoil.providers.previz.motion import render_motion  # noqa: E402
from recoil.shotlist.example import write_example  # noqa: E402

TARGET_SHARE = 0.20


def _demo(folder: Path) -> Path:
    write_example(folder)
    return folder


def _run(folder: Path, *, evaluate: bool) -> float:
    start = time.perf_counter()
    outcome = run_production_sync(folder, RunOptions(evaluate=evaluate))
    elapsed = time.perf_counter() - start
    assert outcome.report.failed == 0 and outcome.report.succeeded == 26, outcome.report
    return elapsed


def _clip(folder: Path, seconds: float) -> tuple[Path, Path]:
    """A previz push-in of ``seconds`` at 24 fps, 640x360, and the keyframe it animates."""
    keyframe = folder / "keyframe.png"
    Image.fromarray(
        np.random.default_rng(7).integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    ).save(keyframe)
    clip = folder / f"clip-{seconds:g}s.mp4"
    clip.write_bytes(
        render_motion(
            image=keyframe.read_bytes(),
            movement="push_in",
            duration_s=seconds,
            fps=24,
            width=SIZE[0],
            height=SIZE[1],
        )
    )
    return clip, keyframe


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = _demo(root / "base")
        _run(base, evaluate=False)
        scoring = []
        for i in range(args.repeat):
            copy = root / f"score{i}"
            shutil.copytree(base, copy)
            start = time.perf_counter()
            outcome = score_project(copy)
            scoring.append(time.perf_counter() - start)
            assert outcome.scored == 26, outcome
        print(f"score the demo's 26 artifacts (recoil score): {min(scoring):.2f} s")

        clip, keyframe = _clip(root, 10.0)
        request = VideoRequest(prompt="p", fps=24, duration_s=10.0, width=SIZE[0], height=SIZE[1])
        timing = time_scoring(clip, "video", request=request, inputs=[keyframe])
        floor = decode_floor(clip)
        print(
            f"a 10 s 24 fps 640x360 clip: {timing.best_s * 1000:.0f} ms "
            f"({', '.join(timing.scored)}); decoding alone {floor * 1000:.0f} ms, "
            f"ratio {timing.best_s / floor:.2f}"
        )

        off, on = [], []
        for i in range(args.repeat):
            off.append(_run(_demo(root / f"off{i}"), evaluate=False))
            on.append(_run(_demo(root / f"on{i}"), evaluate=True))
        share = (min(on) - min(off)) / min(off)
        print(
            f"recoil run demo: {min(off):.2f} s without scoring, {min(on):.2f} s with it: "
            f"{share:+.0%} (target under {TARGET_SHARE:.0%})"
        )
    return 0 if share < TARGET_SHARE else 1


if __name__ == "__main__":
    raise SystemExit(main())
