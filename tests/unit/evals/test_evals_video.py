"""Video scorers on real H.264 clips written with PyAV and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recoil.errors import ScorerUnavailableError
from recoil.evals import Subject
from recoil.evals.timing import Duration, FrameRate
from recoil.evals.video import Continuity, Flicker, Motion
from recoil.model.requests import VideoRequest
from tests.unit.evals.media import brighten_every_other, pan, save, texture, write_clip

SIZE = (192, 108)


@pytest.fixture(scope="module")
def scene() -> Image.Image:
    """A textured picture wide enough to pan over for 48 frames."""
    return texture(SIZE[0] + 2 * 48, SIZE[1], seed=5)


def _video(path: Path, **fields: object) -> Subject:
    return Subject(path=path, modality="video", **fields)  # type: ignore[arg-type]


def test_flicker_rises_when_every_other_frame_is_brightened(
    tmp_path: Path, scene: Image.Image
) -> None:
    """The same pan, steady and with every odd frame 24 levels brighter."""
    frames = pan(scene, 48, size=SIZE)
    steady = Flicker().score(_video(write_clip(tmp_path / "steady.mp4", frames)))
    flashing = brighten_every_other(frames, 24)
    flicker = Flicker().score(_video(write_clip(tmp_path / "flicker.mp4", flashing)))
    assert steady.value > 0.8
    assert flicker.value < 0.05
    assert flicker.measurements["luma_flicker"] > 10 * steady.measurements["luma_flicker"]
    assert flicker.measurements["luma_flicker"] == pytest.approx(24, abs=4)
    assert flicker.measurements["luma_jumps"] > 0.9 > 0.0 == steady.measurements["luma_jumps"]
    assert flicker.measurements["frame_difference"] > steady.measurements["frame_difference"]


def test_a_fade_is_not_flicker(tmp_path: Path, scene: Image.Image) -> None:
    """A steady fade to black changes the luma every frame, but smoothly."""
    still = np.asarray(scene.crop((0, 0, *SIZE)), dtype=np.float32)
    fade = [Image.fromarray((still * (1 - i / 60)).astype(np.uint8)) for i in range(48)]
    score = Flicker().score(_video(write_clip(tmp_path / "fade.mp4", fade)))
    assert score.measurements["luma_flicker"] < 1.0
    assert score.value > 0.7


def test_a_frozen_clip_scores_low_on_motion(tmp_path: Path, scene: Image.Image) -> None:
    """48 copies of one frame against a steady pan: frozen is 0, moving is near 1."""
    frozen = [scene.crop((0, 0, *SIZE))] * 48
    still = Motion().score(_video(write_clip(tmp_path / "frozen.mp4", frozen)))
    moving = Motion().score(_video(write_clip(tmp_path / "pan.mp4", pan(scene, 48, size=SIZE))))
    assert still.value < 0.05
    assert still.measurements["frozen_fraction"] == 1.0
    assert moving.value > 0.9
    assert moving.measurements["frozen_fraction"] == 0.0


def test_a_clip_that_stalls_half_way_scores_lower_than_one_that_does_not(
    tmp_path: Path, scene: Image.Image
) -> None:
    """A generator that repeats its last frame for half the clip: half the pairs are frozen."""
    frames = pan(scene, 48, size=SIZE)
    stalled = frames[:24] + [frames[23]] * 24
    smooth = Motion().score(_video(write_clip(tmp_path / "a.mp4", frames)))
    stall = Motion().score(_video(write_clip(tmp_path / "b.mp4", stalled)))
    assert 0.3 < stall.measurements["frozen_fraction"] < 0.7
    assert stall.value < smooth.value - 0.3


def test_continuity_is_lower_when_the_first_frame_does_not_match_its_keyframe(
    tmp_path: Path, scene: Image.Image
) -> None:
    """A clip that starts on its keyframe against one that starts on some other picture."""
    frames = pan(scene, 24, size=SIZE)
    clip = write_clip(tmp_path / "clip.mp4", frames)
    own = save(frames[0], tmp_path / "own.png")
    other = save(texture(*SIZE, seed=99), tmp_path / "other.png")
    matching = Continuity().score(_video(clip, inputs=(own,)))
    mismatched = Continuity().score(_video(clip, inputs=(other,)))
    assert matching.value > 0.8
    assert mismatched.value < matching.value - 0.4
    assert mismatched.measurements["first_frame_difference"] > 5.0


def test_continuity_compares_a_keyframe_of_another_size(tmp_path: Path, scene: Image.Image) -> None:
    """The keyframe at twice the clip's resolution is resized to the analysis size first."""
    frames = pan(scene, 12, size=SIZE)
    clip = write_clip(tmp_path / "clip.mp4", frames)
    big = save(frames[0].resize((SIZE[0] * 2, SIZE[1] * 2)), tmp_path / "big.png")
    assert Continuity().score(_video(clip, inputs=(tmp_path / "no.wav", big))).value > 0.8


