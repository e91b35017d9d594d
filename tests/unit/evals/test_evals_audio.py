"""Audio scorers against references they did not write: EBU Tech 3341 tones, known signals."""

from __future__ import annotations

import tempfile
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoil.errors import ScorerUnavailableError
from recoil.evals import Subject
from recoil.evals.audio import Clipping, Loudness, Silence
from recoil.evals.timing import Duration
from recoil.model.requests import AudioRequest
from tests.unit.evals.media import sine, write_wav


def _audio(path: Path, request: AudioRequest | None = None) -> Subject:
    return Subject(path=path, modality="audio", request=request)


@pytest.mark.parametrize("level", [-23.0, -33.0])
def test_a_stereo_1khz_sine_reads_its_level_in_lufs(tmp_path: Path, level: float) -> None:
    """EBU Tech 3341 case 1 (and its -33 dBFS sibling): a 1 kHz sine at L dBFS on both
    channels of a 48 kHz stereo file reads L LUFS, +/- 0.1."""
    wav = write_wav(tmp_path / "tone.wav", sine(dbfs=level, seconds=20))
    score = Loudness().score(_audio(wav))
    assert score.measurements["loudness_lufs"] == pytest.approx(level, abs=0.1)


def test_loudness_peaks_at_its_target(tmp_path: Path) -> None:
    """-23 LUFS scores 1 against EBU R 128; -16 against the dialogue target; far off, low."""
    at_23 = _audio(write_wav(tmp_path / "a.wav", sine(dbfs=-23.0, seconds=3)))
    at_16 = _audio(write_wav(tmp_path / "b.wav", sine(dbfs=-16.0, seconds=3)))
    quiet = _audio(write_wav(tmp_path / "c.wav", sine(dbfs=-50.0, seconds=3)))
    broadcast, dialogue = Loudness(), Loudness(target_lufs=-16.0)
    assert broadcast.score(at_23).value == 1.0
    assert dialogue.score(at_16).value == 1.0
    assert broadcast.score(at_16).value == pytest.approx(0.61, abs=0.02)
    assert broadcast.score(quiet).value < 0.01
    assert (broadcast.version, dialogue.version) == ("1", "1;target_lufs=-16")


def test_silence_reads_as_the_absolute_gate(tmp_path: Path) -> None:
    """Digital silence has no loudness; it reads -70 LUFS (BS.1770's gate) and scores 0."""
    wav = write_wav(tmp_path / "silent.wav", np.zeros((48_000, 2)))
    score = Loudness().score(_audio(wav))
    assert score.measurements["loudness_lufs"] == -70.0
    assert score.value < 1e-6
    assert Silence().score(_audio(wav)).value == 0.0


def test_a_blip_shorter_than_one_gating_block_is_measured(tmp_path: Path) -> None:
    """Under 400 ms there is no full BS.1770 block: the whole blip is one block."""
    wav = write_wav(tmp_path / "blip.wav", sine(dbfs=-23.0, seconds=0.25))
    lufs = Loudness().score(_audio(wav)).measurements["loudness_lufs"]
    assert lufs == pytest.approx(-23.0, abs=0.3)


def test_clipping_counts_flat_tops_not_full_scale_peaks(tmp_path: Path) -> None:
    """A sine driven 6 dB past full scale is clipped on flat tops; a clean 0 dBFS one is not."""
    clean = _audio(write_wav(tmp_path / "clean.wav", sine(dbfs=0.0, seconds=1)))
    loud = sine(dbfs=6.0, seconds=1)
    clipped = _audio(write_wav(tmp_path / "clipped.wav", np.clip(loud, -1.0, 1.0)))
    ok, bad = Clipping().score(clean), Clipping().score(clipped)
    assert ok.measurements["clipped_fraction"] == 0.0
    assert ok.value == 1.0
    assert ok.measurements["peak_dbfs"] == pytest.approx(0.0, abs=0.01)
    # Exactly the samples the drive pushed past full scale (about 2/3 of a sine at 2x).
    beyond = float(np.mean(np.abs(loud) >= 1.0))
    assert bad.measurements["clipped_fraction"] == pytest.approx(beyond, abs=1e-9)
    assert beyond > 0.6
    assert bad.value < 0.01


def test_silence_ratio_is_the_quiet_share(tmp_path: Path) -> None:
    """One second of tone, three of silence: 75 % silent, which speech never is."""
    tone = sine(dbfs=-20.0, seconds=1)
    signal = np.concatenate([tone, np.zeros((3 * 48_000, 2))])
    score = Silence().score(_audio(write_wav(tmp_path / "gappy.wav", signal)))
    assert score.measurements["silence_ratio"] == pytest.approx(0.75, abs=0.01)
    assert score.value == pytest.approx(0.25 / 0.7, abs=0.02)
    speech_like = np.concatenate([tone, tone, tone, np.zeros((48_000, 2))])
    assert Silence().score(_audio(write_wav(tmp_path / "pauses.wav", speech_like))).value == 1.0


def test_duration_against_the_request_and_the_dialogue(tmp_path: Path) -> None:
    """A line of 10 words in 4 s is a natural 2.5 words/s; in 1 s it is rushed; with a
    requested duration, that is the target; without a request it is skipped."""
    four = _audio(write_wav(tmp_path / "four.wav", sine(dbfs=-20, seconds=4)))
    line = AudioRequest(prompt="one two three four five six seven eight nine ten")
    natural = Duration().score(_audio(four.path, line))
    assert natural.value == 1.0
    assert natural.measurements["words_per_s"] == pytest.approx(2.5)
    short = _audio(write_wav(tmp_path / "one.wav", sine(dbfs=-20, seconds=1)), line)
    assert Duration().score(short).value < 0.5
    timed = AudioRequest(prompt="hello", duration_s=8.0)
    assert Duration().score(_audio(four.path, timed)).value == pytest.approx(0.2)
    with pytest.raises(ScorerUnavailableError, match="no video or audio request"):
        Duration().score(four)


def test_flac_and_float_audio_decode_like_wav(tmp_path: Path) -> None:
    """Other containers and sample formats read through the same decoder."""
    flac = tmp_path / "tone.flac"
    samples = sine(dbfs=-23.0, seconds=3).astype(np.float32)
    with av.open(str(flac), "w") as container:
        stream = container.add_stream("flac", rate=48_000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), "fltp", "stereo")
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    lufs = Loudness().score(_audio(flac)).measurements["loudness_lufs"]
    assert lufs == pytest.approx(-23.0, abs=0.1)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    gain=st.floats(0.0, 4.0),
    channels=st.integers(1, 2),
    seconds=st.floats(0.01, 1.0),
)
def test_every_audio_score_lies_in_0_1(
    seed: int, gain: float, channels: int, seconds: float
) -> None:
    """Property: whatever the signal (noise, silent, clipped, short), every score is in [0, 1]."""
    rng = np.random.default_rng(seed)
    signal = gain * rng.standard_normal((max(1, round(seconds * 48_000)), channels))
    with tempfile.TemporaryDirectory() as folder:
        subject = _audio(write_wav(Path(folder) / "x.wav", np.clip(signal, -1, 1)))
        for scorer in (Loudness(), Clipping(), Silence()):
            assert 0.0 <= scorer.score(subject).value <= 1.0
