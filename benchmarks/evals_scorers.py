"""Time to score one file with every built-in scorer, on one core, against just decoding it.

Scores, each with the built-in scorers of its modality (CLIP not configured):
4 s and 10 s clips at 24 fps, 640x360 (a previz push-in, as the demo renders,
and a pan over fine texture, which is costlier to decode), a 1280x720
keyframe and a 4 s 48 kHz WAV. Each figure is the best of five runs with a
fresh subject (so the decode is inside); the first run, which imports the
scorers' libraries, is printed apart. The lower bound for a clip is PyAV
decoding the clip and converting only the sampled frames, which every scorer
needs anyway. Target: a 4 s clip scored in under 0.2 s.

One core: the process is pinned to one CPU (``sched_setaffinity``), so every
thread it might start shares it; the scorers decode with one FFmpeg thread and
use no BLAS.

``time_scoring`` is importable (``benchmarks/evals.py`` builds on it).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from recoil.evals import ScorerRegistry, Subject, evaluate, register_builtin_scorers
from recoil.evals.decode import ANALYSIS_SIDE, sample_indices
from recoil.model.requests import AudioRequest, Request, VideoRequest
from recoil.providers.previz.frame import render_keyframe
from recoil.providers.previz.motion import encode_h264, render_motion, yuv_frame

TARGET_4S = 0.2
RUNS = 5
SIZE = (640, 360)
FPS = 24


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds to score a file (best of the runs) and its first run (imports included)."""

    best_s: float
    first_s: float
    scored: tuple[str, ...]


def time_scoring(
    path: Path,
    modality: str,
    *,
    request: Request | None = None,
    inputs: Sequence[Path] = (),
    runs: int = RUNS,
    registry: ScorerRegistry | None = None,
) -> Timing:
    """Score ``path`` ``runs`` times with a fresh subject each time (decode included)."""
    registry = registry or register_builtin_scorers(ScorerRegistry(load_entry_points=False))
    times = []
    scored: tuple[str, ...] = ()
    for _ in range(runs):
        subject = Subject(path=path, modality=modality, request=request, inputs=tuple(inputs))
        start = time.perf_counter()
        evaluation = evaluate(subject, registry=registry)
        times.append(time.perf_counter() - start)
        scored = tuple(r.scorer for r in evaluation.results)
    return Timing(best_s=min(times[1:] or times), first_s=times[0], scored=scored)


def decode_floor(path: Path, runs: int = RUNS) -> float:
    """Best time to decode the clip and convert just the frames the scorers sample."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            wanted = set(sample_indices(stream.frames))
            scale = ANALYSIS_SIDE / max(stream.codec_context.width, stream.codec_context.height)
            w = round(stream.codec_context.width * scale)
            h = round(stream.codec_context.height * scale)
            for number, frame in enumerate(container.decode(stream)):
                if number in wanted:
                    frame.reformat(width=w, height=h, format="gray").to_ndarray()
        best = min(best, time.perf_counter() - start)
    return best


def _previz_keyframe() -> bytes:
    return render_keyframe(
        prompt="Ana waits at the red door in the rain",
        seed=7,
        width=1280,
        height=720,
        shot={"size": "wide", "characters": [{"name": "Ana"}], "lighting": "night"},
    )


def _textured_pan(seconds: float) -> bytes:
    """A pan over 1/f colour noise: fine detail everywhere, the costly case for H.264."""
    rng = np.random.default_rng(0)
    width, height = SIZE[0] + 2 * round(seconds * FPS), SIZE[1]
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :]
    falloff = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / width)
    planes = []
    for _ in range(3):
        phases = np.exp(2j * np.pi * rng.random(falloff.shape))
        field = np.fft.irfft2(falloff * phases, (height, width))
        planes.append(30 + 190 * (field - field.min()) / np.ptp(field))
    scene = Image.fromarray(np.stack(planes, axis=-1).astype(np.uint8))
    frames = (
        yuv_frame(scene.crop((2 * i, 0, 2 * i + SIZE[0], SIZE[1])))
        for i in range(round(seconds * FPS))
    )
    return encode_h264(frames, width=SIZE[0], height=SIZE[1], fps=FPS)


def _wav(path: Path, seconds: float) -> Path:
    """Speech-like: 0.6 s bursts of a 220 Hz buzz with 0.2 s pauses, at about -20 dBFS."""
    rate = 48_000
    t = np.arange(round(seconds * rate)) / rate
    voice = 0.1 * np.sign(np.sin(2 * np.pi * 220 * t)) * ((t % 0.8) < 0.6)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((voice * 32767).astype("<i2").tobytes())
    return path


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def main() -> int:
    print(f"evals scorers, one thread, {_pin_one_core()}, best of {RUNS}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keyframe_png = _previz_keyframe()
        keyframe = folder / "keyframe.png"
        keyframe.write_bytes(keyframe_png)
        timing = time_scoring(keyframe, "keyframe")
        print(f"  keyframe 1280x720 PNG: {timing.best_s * 1000:.1f} ms "
              f"(first {timing.first_s * 1000:.0f} ms) [{', '.join(timing.scored)}]")  # fmt: skip
        with Image.open(io.BytesIO(keyframe_png)) as opened:
            small = opened.convert("RGB").resize(SIZE)
        small_png = folder / "keyframe-640.png"
        small.save(small_png)
        for kind in ("previz push-in", "textured pan"):
            for seconds in (4.0, 10.0):
                clip = folder / f"{kind.split()[0]}-{seconds:g}s.mp4"
                if kind == "textured pan":
                    clip.write_bytes(_textured_pan(seconds))
                else:
                    clip.write_bytes(
                        render_motion(
                            image=small_png.read_bytes(),
                            movement="push_in",
                            duration_s=seconds,
                            fps=FPS,
                            width=SIZE[0],
                            height=SIZE[1],
                        )
                    )
                request = VideoRequest(prompt="a push-in", duration_s=seconds, fps=FPS)
                timing = time_scoring(clip, "video", request=request, inputs=[small_png])
                floor = decode_floor(clip)
                print(
                    f"  {kind} {seconds:g} s 640x360 @24: {timing.best_s * 1000:.1f} ms, "
                    f"decode floor {floor * 1000:.1f} ms, ratio {timing.best_s / floor:.2f} "
                    f"(first {timing.first_s * 1000:.0f} ms) [{', '.join(timing.scored)}]"
                )
                if seconds == 4.0:
                    met = timing.best_s <= TARGET_4S
                    ok = ok and met
                    print(
                        f"    target 4 s clip: {timing.best_s:.3f} s <= {TARGET_4S} s: "
                        f"{'ok' if met else 'MISSED'}"
                    )
        wav = _wav(folder / "line.wav", 4.0)
        line = AudioRequest(prompt="I waited by the door all night, and you never came back.")
        timing = time_scoring(wav, "audio", request=line)
        print(f"  audio 4 s 48 kHz WAV: {timing.best_s * 1000:.1f} ms "
              f"(first {timing.first_s * 1000:.0f} ms) [{', '.join(timing.scored)}]")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