def test_continuity_skips_a_clip_without_an_input_image(tmp_path: Path, scene: Image.Image) -> None:
    """Text-to-video has no keyframe: skipped, saying why."""
    clip = write_clip(tmp_path / "clip.mp4", pan(scene, 4, size=SIZE))
    with pytest.raises(ScorerUnavailableError, match="no input image"):
        Continuity().score(_video(clip))


def test_duration_and_fps_against_the_request(tmp_path: Path, scene: Image.Image) -> None:
    """A 2 s clip at 24 fps: on target for a 2 s / 24 fps request; for 2.5 s / 30 fps, the
    relative errors (less one frame, and 1 %) on the documented curve."""
    clip = write_clip(tmp_path / "clip.mp4", pan(scene, 48, size=SIZE), fps=24)
    exact = VideoRequest(prompt="door", duration_s=2.0, fps=24.0)
    other = VideoRequest(prompt="door", duration_s=2.5, fps=30.0)
    duration = Duration().score(_video(clip, request=exact))
    assert duration.value == 1.0
    assert duration.measurements == {"duration_s": 2.0, "expected_s": 2.0}
    assert FrameRate().score(_video(clip, request=exact)).value == 1.0
    short = (2.5 - 1 / 24 - 2.0) / 2.5
    duration = Duration().score(_video(clip, request=other))
    assert duration.value == pytest.approx(1 / (1 + (short / 0.25) ** 2))
    fps = FrameRate().score(_video(clip, request=other))
    assert fps.value == pytest.approx(1 / (1 + (((30 * 0.99 - 24) / 30) / 0.25) ** 2))
    assert fps.measurements == {"fps": 24.0, "expected_fps": 30.0}
    with pytest.raises(ScorerUnavailableError, match="no video request"):
        FrameRate().score(_video(clip))


def test_a_single_frame_clip_is_skipped_by_the_temporal_scorers(
    tmp_path: Path, scene: Image.Image
) -> None:
    """One frame has no neighbours: flicker and motion say so."""
    clip = _video(write_clip(tmp_path / "one.mp4", pan(scene, 1, size=SIZE)))
    with pytest.raises(ScorerUnavailableError, match="1 frame"):
        Flicker().score(clip)
    with pytest.raises(ScorerUnavailableError, match="1 frame"):
        Motion().score(clip)


@pytest.mark.parametrize("count", [2, 3, 7, 30])
def test_every_video_score_lies_in_0_1(tmp_path: Path, count: int) -> None:
    """Random-noise clips of a few frames: every scorer stays in [0, 1] (or is skipped)."""
    rng = np.random.default_rng(count)
    frames = [
        Image.fromarray(rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8))
        for _ in range(count)
    ]
    clip = write_clip(tmp_path / "noise.mp4", frames)
    key = save(frames[-1], tmp_path / "key.png")
    request = VideoRequest(prompt="noise", duration_s=1.0, fps=12.0)
    subject = _video(clip, request=request, inputs=(key,))
    for scorer in (Flicker(), Motion(), Continuity(), Duration(), FrameRate()):
        try:
            value = scorer.score(subject).value
        except ScorerUnavailableError:
            assert scorer.name == "flicker" and count < 3
            continue
        assert 0.0 <= value <= 1.0
