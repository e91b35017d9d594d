"""Tiny, randomly initialised diffusers pipelines, saved as a downloaded model would be.

No package ships diffusion weights and nothing may download, so each pipeline
is built at toy size (a few channels, one layer) from seeded random weights,
with a CLIP tokenizer made from a vocabulary written here, and saved with
``save_pretrained``: the provider loads the folder through the same code as a
user's ``hf download`` folder.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ("a", "red", "door", "in", "the", "rain", "opens", "closes")


def _tokenizer(folder: Path) -> object:
    """A byte-level BPE CLIP tokenizer over letters and the words above."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz,.!?'":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(f"{char}</w>", len(vocab))
    merges = []
    for word in WORDS:
        merged = word[0]
        for i, char in enumerate(word[1:], start=1):
            piece = f"{char}</w>" if i == len(word) - 1 else char
            merges.append(f"{merged} {piece}")
            merged += piece
            vocab.setdefault(merged, len(vocab))
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer.from_pretrained(folder, model_max_length=16)


def _text_encoder(tokenizer: object) -> object:
    """A one-layer CLIP text encoder of width 8 over ``tokenizer``'s vocabulary."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=8,
            intermediate_size=16,
            num_attention_heads=2,
            num_hidden_layers=1,
            vocab_size=len(tokenizer.get_vocab()),  # type: ignore[attr-defined]
            max_position_embeddings=16,
            projection_dim=8,
        )
    )


def text_to_image(folder: Path, *, channels: int = 4) -> Path:
    """A Stable Diffusion pipeline (UNet, VAE, CLIP text encoder, DDIM) of ``channels``
    channels in its first block and twice that in its second (the benchmark's is larger)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    tokenizer = _tokenizer(folder.parent / f"{folder.name}-tokenizer")
    unet = UNet2DConditionModel(
        block_out_channels=(channels, 2 * channels),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8,
        norm_num_groups=2,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(channels, 2 * channels),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
    )
    text_encoder = _text_encoder(tokenizer)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(folder)
    return folder


def image_to_video(folder: Path) -> Path:
    """A Stable Video Diffusion pipeline at 32-64 channels (its UNet's group norm needs 32)."""
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=8,
        num_attention_heads=2,
        addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=12,
        num_frames=4,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        latent_channels=4,
    )
    # The pipeline resizes the picture to 224 x 224 for its image encoder.
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=8,
            projection_dim=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=224,
            intermediate_size=16,
            patch_size=56,
        )
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        timestep_spacing="leading",
        steps_offset=1,
        interpolation_type="linear",
    )
    StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=CLIPImageProcessorPil(
            crop_size={"height": 224, "width": 224}, size={"shortest_edge": 224}
        ),
    ).save_pretrained(folder)
    return folder


def upscaler(folder: Path) -> Path:
    """A Stable Diffusion upscale pipeline whose 2-block VAE enlarges twice (the real one: 4x)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    tokenizer = _tokenizer(folder.parent / f"{folder.name}-tokenizer")
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=7,  # the latents and the low-resolution picture, stacked
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8,
        norm_num_groups=2,
        attention_head_dim=2,
        num_class_embeds=351,  # the noise level, up to max_noise_level
    )
    vae = AutoencoderKL(
        block_out_channels=(4, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
        scaling_factor=0.08333,
    )
    text_encoder = _text_encoder(tokenizer)
    StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(steps_offset=1, clip_sample=False, set_alpha_to_one=False),
        max_noise_level=350,
    ).save_pretrained(folder)
    return folder
