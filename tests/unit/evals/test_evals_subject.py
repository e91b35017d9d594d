"""Subjects: the modality of a loose file, decoding once, sampling, and unreadable files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from recoil.errors import NotFoundError, ValidationError
from recoil.evals import Subject, evaluate, infer_modality, register_builtin_scorers
from recoil.evals.decode import SAMPLES, sample_indices
from recoil.evals.registry import ScorerRegistry
from recoil.model.requests import VideoRequest
from tests.unit.evals.media import pan, save, sine, texture, write_clip, write_wav


@pytest.mark.parametrize(
    ("name", "modality"),
    [
        ("a.png", "keyframe"),
        ("a.JPG", "keyframe"),
        ("a.webp", "keyframe"),
        ("a.mp4", "video"),
        ("a.mov", "video"),
        ("a.webm", "video"),
        ("a.wav", "audio"),
        ("a.flac", "audio"),
    ],
)
def test_the_modality_of_a_file_comes_from_its_extension(name: str, modality: str) -> None:
    """`recoil eval FILE` infers keyframe, video or audio."""
    assert infer_modality(Path(name)) == modality


@pytest.mark.parametrize("name", ["notes.txt", "README"])
def test_an_unknown_extension_asks_for_the_modality(name: str) -> None:
    """One line naming the file and the option that settles it."""
    with pytest.raises(ValidationError, match=rf"{name}: cannot tell the modality.*--modality"):
        infer_modality(Path(name))


@pytest.mark.parametrize(
    ("name", "modality", "what"),
    [
        ("junk.png", "keyframe", "not a readable image"),
        ("junk.mp4", "video", "not a readable video"),
        ("junk.wav", "audio", "not a readable audio file"),
    ],
)
def test_a_garbage_file_is_a_clear_recoil_error(
    tmp_path: Path, name: str, modality: str, what: str
) -> None:
    """Bytes that are no media: a ValidationError naming the file, not a PIL or av error."""
    path = tmp_path / name
    path.write_bytes(b"<html>503 Service Unavailable</html>" * 20)
    with pytest.raises(ValidationError, match=rf"{name}: {what}") as caught:
        evaluate(Subject(path=path, modality=modality))
    assert type(caught.value).__module__ == "recoil.errors"
    assert "\n" not in str(caught.value)
    assert "Errno" not in str(caught.value)


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    """No file at all: NotFoundError, naming the path."""
    with pytest.raises(NotFoundError, match=r"gone\.png: no such file"):
        evaluate(Subject(path=tmp_path / "gone.png", modality="keyframe"))


def test_a_wav_holding_no_samples_is_a_clear_error(tmp_path: Path) -> None:
    """An empty but well-formed WAV: nothing to score."""
    wav = write_wav(tmp_path / "empty.wav", np.zeros((0, 2)))
    with pytest.raises(ValidationError, match=r"empty\.wav: the audio stream holds no samples"):
        evaluate(Subject(path=wav, modality="audio"))


def test_every_scorer_shares_one_decode(tmp_path: Path) -> None:
    """The clip is decoded once however many scorers read it, and the keyframe once too."""
    frames = pan(texture(240, 90, seed=3), 30, size=(160, 90))
    subject = Subject(
        path=write_clip(tmp_path / "c.mp4", frames),
        modality="video",
        request=VideoRequest(prompt="a pan", duration_s=1.25, fps=24.0),
        inputs=(save(frames[0], tmp_path / "k.png"),),
    )
    registry = register_builtin_scorers(ScorerRegistry(load_entry_points=False))
    evaluation = evaluate(subject, registry=registry)
    assert {r.scorer for r in evaluation.results} == {
        "continuity",
        "duration",
        "flicker",
        "fps",
        "motion",
    }
    clip = subject.media.clip()
    assert clip is subject.media.clip()
    keyframe = subject.input_image()
    assert keyframe is not None
    assert keyframe.still() is keyframe.still()
    assert evaluate(subject, registry=registry).values() == evaluation.values()  # deterministic


def test_subject_paths_are_paths(tmp_path: Path) -> None:
    """Strings are accepted and kept as Path; a subject needs a modality."""
    subject = Subject(path=str(tmp_path / "a.png"), modality="keyframe", inputs=("b.png",))  # type: ignore[arg-type]
    assert subject.path == tmp_path / "a.png"
    assert subject.inputs == (Path("b.png"),)
    with pytest.raises(ValidationError, match="needs a modality"):
        Subject(path=tmp_path, modality="")


@given(st.integers(0, 10_000))
def test_sample_indices_are_evenly_spaced_pairs(total: int) -> None:
    """Property: at most 24 frames, in range, increasing, from the first frame; past 24, twelve
    pairs of neighbours spread over the clip, the last ending on the last frame."""
    picked = sample_indices(total)
    assert len(picked) <= SAMPLES
    assert picked == sorted(set(picked))
    assert all(0 <= i < total for i in picked)
    if total <= SAMPLES:
        assert picked == list(range(total))
    else:
        assert picked[0] == 0
        assert picked[-1] == total - 1
        pairs = [(a, b) for a, b in itertools.pairwise(picked) if b == a + 1]
        assert len(pairs) >= SAMPLES // 2 - 1


def test_a_long_clip_is_sampled_not_read_whole(tmp_path: Path) -> None:
    """240 frames: 24 sampled frames at the analysis size, and the mean luma of all 240."""
    frames = pan(texture(320 + 480, 180, seed=4), 240, size=(320, 180))
    clip = Subject(path=write_clip(tmp_path / "long.mp4", frames), modality="video")
    sampled = clip.media.clip()
    assert sampled.frames.shape == (SAMPLES, 180, 320)
    assert sampled.frame_count == 240
    assert sampled.duration_s == 10.0
    assert len(sampled.thumbnails) == 3
    assert sampled.thumbnails[0].size == (320, 180)
    mean = [float(np.asarray(f.convert("L"), dtype=np.float64).mean()) for f in frames]
    assert np.allclose(sampled.frame_luma, mean, atol=2.0)


@pytest.mark.parametrize("level", [0, 128, 255])
def test_the_mean_luma_of_a_frame_is_on_the_full_range_scale(tmp_path: Path, level: int) -> None:
    """H.264 stores limited-range luma (16-235); frames read back on 0-255, as the pictures."""
    flat = [Image.new("RGB", (64, 64), (level, level, level))] * 3
    sampled = Subject(path=write_clip(tmp_path / "flat.mp4", flat), modality="video")
    clip = sampled.media.clip()
    assert np.allclose(clip.frame_luma, level, atol=1.5)
    assert np.allclose(clip.frames, level, atol=1.5)


def test_audio_decodes_to_float_samples_at_its_rate(tmp_path: Path) -> None:
    """A 16-bit stereo WAV at 44.1 kHz: float samples, (n, 2), the file's rate."""
    wav = write_wav(tmp_path / "t.wav", sine(dbfs=-6, seconds=0.5, rate=44_100), rate=44_100)
    sound = Subject(path=wav, modality="audio").media.sound()
    assert sound.rate == 44_100
    assert sound.samples.shape == (22_050, 2)
    assert float(np.abs(sound.samples).max()) == pytest.approx(10 ** (-6 / 20), abs=1e-3)


def test_a_webm_without_a_frame_count_is_counted(tmp_path: Path) -> None:
    """WebM headers give no frame count: the packets are counted, then the clip sampled."""
    import av

    frames = pan(texture(200, 72, seed=6), 40, size=(128, 72))
    path = tmp_path / "clip.webm"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=24)
        stream.width, stream.height, stream.pix_fmt = 128, 72, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    with av.open(str(path)) as opened:
        assert opened.streams.video[0].frames == 0
    clip = Subject(path=path, modality="video").media.clip()
    assert clip.frame_count == 40
    assert len(clip.indices) == 24
    assert clip.indices[-1] == 39
