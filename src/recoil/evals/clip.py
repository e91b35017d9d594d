"""Prompt adherence: how well an image or clip matches its prompt, by a CLIP model on disk.

The score is CLIPScore (Hessel et al., 2021): ``2.5 * max(cos, 0)``, capped
at 1, where ``cos`` is the cosine similarity of the CLIP embeddings of the
prompt and the picture (for a clip, the mean over its first, middle and last
sampled frames). ``clip_cosine`` keeps ``cos``.

It needs the ``clip`` extra (``transformers`` and ``torch``) and a CLIP model
the user already has: a local folder (``save_pretrained`` layout, as
``hf download openai/clip-vit-base-patch32 --local-dir DIR`` gives) or the id
of a model in their Hugging Face cache. It loads with ``local_files_only`` and
never downloads. Without the extra, the model or a prompt, it raises
:class:`~recoil.errors.ScorerUnavailableError` saying which, and is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recoil.errors import ScorerUnavailableError
from recoil.evals.score import Score, clamp

if TYPE_CHECKING:
    from PIL import Image

    from recoil.evals.subject import Subject

NAME = "prompt_adherence"
CLIPSCORE_WEIGHT = 2.5
"""Hessel et al.'s ``w``: it stretches CLIP's usual cosines (0-0.4) over [0, 1]."""
EXTRA_HINT = "install the clip extra: pip install 'recoil[clip]'"
MODEL_HINT = (
    "download one once, e.g. `hf download openai/clip-vit-base-patch32 --local-dir DIR`, "
    "and name DIR in recoil.toml [evals] clip_model"
)


class PromptAdherence:
    """CLIPScore of the picture against the request's prompt (module docstring).

    ``model`` is a folder or a Hugging Face cache id; ``None`` (not configured)
    makes every call skip with the fix. The model loads on first use and stays.
    """

    name = NAME
    modalities = frozenset({"keyframe", "upscale", "video"})

    def __init__(self, model: str | Path | None = None) -> None:
        self.model = None if model is None else str(model)
        self._loaded: _Clip | None = None

    @property
    def version(self) -> str:
        """``1`` and the model: another model gives other scores."""
        return "1" if self.model is None else f"1;model={self.model}"

    def score(self, subject: Subject) -> Score:
        """Score the subject's picture against its prompt."""
        prompt = subject.request.prompt.strip() if subject.request is not None else ""
        if not prompt:
            raise ScorerUnavailableError(self.name, "no prompt to compare the picture with")
        if self._loaded is None:
            self._loaded = _load(self.model)
        if subject.modality == "video":
            pictures: Sequence[Image.Image] = subject.media.clip().thumbnails
        else:
            pictures = [subject.media.still().rgb]
        cosine = self._loaded.cosine(prompt, pictures)
        return Score(
            value=clamp(CLIPSCORE_WEIGHT * max(cosine, 0.0)),
            measurements={"clip_cosine": cosine},
        )


class _Clip:
    """A loaded CLIP model with its tokenizer and image processor."""

    def __init__(self, model: Any, tokenizer: Any, processor: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        self.max_tokens = int(model.config.text_config.max_position_embeddings)

    def cosine(self, prompt: str, pictures: Sequence[Image.Image]) -> float:
        """The mean cosine similarity of the prompt and each picture."""
        import torch

        text = self.tokenizer(
            [prompt],
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        pixels = self.processor(images=list(pictures), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self.model(
                input_ids=text["input_ids"],
                attention_mask=text["attention_mask"],
                pixel_values=pixels,
            )
        # CLIPModel returns both embeddings normalised: their dot product is the cosine.
        cosines = out.image_embeds @ out.text_embeds[0]
        value = float(cosines.mean())
        return value if math.isfinite(value) else 0.0


def _load(model: str | None) -> _Clip:
    if model is None:
        raise ScorerUnavailableError(NAME, f"no CLIP model is configured; {MODEL_HINT}")
    try:
        import torch  # noqa: F401 - transformers imports it lazily; fail here, clearly
        from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer
    except ImportError as exc:
        raise ScorerUnavailableError(NAME, f"{exc}; {EXTRA_HINT}") from None
    folder = Path(model).expanduser()
    if not folder.is_dir() and (folder.is_absolute() or model.startswith((".", "~"))):
        raise ScorerUnavailableError(NAME, f"no CLIP model folder at {folder}; {MODEL_HINT}")
    source = str(folder) if folder.is_dir() else model
    try:
        with _no_progress_bars():
            loaded = _Clip(
                CLIPModel.from_pretrained(source, local_files_only=True).eval(),
                CLIPTokenizer.from_pretrained(source, local_files_only=True),
                CLIPImageProcessorPil.from_pretrained(source, local_files_only=True),
            )
    except (OSError, ValueError) as exc:
        where = f"folder {source}" if folder.is_dir() else f"{model!r} (not a folder, nor cached)"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScorerUnavailableError(
            NAME, f"cannot load a CLIP model from {where}: {reason}; {MODEL_HINT}"
        ) from None
    return loaded


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers draws a progress bar per load; a scorer keeps the terminal quiet."""
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()
