"""The scorer registry: the built-ins plus plugins from the ``recoil.scorers`` entry points.

Third-party scorers register through the entry-point group ``recoil.scorers``:
each entry point names a callable taking the registry
(``def register(registry: ScorerRegistry) -> None``) that calls
:meth:`ScorerRegistry.register`. They are loaded lazily, the first time a
lookup misses or the scorers are listed, so importing recoil stays fast. The
process-wide default (:func:`default_registry`) holds the built-ins; every API
also accepts an explicit registry so tests never share state.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path

from recoil.errors import ConfigError, NotFoundError, did_you_mean
from recoil.evals.score import SCORER_NAME, Scorer

ENTRY_POINT_GROUP = "recoil.scorers"
log = logging.getLogger(__name__)


class ScorerRegistry:
    """Scorer name -> :class:`~recoil.evals.score.Scorer`."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._scorers: dict[str, Scorer] = {}
        self._load_entry_points = load_entry_points
        self._entry_points_loaded = False

    def register(self, scorer: Scorer, *, replace: bool = False) -> None:
        """Add a scorer; a name already taken raises unless ``replace``."""
        if not isinstance(scorer, Scorer):
            raise ConfigError(
                f"{scorer!r} is not a scorer: it needs name, version, modalities and score()"
            )
        name = scorer.name
        if not isinstance(name, str) or not SCORER_NAME.match(name):
            raise ConfigError(f"scorer names are lower-case identifiers, got {name!r}")
        if not isinstance(scorer.version, str) or not scorer.version:
            raise ConfigError(f"scorer {name!r} needs a non-empty version string")
        if not scorer.modalities or not all(isinstance(m, str) for m in scorer.modalities):
            raise ConfigError(f"scorer {name!r} needs the modalities it scores")
        if name in self._scorers and not replace:
            raise ConfigError(f"scorer {name!r} is already registered; pass replace=True")
        self._scorers[name] = scorer

    def __contains__(self, name: object) -> bool:
        if name not in self._scorers:
            self._load_plugins()
        return name in self._scorers

    def scorer(self, name: str) -> Scorer:
        """The scorer called ``name``, or :class:`~recoil.errors.NotFoundError`."""
        scorer = self._scorers.get(name)
        if scorer is None and self._load_plugins():
            scorer = self._scorers.get(name)
        if scorer is None:
            known = sorted(self._scorers)
            raise NotFoundError(
                f"unknown scorer {name!r}; available: {', '.join(known) or 'none'}"
                f"{did_you_mean(name, known)}"
            )
        return scorer

    def names(self) -> list[str]:
        """Every registered scorer's name, sorted."""
        self._load_plugins()
        return sorted(self._scorers)

    def scorers(self, modality: str | None = None) -> list[Scorer]:
        """The scorers of ``modality`` (all of them for ``None``), sorted by name."""
        self._load_plugins()
        return [
            scorer
            for name, scorer in sorted(self._scorers.items())
            if modality is None or modality in scorer.modalities
        ]

    def _load_plugins(self) -> bool:
        """Load third-party scorers once; True if this call loaded them."""
        if not self._load_entry_points or self._entry_points_loaded:
            return False
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                register = ep.load()
                register(self)
            except Exception as exc:  # a broken plugin must not break recoil itself
                log.warning("scorer plugin %s failed to load: %s", ep.name, exc)
        return True


def builtin_scorers(*, clip_model: str | Path | None = None) -> list[Scorer]:
    """One of each built-in scorer; ``clip_model`` is the prompt-adherence model, if any."""
    from recoil.evals.audio import Clipping, Loudness, Silence
    from recoil.evals.clip import PromptAdherence
    from recoil.evals.image import Exposure, Noise, Sharpness
    from recoil.evals.timing import Duration, FrameRate
    from recoil.evals.video import Continuity, Flicker, Motion

    return [
        Sharpness(),
        Exposure(),
        Noise(),
        Flicker(),
        Motion(),
        Continuity(),
        Duration(),
        FrameRate(),
        Loudness(),
        Clipping(),
        Silence(),
        PromptAdherence(clip_model),
    ]


def register_builtin_scorers(
    registry: ScorerRegistry, *, clip_model: str | Path | None = None
) -> ScorerRegistry:
    """Register (or replace) the built-in scorers; returns ``registry``."""
    for scorer in builtin_scorers(clip_model=clip_model):
        registry.register(scorer, replace=True)
    return registry


_default: ScorerRegistry | None = None


def default_registry() -> ScorerRegistry:
    """The process-wide registry, with the built-ins (and no CLIP model) registered."""
    global _default  # noqa: PLW0603 - one lazily built process-wide default
    if _default is None:
        _default = register_builtin_scorers(ScorerRegistry())
    return _default
