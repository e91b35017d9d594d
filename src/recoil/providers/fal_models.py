"""The fal model bindings that ship with recoil, written from each endpoint's published schema.

Each entry is a binding table as ``recoil.toml`` writes it (see
:mod:`recoil.providers.binding`); ``source`` is the page its facts come from
(fal publishes each endpoint's input schema at ``fal.ai/models/<id>/llms.txt``
and as OpenAPI at ``fal.ai/api/openapi/queue/openapi.json?endpoint_id=<id>``).
The comment above each lists the facts used. Preflight checks every request
against the schema fetched at run time, so a schema that moved on since is
one line before any paid call, not a failed generation.

fal output file objects are ``{url, content_type?, file_name?, file_size?}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FLUX = "https://fal.ai/models/fal-ai/flux/dev/llms.txt"

FAL_BINDINGS: Mapping[str, Mapping[str, Any]] = {
    # Text to image. prompt (required); image_size: an enum (square_hd, landscape_4_3...) or
    # {width, height}; num_inference_steps 1-50 (28); seed; guidance_scale 1-20 (3.5);
    # num_images; enable_safety_checker; output_format jpeg|png (jpeg); sync_mode.
    # Output {images: [{url, width, height, content_type}], seed, has_nsfw_concepts, prompt}.
    "fal-ai/flux/dev": {
        "modality": "keyframe",
        "output": "images[0]",
        "source": _FLUX,
        "defaults": {"output_format": "png"},
        "inputs": {
            "prompt": "prompt",
            "size": "image_size",
            "seed": "seed",
            "steps": "num_inference_steps",
            "guidance": "guidance_scale",
        },
    },
    # As flux/dev, with num_inference_steps 1-12 (4) and no guidance_scale.
    "fal-ai/flux/schnell": {
        "modality": "keyframe",
        "output": "images[0]",
        "source": "https://fal.ai/models/fal-ai/flux/schnell/llms.txt",
        "defaults": {"output_format": "png"},
        "inputs": {
            "prompt": "prompt",
            "size": "image_size",
            "seed": "seed",
            "steps": "num_inference_steps",
        },
    },
    # Image to image. image_url and prompt (required); strength 0.01-1 (0.95);
    # num_inference_steps 10-50 (40); guidance_scale; seed; num_images;
    # enable_safety_checker; sync_mode. The size follows the input image. Output as flux/dev.
    "fal-ai/flux/dev/image-to-image": {
        "modality": "keyframe",
        "output": "images[0]",
        "source": "https://fal.ai/models/fal-ai/flux/dev/image-to-image/llms.txt",
        "inputs": {
            "prompt": "prompt",
            "image": "image_url",
            "strength": "strength",
            "seed": "seed",
            "steps": "num_inference_steps",
            "guidance": "guidance_scale",
        },
    },
    # Image to video. prompt and image_url (required); duration "5"|"10" (strings, "5");
    # negative_prompt ("blur, distort, and low quality"); cfg_scale 0-1 (0.5). No seed, no
    # aspect ratio or fps (the clip follows the image). Output {video: {url}}.
    "fal-ai/kling-video/v2.1/standard/image-to-video": {
        "modality": "video",
        "output": "video",
        "source": "https://fal.ai/models/fal-ai/kling-video/v2.1/standard/image-to-video/llms.txt",
        "inputs": {
            "prompt": "prompt",
            "image": "image_url",
            "negative_prompt": "negative_prompt",
            "duration_s": {"to": "duration", "choices": ["5", "10"]},
            "guidance": "cfg_scale",
        },
    },
    # As v2.1 standard, plus tail_image_url (the last frame).
    "fal-ai/kling-video/v2.1/pro/image-to-video": {
        "modality": "video",
        "output": "video",
        "source": "https://fal.ai/models/fal-ai/kling-video/v2.1/pro/image-to-video/llms.txt",
        "inputs": {
            "prompt": "prompt",
            "image": "image_url",
            "end_image": "tail_image_url",
            "negative_prompt": "negative_prompt",
            "duration_s": {"to": "duration", "choices": ["5", "10"]},
            "guidance": "cfg_scale",
        },
    },
    # Image to video. prompt and image_url (required); duration "6"|"10" ("6");
    # prompt_optimizer (true); resolution "512P"|"768P" ("768P"); end_image_url. No seed.
    # Output {video: {url}}.
    "fal-ai/minimax/hailuo-02/standard/image-to-video": {
        "modality": "video",
        "output": "video",
        "source": (
            "https://fal.ai/models/fal-ai/minimax/hailuo-02/standard/image-to-video/llms.txt"
        ),
        "inputs": {
            "prompt": "prompt",
            "image": "image_url",
            "end_image": "end_image_url",
            "duration_s": {"to": "duration", "choices": ["6", "10"]},
            "resolution": {"to": "resolution", "choices": ["512P", "768P"]},
        },
    },
    # Image to video. image_url and prompt (required); num_frames 17-161 (81);
    # frames_per_second 4-60 (16; with interpolation on, the output fps is fps x
    # (num_interpolated_frames + 1), so recoil turns it off to get the fps it asks for);
    # negative_prompt; seed; resolution 480p|580p|720p (720p); aspect_ratio
    # auto|16:9|9:16|1:1 (auto); interpolator_model none|film|rife (film).
    # Output {video: {url}, prompt, seed}.
    "fal-ai/wan/v2.2-a14b/image-to-video": {
        "modality": "video",
        "output": "video",
        "source": "https://fal.ai/models/fal-ai/wan/v2.2-a14b/image-to-video/llms.txt",
        "defaults": {"interpolator_model": "none"},
        "inputs": {
            "prompt": "prompt",
            "image": "image_url",
            "negative_prompt": "negative_prompt",
            "seed": "seed",
            "frames": "num_frames",
            "fps": {"to": "frames_per_second", "type": "integer"},
            "resolution": {"to": "resolution", "choices": ["480p", "580p", "720p"]},
            "aspect_ratio": {"to": "aspect_ratio", "choices": ["16:9", "9:16", "1:1"]},
            "steps": "num_inference_steps",
            "guidance": "guidance_scale",
        },
    },
    # Text to speech. text (required); voice (a name, "Rachel"); stability (0.5);
    # similarity_boost (0.75); style; speed 0.7-1.2; language_code; previous_text,
    # next_text. Output {audio: {url}, timestamps?}.
    "fal-ai/elevenlabs/tts/multilingual-v2": {
        "modality": "audio",
        "output": "audio",
        "source": "https://fal.ai/models/fal-ai/elevenlabs/tts/multilingual-v2/llms.txt",
        "inputs": {"prompt": "text", "voice": "voice"},
    },
    # Text to speech. prompt (the text); voice af_heart|af_bella|...|am_santa (af_heart);
    # speed 0.1-5 (1). Output {audio: {url}}. A shot-list voice that is not one of the
    # model's is an error at preflight: map it in recoil.toml (voice = { to = "voice",
    # map = { "en-us+f3" = "af_bella" } }) or give the model's voice in the shot list.
    "fal-ai/kokoro/american-english": {
        "modality": "audio",
        "output": "audio",
        "source": "https://fal.ai/models/fal-ai/kokoro/american-english/llms.txt",
        "inputs": {"prompt": "prompt", "voice": "voice"},
    },
}
"""Model id -> binding table (see :mod:`recoil.providers.binding`)."""

FAL_GENERIC: Mapping[str, Mapping[str, Any]] = {
    "keyframe": {
        "modality": "keyframe",
        "inputs": {
            "prompt": "prompt",
            "negative_prompt": "negative_prompt",
            "seed": "seed",
            "size": "image_size",
            "image": "image_url",
            "strength": "strength",
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
            "image": "image_url",
            "end_image": "tail_image_url",
            "duration_s": "duration",
            "steps": "num_inference_steps",
            "guidance": "guidance_scale",
        },
    },
    "audio": {
        "modality": "audio",
        "inputs": {"prompt": "text", "voice": "voice", "reference_audio": "audio_url"},
    },
    "upscale": {
        "modality": "upscale",
        "inputs": {"image": "image_url", "video": "video_url", "scale": "scale"},
    },
}
"""The binding of a model recoil has none for: fal's common input names, each sent only
when the model's schema has it."""
