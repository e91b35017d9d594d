"""Previz speech: eSpeak NG WAVs that are the same every time."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from recoil.media.probe import probe
from recoil.providers.previz.speech import (
    UnknownVoiceError,
    check_voice,
    fit_duration,
    read_pcm,
    resample_pcm,
    synthesize_speech,
)

LINE = "The light must not go out, she said."


def test_speaks_a_line_as_16_bit_mono_wav() -> None:
    data = synthesize_speech(text=LINE, voice=None)
    facts = probe(data, "audio/wav")
    assert facts["sample_rate"] == 22050
    assert facts["channels"] == 1
    assert 1.0 < facts["duration_s"] < 5.0
    pcm, _ = read_pcm(data)
    assert np.abs(pcm.astype(np.int32)).max() > 1000  # not silence


def test_same_text_same_bytes_even_after_other_lines() -> None:
    # eSpeak NG drifts between utterances in one process; previz must not.
    first = synthesize_speech(text=LINE, voice="en-us")
    synthesize_speech(text="Something else entirely, spoken in between.", voice="en-gb")
    assert synthesize_speech(text=LINE, voice="en-us") == first
    assert synthesize_speech(text=LINE, voice=None) == first


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3"])  # f3 adds breath noise
def test_same_bytes_in_another_process(voice: str) -> None:
    script = (
        "import sys; from recoil.providers.previz.speech import synthesize_speech\n"
        f"sys.stdout.buffer.write(synthesize_speech(text={LINE!r}, voice={voice!r}))\n"
    )
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert other.stdout == synthesize_speech(text=LINE, voice=voice)


def test_threads_get_the_same_result() -> None:
    expected = synthesize_speech(text=LINE, voice="en-us+f3")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: synthesize_speech(text=LINE, voice="en-us+f3"), range(8)))
    assert all(r == expected for r in results)


@pytest.mark.parametrize("voice", ["en-gb", "en-us+f3", "en+m2", "en-gb-scotland", "de"])
def test_voices_and_variants(voice: str) -> None:
    check_voice(voice)
    assert synthesize_speech(text=LINE, voice=voice) != synthesize_speech(text=LINE, voice=None)


def test_unknown_voice_says_what_to_use() -> None:
    with pytest.raises(UnknownVoiceError, match="en-gb"):
        check_voice("klingon-xx")
    with pytest.raises(UnknownVoiceError):
        synthesize_speech(text=LINE, voice="klingon-xx")


def test_resampled_to_the_requested_rate() -> None:
    native = probe(synthesize_speech(text=LINE, voice=None), "audio/wav")
    data = synthesize_speech(text=LINE, voice=None, sample_rate=48000)
    facts = probe(data, "audio/wav")
    assert facts["sample_rate"] == 48000
    assert facts["duration_s"] == pytest.approx(native["duration_s"], abs=0.001)


def test_resample_and_fit_duration() -> None:
    pcm = np.array([0, 100, 200, 300], dtype="<i2")
    assert resample_pcm(pcm, 1, 2).tolist() == [0, 50, 100, 150, 200, 250, 300, 300]
    assert fit_duration(pcm, 2, 1.0).tolist() == [0, 100]
    assert fit_duration(pcm, 2, 3.0).tolist() == [0, 100, 200, 300, 0, 0]
