"""The Replicate model bindings that ship with recoil, written from each model's published schema.

Each entry is a binding table as ``recoil.toml`` writes it (see
:mod:`recoil.providers.binding`), keyed by ``owner/name``: it serves every
version of the model (a key ``owner/name:version`` serves that version only).
``source`` is the model's API page, which shows the ``openapi_schema`` of the
version named; the comment above each lists the facts used. Preflight checks
every request against the schema fetched at run time.

Replicate outputs are a file URL, or a list of them (``output = "[0]"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FLUX_RATIOS = ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]

REPLICATE_BINDINGS: Mapping[str, Mapping[str, Any]] = {
    # Text to image (version c846a699). prompt; aspect_ratio 1:1|16:9|21:9|3:2|2:3|4:5|5:4|
    # 3:4|4:3|9:16|9:21 (1:1); num_outputs 1-4 (1); num_inference_steps 1-4 (4); seed;
    # output_format webp|jpg|png (webp); output_quality (80); disable_safety_checker;
    # go_fast (true, which breaks seed determinism: recoil turns it off); megapixels
    # "1"|"0.25". Output: a list of URLs.
    "black-forest-labs/flux-schnell": {
        "modality": "keyframe",
        "output": "[0]",
        "source": "https://replicate.com/black-forest-labs/flux-schnell/api",
        "defaults": {"output_format": "png", "go_fast": False},
        "inputs": {
            "prompt": "prompt",
            "aspect_ratio": {"to": "aspect_ratio", "choices": _FLUX_RATIOS},
            "seed": "seed",
            "steps": "num_inference_steps",
        },
    },
    # Text to image, and image to image with image (version 93d72f81). As flux-schnell
    # plus image, prompt_strength 0-1 (0.8), num_inference_steps 1-50 (50), guidance
    # 0-10 (3.5); aspect_ratio without 3:4 and 4:3 (ignored when image is given).
    # Output: a list of URLs.
    "black-forest-labs/flux-dev": {
        "modality": "keyframe",
        "output": "[0]",
        "source": "https://replicate.com/black-forest-labs/flux-dev/api",
        "defaults": {"output_format": "png", "go_fast": False},
        "inputs": {
            "prompt": "prompt",
            "image": "image",
            "strength": "prompt_strength",
            "aspect_ratio": {
                "to": "aspect_ratio",
                "choices": [r for r in _FLUX_RATIOS if r not in ("3:4", "4:3")],
            },
            "seed": "seed",
            "steps": "num_inference_steps",
            "guidance": "guidance",
        },
    },
    # Image to video (version daad218f). prompt; start_image (the model needs one);
    # end_image (pro mode only); mode standard|pro (standard 720p, pro 1080p, both
    # 24 fps); duration 5|10 (integers, 5); negative_prompt. Output: a URL.
    "kwaivgi/kling-v2.1": {
        "modality": "video",
        "output": "",
        "source": "https://replicate.com/kwaivgi/kling-v2.1/versions/daad218feb714b03e2a1ac445986aebb9d05243cd00da2af17be2e4049f48f69/api",
        "inputs": {
            "prompt": "prompt",
            "image": "start_image",
            "end_image": "end_image",
            "negative_prompt": "negative_prompt",
            "duration_s": {"to": "duration", "choices": [5, 10]},
        },
    },
    # Image or text to video (version 608bbe11). prompt; first_frame_image;
    # subject_reference (one image of a character); prompt_optimizer (true);
    # there is no duration input (the model decides the length). Output: a URL.
    "minimax/video-01": {
        "modality": "video",
        "output": "",
        "source": "https://replicate.com/minimax/video-01/api",
        "inputs": {
            "prompt": "prompt",
            "image": "first_frame_image",
            "reference_image": "subject_reference",
        },
    },
    # Image to video (version 4eaf2b01). prompt; image; last_image; num_frames 81-121 (81);
    # frames_per_second 5-30 (16); resolution 480p|720p (480p); interpolate_output;
    # go_fast (true); sample_shift; seed; disable_safety_checker. Output: a URL.
    "wan-video/wan-2.2-i2v-fast": {
        "modality": "video",
        "output": "",
        "source": "https://replicate.com/wan-video/wan-2.2-i2v-fast/api",
        "inputs": {
            "prompt": "prompt",
            "image": "image",
            "end_image": "last_image",
            "seed": "seed",
            "frames": "num_frames",
            "fps": {"to": "frames_per_second", "type": "integer"},
            "resolution": {"to": "resolution", "choices": ["480p", "720p"]},
        },
    },
    # Text or image to video (version f22bbc7d). prompt; image; last_frame_image (needs
    # image); reference_images (1-4, not with 1080p or frame images: so not bound, as
    # recoil's clips start from a frame); duration 2-12
    # (integer seconds, 5); resolution 480p|720p|1080p (720p); aspect_ratio 16:9|4:3|1:1|
    # 3:4|9:16|21:9|9:21 (16:9, ignored with an image); fps 24 only; camera_fixed; seed.
    # Output: a URL.
    "bytedance/seedance-1-lite": {
        "modality": "video",
        "output": "",
        "source": "https://replicate.com/bytedance/seedance-1-lite/api",
        "inputs": {
            "prompt": "prompt",
            "image": "image",
            "end_image": "last_frame_image",
            "seed": "seed",
            "duration_s": {"to": "duration", "type": "integer"},
            "fps": {"to": "fps", "type": "integer"},
            "resolution": {"to": "resolution", "choices": ["480p", "720p", "1080p"]},
            "aspect_ratio": {
                "to": "aspect_ratio",
                "choices": ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"],
            },
        },
    },
    # Text to speech (version f559560e). text; voice af_alloy|af_bella|...|bm_lewis
    # (af_bella); speed 0.1-5 (1). Output: a URL. A shot-list voice that is not one of the
    # model's is an error at preflight: map it in recoil.toml or give the model's voice.
    "jaaari/kokoro-82m": {
        "modality": "audio",
        "output": "",
        "source": "https://replicate.com/jaaari/kokoro-82m/versions/f559560eb822dc509045f3921a1921234918b91739db4bf3daab2169b71c7a13/api",
        "inputs": {"prompt": "text", "voice": "voice"},
    },
    # Text to speech (version e284910d). text (< 5000 characters); voice_id (Wise_Woman);
    # speed 0.5-2 (1); volume; pitch -12..12; emotion (neutral); english_normalization;
    # sample_rate (32000); bitrate; channel; language_boost. Output: a URL.
    "minimax/speech-02-hd": {
        "modality": "audio",
        "output": "",
        "source": "https://replicate.com/minimax/speech-02-hd/api",
        "inputs": {"prompt": "text", "voice": "voice_id", "sample_rate": "sample_rate"},
    },
}
"""Model ``owner/name`` -> binding table (see :mod:`recoil.providers.binding`)."""

REPLICATE_GENERIC: Mapping[str, Mapping[str, Any]] = {
    "keyframe": {
        "modality": "keyframe",
        "inputs": {
            "prompt": "prompt",
            "negative_prompt": "negative_prompt",
            "seed": "seed",
            "width": "width",
            "height": "height",
            "aspect_ratio": "aspect_ratio",
            "image": "image",
            "strength": "prompt_strength",
            "steps": "num_inference_steps",
            "guidance": "guidance_scale",
        },
    },
    "video": {
        "modality": "video",
        "inputs": {
            "prompt": "prompt",
            "negative_prompt": "negative_prompt",
            "seed": "seed",
            "image": "image",
            "end_image": "end_image",
            "width": "width",
            "height": "height",
            "frames": "num_frames",
            "fps": "frames_per_second",
            "duration_s": "duration",
            "steps": "num_inference_steps",
            "guidance": "guidance_scale",
        },
    },
    "audio": {
        "modality": "audio",
        "inputs": {"prompt": "text", "voice": "voice", "reference_audio": "audio"},
    },
    "upscale": {
        "modality": "upscale",
        "inputs": {"image": "image", "video": "video", "scale": "scale"},
    },
}
"""The binding of a model recoil has none for: common input names, each sent only when
the model's schema has it."""
