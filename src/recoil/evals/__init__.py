"""Scorers: how good a keyframe, clip or line of audio is, before a person looks (SPEC 10).

A :class:`Subject` is a file with its modality, request and inputs; a
:class:`Scorer` turns it into one :class:`Score` in [0, 1] (higher is better)
with the raw measurements beside it; :func:`evaluate` runs every scorer of the
subject's modality from a :class:`ScorerRegistry` (the built-ins and the
``recoil.scorers`` entry points), decoding the file once.

Built in, offline, deterministic and CPU-only:

========================  ===========================  ==================================
scorer                    modalities                   measures
========================  ===========================  ==================================
``sharpness``             keyframe, upscale            variance of the Laplacian
``exposure``              keyframe, upscale            mean luma, clipped ends
``noise``                 keyframe, upscale            Immerkaer's noise sigma
``flicker``               video                        VBench flicker and luma jumps
``motion``                video                        frame-to-frame change, frozen
``continuity``            video                        SSIM of first frame and keyframe
``duration``              video, audio                 duration against request/dialogue
``fps``                   video                        frame rate against the request
``loudness``              audio                        BS.1770 integrated loudness (LUFS)
``clipping``              audio                        samples clipped at full scale
``silence``               audio                        silent share
``prompt_adherence``      keyframe, upscale, video     CLIPScore (the ``clip`` extra)
========================  ===========================  ==================================

The scorer modules (NumPy, PyAV, SciPy, pyloudnorm) load when a registry is built;
importing this package loads none of them.
"""

from __future__ import annotations

from recoil.evals.evaluate import Evaluation, ScorerResult, Skipped, evaluate
from recoil.evals.registry import (
    ENTRY_POINT_GROUP,
    ScorerRegistry,
    builtin_scorers,
    default_registry,
    register_builtin_scorers,
)
from recoil.evals.score import Score, Scorer
from recoil.evals.subject import Subject, infer_modality

__all__ = [
    "ENTRY_POINT_GROUP",
    "Evaluation",
    "Score",
    "Scorer",
    "ScorerRegistry",
    "ScorerResult",
    "Skipped",
    "Subject",
    "builtin_scorers",
    "default_registry",
    "evaluate",
    "infer_modality",
    "register_builtin_scorers",
]
