"""Video scorers: temporal flicker, motion (frozen clips) and continuity with the keyframe.

They read the sampled :class:`~recoil.evals.decode.Clip`: twelve pairs of
consecutive frames as luma at most 320 pixels wide, and the mean luma of every
frame. Levels are luma levels on the 0-255 scale.

- ``flicker``: VBench's temporal-flickering measure, the mean absolute
  difference of consecutive frames ``d`` (its score is ``1 - d / 255``), times
  a term for luma jumps: with ``L`` the mean luma of every frame, ``j`` is the
  mean of ``|L[t] - (L[t-1] + L[t+1]) / 2|``, which a fade or a pan leaves near
  0 and a frame brighter than its neighbours raises by the difference. The
  score is ``exp(-j / 3) * (1 - d / 255)``; ``luma_jumps`` is the fraction of
  frames off their neighbours' midpoint by more than 3 levels.
- ``motion``: the mean absolute difference of consecutive frames ``m``, scored
  ``(1 - exp(-m / 0.5)) * (1 - frozen)``, where ``frozen`` is the fraction of
  sampled pairs that are the same picture (difference under 0.1): a frozen
  clip scores 0, a near-static one (m 0.2) 0.33, a moving one (m >= 1.5) 0.95+.
- ``continuity``: SSIM (Wang et al. 2004) of the first frame and the step's
  input image, both as luma at the analysis size; the score is the SSIM,
  clamped to [0, 1]. Skipped when the step had no input image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recoil.errors import ScorerUnavailableError
from recoil.evals.measures import mean_abs_diff, ssim
from recoil.evals.score import Score, clamp, falling, rising

if TYPE_CHECKING:
    from recoil.evals.decode import Clip
    from recoil.evals.subject import Subject

VIDEO_MODALITIES = frozenset({"video"})
JUMP_SCALE = 3.0
"""Mean luma jump (levels) at which the jump term is 1/e."""
JUMP = 3.0
"""A frame further than this from its neighbours' midpoint counts as a jump."""
MOTION_SCALE = 0.5
"""Mean frame-to-frame difference (levels) at which the motion score is 0.63."""
FROZEN = 0.1
"""Consecutive frames closer than this are the same picture."""


def _pair_differences(clip: Clip) -> list[float]:
    return [mean_abs_diff(clip.frames[a], clip.frames[b]) for a, b in clip.pairs()]


class Flicker:
    """Temporal flicker, as VBench measures it, plus luma jumps (module docstring)."""

    name = "flicker"
    version = "1"
    modalities = VIDEO_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score how steady the clip's brightness and pixels are from frame to frame."""
        clip = subject.media.clip()
        if clip.frame_count < 3:
            raise ScorerUnavailableError(self.name, f"the clip has {clip.frame_count} frame(s)")
        luma = clip.frame_luma.astype(np.float64)
        off = np.abs(luma[1:-1] - (luma[:-2] + luma[2:]) / 2)
        jumps = float(off.mean())
        difference = float(np.mean(_pair_differences(clip)))
        return Score(
            value=falling(jumps, JUMP_SCALE) * clamp(1.0 - difference / 255.0),
            measurements={
                "luma_flicker": jumps,
                "luma_jumps": float(np.count_nonzero(off > JUMP)) / len(off),
                "frame_difference": difference,
            },
        )


class Motion:
    """How much the picture moves; frozen and near-static clips score low."""

    name = "motion"
    version = "1"
    modalities = VIDEO_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score the clip's motion."""
        clip = subject.media.clip()
        differences = _pair_differences(clip)
        if not differences:
            raise ScorerUnavailableError(self.name, f"the clip has {clip.frame_count} frame(s)")
        motion = float(np.mean(differences))
        frozen = sum(d < FROZEN for d in differences) / len(differences)
        return Score(
            value=rising(motion, MOTION_SCALE) * (1.0 - frozen),
            measurements={
                "motion": motion,
                "frozen_fraction": frozen,
                "span_difference": mean_abs_diff(clip.frames[0], clip.frames[-1]),
            },
        )


class Continuity:
    """The first frame against the keyframe the clip was made from (SSIM)."""

    name = "continuity"
    version = "1"
    modalities = VIDEO_MODALITIES

    def score(self, subject: Subject) -> Score:
        """Score how closely the clip starts from its input image."""
        keyframe = subject.input_image()
        if keyframe is None:
            raise ScorerUnavailableError(
                self.name, "the clip has no input image to compare its first frame with"
            )
        first = subject.media.clip().frames[0]
        height, width = first.shape
        reference = keyframe.still().luma_at(width, height)
        similarity = ssim(first, reference)
        return Score(
            value=clamp(similarity),
            measurements={
                "first_frame_ssim": similarity,
                "first_frame_difference": mean_abs_diff(first, reference),
            },
        )
