"""DispatchContext (SPEC 2 "DispatchContext")."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from recoil.dispatch import dispatch
from recoil.errors import ValidationError
from recoil.model.context import DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.providers.registry import Registry


def test_context_is_frozen(project_dir: Path) -> None:
    """SPEC 2 DispatchContext: a frozen dataclass."""
    ctx = DispatchContext(project=project_dir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.seed = 3  # type: ignore[misc]


def test_project_places_receipts_and_artifacts(project_dir: Path) -> None:
    """SPEC 2 DispatchContext: project=PATH means PATH/receipts.jsonl and PATH/artifacts/."""
    ctx = DispatchContext(project=str(project_dir))  # type: ignore[arg-type]
    assert ctx.project == project_dir
    assert ctx.receipts_file == project_dir / "receipts.jsonl"
    assert ctx.artifacts_dir == project_dir / "artifacts"


def test_explicit_paths(tmp_path: Path) -> None:
    """SPEC 2 DispatchContext: receipts and artifacts may go elsewhere than a project."""
    ctx = DispatchContext(receipts_path=tmp_path / "r.jsonl", artifact_root=tmp_path / "a")
    assert ctx.receipts_file == tmp_path / "r.jsonl"
    assert ctx.artifacts_dir == tmp_path / "a"


def test_dispatch_writes_where_the_context_says(
    project_dir: Path, registry: Registry, clean_env: None
) -> None:
    """SPEC 2 DispatchContext: a dispatch writes PATH/receipts.jsonl and under PATH/artifacts/."""
    ctx = DispatchContext(project=project_dir, default_provider="fake")
    receipt = dispatch("keyframe", {"prompt": "a door"}, context=ctx, registry=registry)
    assert (project_dir / "receipts.jsonl").read_text().count("\n") == 1
    path = project_dir / receipt.artifacts["image"].path
    assert path.is_file()
    assert path.is_relative_to(project_dir / "artifacts")


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"project": None}, "project"),
        ({"project": 3}, "must be a path"),
        ({"providers": [("video", "fal")]}, "providers must be a dict"),
        ({"provider_config": {"fal": {"options": {}}}}, "provider_config"),
        ({"run_id": 5}, "run_id"),
        ({"run_id": ""}, "run_id"),
        ({"use_cache": "no"}, "use_cache"),
        ({"embed_prompts": 1}, "embed_prompts"),
        ({"timeout_s": True}, "timeout_s"),
        ({"budget": True}, "budget"),
        ({"project": None, "receipts_path": Path("r.jsonl")}, "artifact_root"),
        ({"providers": {"keyframe": ""}}, "providers"),
        ({"providers": {"keyframe": 3}}, "providers"),
        ({"default_provider": ""}, "default_provider"),
        ({"provenance": {1: "x"}}, "keys must be strings"),
        ({"provenance": {"x": {1, 2}}}, "JSON-safe"),
        ({"provenance": {"x": math.nan}}, "JSON-safe"),
        ({"provenance": ["x"]}, "must be a dict"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": -3.0}, "timeout_s"),
        ({"budget": -0.01}, "budget"),
        ({"budget": math.inf}, "budget"),
        ({"budget": math.nan}, "budget"),
    ],
)
def test_invalid_values_fail_at_construction(
    project_dir: Path, changes: dict[str, Any], needle: str
) -> None:
    """SPEC 2 DispatchContext: invalid values raise a clear error at construction."""
    fields: dict[str, Any] = {"project": project_dir, **changes}
    with pytest.raises(ValidationError, match=needle):
        DispatchContext(**fields)


def test_replace_revalidates(project_dir: Path) -> None:
    """SPEC 2 DispatchContext: validation runs in __post_init__, so replace() re-validates."""
    ctx = DispatchContext(project=project_dir)
    assert dataclasses.replace(ctx, seed=7).seed == 7
    with pytest.raises(ValidationError, match="seed"):
        dataclasses.replace(ctx, seed=-7)
    with pytest.raises(ValidationError, match="JSON-safe"):
        dataclasses.replace(ctx, provenance={"when": object()})
    with pytest.raises(ValidationError, match="timeout_s"):
        dataclasses.replace(ctx, timeout_s=0)
    with pytest.raises(ValidationError, match="providers"):
        dataclasses.replace(ctx, providers={"video": ""})


def test_carries_the_documented_fields(project_dir: Path) -> None:
    """SPEC 2 DispatchContext: provider choice, provenance, seed, run id, timeout and budget."""
    ctx = DispatchContext(
        project=project_dir,
        providers={"video": "fal"},
        default_provider="previz",
        provider_config={"fal": ProviderConfig(options={"base_url": "http://127.0.0.1:9"})},
        provenance={"user": "ana", "nested": {"n": [1, 2.5, None, True]}},
        seed=42,
        run_id="run-1",
        timeout_s=30,
        budget=2.5,
    )
    assert ctx.providers["video"] == "fal"
    assert ctx.provider_config["fal"].options["base_url"] == "http://127.0.0.1:9"
    assert ctx.provenance["nested"] == {"n": [1, 2.5, None, True]}
    assert (ctx.seed, ctx.run_id, ctx.timeout_s, ctx.budget) == (42, "run-1", 30, 2.5)
    assert DispatchContext(project=project_dir).default_provider == "previz"


def test_provider_choice_order(project_dir: Path) -> None:
    """SPEC 2.3: the payload's provider, else the context's per-modality choice, else default."""
    ctx = DispatchContext(project=project_dir, providers={"video": "ctx"}, default_provider="dflt")
    assert ctx.provider_for("video", "payload") == "payload"
    assert ctx.provider_for("video", None) == "ctx"
    assert ctx.provider_for("keyframe", None) == "dflt"
