"""The scorer registry: built-ins by modality, entry-point plugins, lookups by name."""

from __future__ import annotations

import logging
from pathlib import Path
from textwrap import dedent

import pytest
from PIL import Image

from recoil.errors import ConfigError, NotFoundError, ValidationError
from recoil.evals import (
    ENTRY_POINT_GROUP,
    Score,
    ScorerRegistry,
    Subject,
    builtin_scorers,
    default_registry,
    evaluate,
    register_builtin_scorers,
)
from tests.unit.evals.media import save

BUILTIN = {
    "keyframe": ["exposure", "noise", "prompt_adherence", "sharpness"],
    "upscale": ["exposure", "noise", "prompt_adherence", "sharpness"],
    "video": ["continuity", "duration", "flicker", "fps", "motion", "prompt_adherence"],
    "audio": ["clipping", "duration", "loudness", "silence"],
}


def _builtins() -> ScorerRegistry:
    return register_builtin_scorers(ScorerRegistry(load_entry_points=False))


@pytest.mark.parametrize("modality", sorted(BUILTIN))
def test_the_builtins_of_each_modality(modality: str) -> None:
    """SPEC 10: image, video and audio scorers, sorted by name, each versioned."""
    scorers = _builtins().scorers(modality)
    assert [s.name for s in scorers] == BUILTIN[modality]
    assert all(s.version for s in scorers)


def test_every_builtin_has_a_unique_name_and_a_version() -> None:
    """One score per scorer, named like it: the names are the keys of [evals.weights]."""
    names = [s.name for s in builtin_scorers()]
    assert len(names) == len(set(names)) == 12
    assert _builtins().names() == sorted(names)
    assert default_registry().scorer("loudness").version == "1"


def test_an_unknown_scorer_suggests_the_closest_name() -> None:
    """A typo in recoil.toml or --scorer: NotFoundError (a LookupError) with did-you-mean."""
    with pytest.raises(NotFoundError, match=r"unknown scorer 'sharpnes'.*did you mean 'sharpness'"):
        _builtins().scorer("sharpnes")
    assert "sharpness" in _builtins()
    assert "sharpnes" not in _builtins()


def test_evaluate_with_named_scorers_checks_the_names_first(tmp_path: Path) -> None:
    """An unknown name fails before the file is even opened; names of other modalities are
    left out; the chosen ones run in name order."""
    image = save(Image.new("RGB", (32, 32), (90, 120, 150)), tmp_path / "k.png")
    registry = _builtins()
    with pytest.raises(NotFoundError, match="did you mean 'exposure'"):
        evaluate(Subject(path=tmp_path / "absent.png", modality="keyframe"),
                 registry=registry, names=["exposur"])  # fmt: skip
    chosen = evaluate(
        Subject(path=image, modality="keyframe"),
        registry=registry,
        names=["sharpness", "loudness", "exposure", "sharpness"],
    )
    assert [r.scorer for r in chosen.results] == ["sharpness", "exposure"]
    assert chosen.skipped == ()


def test_skipped_scorers_are_reported_with_their_reason(tmp_path: Path) -> None:
    """Prompt adherence without a model: one line saying how to get one."""
    image = save(Image.new("RGB", (32, 32), (90, 120, 150)), tmp_path / "k.png")
    from recoil.model.requests import KeyframeRequest

    subject = Subject(path=image, modality="keyframe", request=KeyframeRequest(prompt="a door"))
    evaluation = evaluate(subject, registry=_builtins())
    assert [r.scorer for r in evaluation.results] == ["exposure", "noise", "sharpness"]
    (skipped,) = evaluation.skipped
    assert skipped.scorer == "prompt_adherence"
    assert str(skipped).startswith("prompt_adherence skipped: no CLIP model is configured;")
    assert "\n" not in str(skipped)
    assert set(evaluation.values()) == {"exposure", "noise", "sharpness"}


class Brightness:
    """A plugin scorer: the mean luma, as a third party would write it."""

    name = "brightness"
    version = "7"
    modalities = frozenset({"keyframe"})

    def score(self, subject: Subject) -> Score:
        luma = subject.media.still().luma
        return Score(value=float(luma.mean()) / 255, measurements={"mean": float(luma.mean())})


def test_a_scorer_registers_by_hand_and_checks_its_shape() -> None:
    """register() takes anything with the protocol's shape and refuses what is not."""
    registry = ScorerRegistry(load_entry_points=False)
    registry.register(Brightness())
    assert registry.scorers("keyframe")[0].name == "brightness"
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(Brightness())
    registry.register(Brightness(), replace=True)
    with pytest.raises(ConfigError, match="is not a scorer"):
        registry.register(object())  # type: ignore[arg-type]
    bad = Brightness()
    bad.name = "Bright Ness"  # type: ignore[misc]
    with pytest.raises(ConfigError, match="lower-case identifiers"):
        registry.register(bad)
    unversioned = Brightness()
    unversioned.version = ""  # type: ignore[misc]
    with pytest.raises(ConfigError, match="non-empty version"):
        registry.register(unversioned)


def test_a_scorer_returning_something_else_is_named(tmp_path: Path) -> None:
    """A plugin returning a bare float: the error names the scorer."""

    class Sloppy(Brightness):
        name = "sloppy"

        def score(self, subject: Subject) -> Score:
            return 0.5  # type: ignore[return-value]

    registry = ScorerRegistry(load_entry_points=False)
    registry.register(Sloppy())
    image = save(Image.new("RGB", (8, 8)), tmp_path / "k.png")
    with pytest.raises(ValidationError, match="scorer 'sloppy' returned float"):
        evaluate(Subject(path=image, modality="keyframe"), registry=registry)


def _install_plugin(site: Path, body: str, *, module: str) -> None:
    """A distribution on ``site`` with a ``recoil.scorers`` entry point, as pip leaves it."""
    (site / f"{module}.py").write_text(dedent(body), encoding="utf-8")
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: recoil-brightness\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nbrightness = {module}:register\n", encoding="utf-8"
    )


PLUGIN = """
    from recoil.evals import Score


    class Brightness:
        name = "brightness"
        version = "7"
        modalities = frozenset({"keyframe"})

        def score(self, subject):
            mean = float(subject.media.still().luma.mean())
            return Score(value=mean / 255, measurements={"mean": mean})


    def register(registry):
        registry.register(Brightness())
"""


def test_a_plugin_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution's recoil.scorers entry point: loaded on the first lookup,
    listed with the built-ins and run by evaluate."""
    _install_plugin(tmp_path, PLUGIN, module="recoil_brightness")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = register_builtin_scorers(ScorerRegistry())
    assert registry.scorer("brightness").version == "7"
    assert "brightness" in [s.name for s in registry.scorers("keyframe")]
    grey = save(Image.new("RGB", (16, 16), (51, 51, 51)), tmp_path / "g.png")
    evaluation = evaluate(Subject(path=grey, modality="keyframe"), registry=registry)
    assert evaluation.values()["brightness"] == pytest.approx(0.2)
    assert ScorerRegistry(load_entry_points=False).names() == []


def test_a_broken_plugin_is_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A plugin that fails to import must not break recoil: one warning, the rest works."""
    _install_plugin(tmp_path, "raise RuntimeError('plugin bug')\n", module="recoil_broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = register_builtin_scorers(ScorerRegistry())
    with caplog.at_level(logging.WARNING, logger="recoil.evals.registry"):
        assert "sharpness" in registry.names()
    assert "scorer plugin brightness failed to load: plugin bug" in caplog.text
