"""Image scorers for keyframes and upscaled images: sharpness, exposure, noise.

All work on the luma (ITU-R 601 weights, 0-255) of the image at its own
resolution (reduced by a whole factor only past 2048 pixels on a side).

- ``sharpness``: the variance of the Laplacian ``v``, scored ``v / (v + 100)``,
  so 100 (the usual blurry / sharp threshold) gives 0.5, a crisp 1280x720
  frame (v ~ 300-2000) 0.75-0.95, and a frame blurred by a 2-pixel Gaussian
  (v < 5) under 0.05. Noise raises the Laplacian too: read it with ``noise``.
- ``exposure``: the mean luma ``m`` (0-1) and the fractions of clipped
  highlights (luma >= 250) and crushed shadows (luma <= 5). The score is
  ``(1 - |2m - 1|^3) * max(0, 1 - 2 (highlights + shadows))``: flat over the
  middle tones, so dark night scenes pass, zero for an all-black or all-white
  frame and for one that is half clipped.
- ``noise``: Immerkaer's sigma estimate ``s`` (luma levels), scored
  ``1 / (1 + (s / 5)^2)``: 1 for a clean render, 0.5 at sigma 5, 0.2 at 10.
  Fine texture reads as a little noise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recoil.errors import ScorerUnavailableError
from recoil.evals.measures import immerkaer_sigma, laplacian_variance
from recoil.evals.score import Score, closeness, saturating

if TYPE_CHECKING:
    from recoil.evals.decode import Floats
    from recoil.evals.subject import Subject

IMAGE_MODALITIES = frozenset({"keyframe", "upscale"})
SHARPNESS_HALF = 100.0
"""The Laplacian variance that scores 0.5."""
NOISE_HALF = 5.0
"""The noise sigma (luma levels) that scores 0.5."""
HIGHLIGHT = 250.0
SHADOW = 5.0


def _luma(subject: Subject, scorer: str) -> Floats:
    luma = subject.media.still().luma
    if min(luma.shape) < 3:
        raise ScorerUnavailableError(scorer, f"the image is {luma.shape[1]}x{luma.shape[0]}")
    return luma


class Sharpness:
    """Focus: the variance of the Laplacian, normalised (see the module docstring)."""

    name = "sharpness"
    version = "1"
    modalities = IMAGE_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score the image's focus."""
        variance = laplacian_variance(_luma(subject, self.name))
        return Score(
            value=saturating(variance, SHARPNESS_HALF),
            measurements={"laplacian_variance": variance},
        )


class Exposure:
    """Mean luma and clipping at both ends (see the module docstring)."""

    name = "exposure"
    version = "1"
    modalities = IMAGE_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score the image's exposure."""
        luma = subject.media.still().luma
        mean = float(luma.mean(dtype=np.float64)) / 255.0
        highlights = float(np.count_nonzero(luma >= HIGHLIGHT)) / luma.size
        shadows = float(np.count_nonzero(luma <= SHADOW)) / luma.size
        tone = 1.0 - abs(2.0 * mean - 1.0) ** 3
        clipping = max(0.0, 1.0 - 2.0 * (highlights + shadows))
        return Score(
            value=tone * clipping,
            measurements={
                "mean_luma": mean,
                "clipped_highlights": highlights,
                "crushed_shadows": shadows,
            },
        )


class Noise:
    """Sensor-like noise: Immerkaer's sigma, normalised (see the module docstring)."""

    name = "noise"
    version = "1"
    modalities = IMAGE_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score how clean the image is."""
        sigma = immerkaer_sigma(_luma(subject, self.name))
        return Score(value=closeness(sigma, NOISE_HALF), measurements={"noise_sigma": sigma})
