"""Audio scorers: integrated loudness, clipping and silence.

- ``loudness``: integrated loudness ``L`` by ITU-R BS.1770-4 (K-weighting,
  400 ms blocks, the -70 LUFS absolute and -10 LU relative gates) through
  ``pyloudnorm``. The score peaks at a target, by default -23 LUFS (EBU R 128
  programme loudness); pass ``target_lufs=-16`` for dialogue meant for streaming
  and podcasts (AES TD1004). With ``d`` the distance from the target beyond a
  1 LU tolerance, the score is ``exp(-(d / 6)^2 / 2)``: 0.61 at 7 LU off, 0.14
  at 13, under 0.01 past 20. Silence reads as -70 LUFS, the absolute gate.
  A clip shorter than one 400 ms block is measured as one block.
- ``clipping``: the fraction ``f`` of samples that are clipped, i.e. at full
  scale (at least the largest 16-bit code, 32767/32768) next to another such
  sample of the same sign, a flat top; one full-scale peak is not clipping.
  Scored ``1 / (1 + f / 0.001)``: 0.5 at 0.1 % of samples clipped.
- ``silence``: the fraction ``s`` of 20 ms windows quieter than -50 dBFS RMS.
  Speech has pauses, so up to 30 % scores 1; beyond that the score falls
  linearly to 0 for a silent file: ``min(1, (1 - s) / 0.7)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from recoil.evals.score import Score, clamp

if TYPE_CHECKING:
    from recoil.evals.decode import Floats, Sound
    from recoil.evals.subject import Subject

AUDIO_MODALITIES = frozenset({"audio"})
EBU_R128_LUFS = -23.0
DIALOGUE_LUFS = -16.0
TOLERANCE_LU = 1.0
SPREAD_LU = 6.0
BLOCK_S = 0.4
"""BS.1770's gating block."""
GATE_LUFS = -70.0
"""BS.1770's absolute gate: anything quieter reads as this."""
FULL_SCALE = 32767 / 32768
CLIPPED_HALF = 0.001
SILENCE_DBFS = -50.0
WINDOW_S = 0.02
PAUSES = 0.3
"""The silent fraction speech may have at no cost."""
_BS1770_CHANNELS = 5
"""pyloudnorm weighs up to five channels: L, R, C, Ls, Rs."""


def _dbfs(level: float) -> float:
    return 20.0 * math.log10(level) if level > 0 else -120.0


class Loudness:
    """Integrated loudness (BS.1770) against a target (module docstring)."""

    name = "loudness"
    modalities = AUDIO_MODALITIES

    def __init__(self, *, target_lufs: float = EBU_R128_LUFS) -> None:
        self.target_lufs = float(target_lufs)

    @property
    def version(self) -> str:
        """``1``, plus the target when it is not the default (other target, other scores)."""
        if self.target_lufs == EBU_R128_LUFS:
            return "1"
        return f"1;target_lufs={self.target_lufs:g}"

    def score(self, subject: Subject) -> Score:
        """Score the loudness of the audio."""
        loudness = integrated_loudness(subject.media.sound())
        distance = max(0.0, abs(loudness - self.target_lufs) - TOLERANCE_LU)
        return Score(
            value=math.exp(-0.5 * (distance / SPREAD_LU) ** 2),
            measurements={"loudness_lufs": loudness, "target_lufs": self.target_lufs},
        )


def integrated_loudness(sound: Sound) -> float:
    """BS.1770-4 integrated loudness in LUFS, at least :data:`GATE_LUFS`."""
    import pyloudnorm

    samples = sound.samples[:, :_BS1770_CHANNELS].astype(np.float64)
    if len(samples) < 2:
        return GATE_LUFS
    # A blip shorter than a block is one block: one sample under its length, so
    # pyloudnorm's own length check passes whatever the rounding.
    block = min(BLOCK_S, (len(samples) - 1) / sound.rate)
    meter = pyloudnorm.Meter(sound.rate, block_size=block)
    value = float(meter.integrated_loudness(samples))
    return value if math.isfinite(value) and value > GATE_LUFS else GATE_LUFS


def clipped_fraction(samples: Floats) -> float:
    """The fraction of samples in flat tops at full scale (module docstring)."""
    if len(samples) < 2:
        return 0.0
    top = samples >= FULL_SCALE
    bottom = samples <= -FULL_SCALE
    flat = np.zeros(samples.shape, dtype=bool)
    for side in (top, bottom):
        run = side[1:] & side[:-1]
        flat[1:] |= run
        flat[:-1] |= run
    return float(np.count_nonzero(flat)) / flat.size


class Clipping:
    """Samples clipped at full scale (module docstring)."""

    name = "clipping"
    version = "1"
    modalities = AUDIO_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score how free of clipping the audio is."""
        samples = subject.media.sound().samples
        fraction = clipped_fraction(samples)
        peak = float(np.abs(samples).max()) if samples.size else 0.0
        return Score(
            value=1.0 / (1.0 + fraction / CLIPPED_HALF),
            measurements={"clipped_fraction": fraction, "peak_dbfs": _dbfs(peak)},
        )


def silent_fraction(sound: Sound) -> float:
    """The fraction of 20 ms windows whose RMS (over all channels) is under -50 dBFS."""
    window = max(1, round(WINDOW_S * sound.rate))
    count = len(sound.samples) // window
    if count == 0:
        power = float(np.mean(np.square(sound.samples, dtype=np.float64)))
        return 1.0 if _dbfs(math.sqrt(power)) < SILENCE_DBFS else 0.0
    frames = sound.samples[: count * window].reshape(count, window, -1).astype(np.float64)
    power = np.mean(np.square(frames), axis=(1, 2))
    threshold = 10 ** (SILENCE_DBFS / 10)
    return float(np.count_nonzero(power < threshold)) / count


class Silence:
    """How much of the audio is silent (module docstring)."""

    name = "silence"
    version = "1"
    modalities = AUDIO_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score the audio's silent share."""
        fraction = silent_fraction(subject.media.sound())
        return Score(
            value=clamp((1.0 - fraction) / (1.0 - PAUSES)),
            measurements={"silence_ratio": fraction},
        )
