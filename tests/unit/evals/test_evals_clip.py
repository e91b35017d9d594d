"""Prompt adherence with a tiny, randomly initialised CLIP model saved where a user's would be.

No package ships CLIP weights, so the model here is built at toy size from a
vocabulary written below, saved with ``save_pretrained`` and loaded through the
scorer's own code path, as a downloaded ``openai/clip-vit-base-patch32`` is.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from recoil.errors import ScorerUnavailableError
from recoil.evals import Subject, evaluate, register_builtin_scorers
from recoil.evals.clip import PromptAdherence
from recoil.evals.registry import ScorerRegistry
from recoil.model.requests import KeyframeRequest, VideoRequest
from tests.unit.evals.media import pan, save, texture, write_clip

transformers = pytest.importorskip("transformers")
pytest.importorskip("torch")

WORDS = ("a", "red", "door", "in", "the", "rain", "blue", "sky", "over", "city")


def _vocabulary() -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary: letters, end-of-word letters, and the words merged."""
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
    return vocab, merges


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLIP model folder: config, weights, tokenizer files and preprocessor config."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny-clip")
    vocab, merges = _vocabulary()
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    assert tokenizer.tokenize("the red door") == ["the</w>", "red</w>", "door</w>"]
    tiny = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1}
    config = CLIPConfig(
        text_config={
            **tiny,
            "num_attention_heads": 2,
            "vocab_size": len(vocab),
            "max_position_embeddings": 16,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={**tiny, "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=8,
    )
    import torch

    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(folder)
    return folder


@pytest.fixture
def keyframe(tmp_path: Path) -> Subject:
    image = save(texture(96, 64, seed=8), tmp_path / "k.png")
    request = KeyframeRequest(prompt="a red door in the rain")
    return Subject(path=image, modality="keyframe", request=request)


def test_a_tiny_clip_model_scores_a_keyframe(tiny_clip: Path, keyframe: Subject) -> None:
    """CLIPScore: 2.5 * max(cos, 0) in [0, 1], cos kept; a fresh load gives the same."""
    score = PromptAdherence(tiny_clip).score(keyframe)
    cosine = score.measurements["clip_cosine"]
    assert -1.0 <= cosine <= 1.0
    assert score.value == pytest.approx(min(1.0, 2.5 * max(cosine, 0.0)))
    assert PromptAdherence(str(tiny_clip)).score(keyframe) == score


def test_the_prompt_and_the_picture_both_move_the_score(
    tiny_clip: Path, keyframe: Subject, tmp_path: Path
) -> None:
    """Another prompt or another picture gives another cosine: both reach the model."""
    scorer = PromptAdherence(tiny_clip)
    base = scorer.score(keyframe).measurements["clip_cosine"]
    other_prompt = Subject(
        path=keyframe.path, modality="keyframe", request=KeyframeRequest(prompt="blue sky")
    )
    other = save(Image.new("RGB", (96, 64), (200, 20, 20)), tmp_path / "red.png")
    other_picture = Subject(path=other, modality="keyframe", request=keyframe.request)
    assert scorer.score(other_prompt).measurements["clip_cosine"] != base
    assert scorer.score(other_picture).measurements["clip_cosine"] != base


def test_a_long_prompt_is_truncated_to_the_model(tiny_clip: Path, keyframe: Subject) -> None:
    """More tokens than the text encoder has positions: truncated, not an error."""
    long = KeyframeRequest(prompt=" ".join(WORDS * 10))
    subject = Subject(path=keyframe.path, modality="keyframe", request=long)
    assert 0.0 <= PromptAdherence(tiny_clip).score(subject).value <= 1.0


def test_a_clip_is_scored_on_its_thumbnails(tiny_clip: Path, tmp_path: Path) -> None:
    """A video: the mean over its first, middle and last sampled frames."""
    frames = pan(texture(160, 64, seed=2), 30, size=(96, 64))
    clip = write_clip(tmp_path / "c.mp4", frames)
    subject = Subject(path=clip, modality="video", request=VideoRequest(prompt="the city"))
    score = PromptAdherence(tiny_clip).score(subject)
    assert 0.0 <= score.value <= 1.0


def test_the_version_names_the_model(tiny_clip: Path) -> None:
    """Another model gives other scores, so it is part of the version."""
    assert PromptAdherence().version == "1"
    assert PromptAdherence(tiny_clip).version == f"1;model={tiny_clip}"


def test_a_registry_built_with_a_model_runs_it(tiny_clip: Path, keyframe: Subject) -> None:
    """register_builtin_scorers(clip_model=...) is how settings name the model."""
    registry = register_builtin_scorers(
        ScorerRegistry(load_entry_points=False), clip_model=tiny_clip
    )
    evaluation = evaluate(keyframe, registry=registry)
    assert "prompt_adherence" in evaluation.values()
    assert evaluation.skipped == ()


def test_a_model_in_the_hugging_face_cache_loads_by_its_id(
    tiny_clip: Path, keyframe: Subject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's model cache: an id resolves to its snapshot, offline."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    revision = "0" * 40
    repo = cache / "models--recoil-tests--tiny-clip"
    shutil.copytree(tiny_clip, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    by_id = PromptAdherence("recoil-tests/tiny-clip").score(keyframe)
    assert by_id == PromptAdherence(tiny_clip).score(keyframe)


def _skip_reason(scorer: PromptAdherence, subject: Subject) -> str:
    with pytest.raises(ScorerUnavailableError) as caught:
        scorer.score(subject)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("scorer 'prompt_adherence' skipped: ")
    return caught.value.reason


def test_a_missing_model_folder_is_skipped_with_the_fix(tmp_path: Path, keyframe: Subject) -> None:
    """A folder that is not there: one line naming it and how to get a model."""
    reason = _skip_reason(PromptAdherence(tmp_path / "models" / "clip"), keyframe)
    assert reason.startswith(f"no CLIP model folder at {tmp_path / 'models' / 'clip'};")
    assert "hf download openai/clip-vit-base-patch32" in reason


def test_a_folder_without_a_model_is_skipped(tmp_path: Path, keyframe: Subject) -> None:
    """A folder that holds no CLIP model: cannot load, with transformers' first line."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _skip_reason(PromptAdherence(empty), keyframe).startswith(
        f"cannot load a CLIP model from folder {empty}: "
    )


def test_an_id_not_in_the_cache_is_skipped_without_downloading(
    tmp_path: Path, keyframe: Subject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing ever downloads: an id missing from the cache is a skip, at once."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    reason = _skip_reason(PromptAdherence("openai/clip-vit-base-patch32"), keyframe)
    assert "'openai/clip-vit-base-patch32' (not a folder, nor cached)" in reason


def test_no_model_configured_is_skipped(keyframe: Subject) -> None:
    """The default registry's prompt_adherence, before settings name a model."""
    assert _skip_reason(PromptAdherence(), keyframe).startswith("no CLIP model is configured;")


def test_no_prompt_is_skipped_before_loading(tiny_clip: Path, tmp_path: Path) -> None:
    """Nothing to compare with: skipped without loading the model."""
    image = save(texture(32, 32), tmp_path / "k.png")
    scorer = PromptAdherence(tiny_clip)
    reason = _skip_reason(scorer, Subject(path=image, modality="keyframe"))
    assert reason == "no prompt to compare the picture with"
    assert scorer._loaded is None


def test_without_the_clip_extra_it_is_skipped_with_the_install_line(
    tiny_clip: Path, keyframe: Subject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers not importable (simulated at the import edge): the pip line to fix it."""
    monkeypatch.setitem(sys.modules, "transformers", None)
    reason = _skip_reason(PromptAdherence(tiny_clip), keyframe)
    assert reason.endswith("install the clip extra: pip install 'recoil[clip]'")
