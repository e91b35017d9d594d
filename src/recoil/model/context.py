"""DispatchContext: where a dispatch writes, whom it asks, and under what limits."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recoil.errors import ValidationError
from recoil.model.provider_config import ProviderConfig
from recoil.model.signing import ContentSigning

DEFAULT_PROVIDER = "previz"
ARTIFACTS_DIR = "artifacts"
"""The folder under a project that holds its artifacts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchContext:
    """Everything a dispatch needs besides the payload.

    Give ``project`` (receipts go to ``project/receipts.jsonl``, artifacts under
    ``project/artifacts/``) or both ``receipts_path`` and ``artifact_root``.
    Paths inside the project are relative to it: receipts record artifact paths
    that way, and a relative input-file path in a payload (``image``, ``video``,
    ``reference_images``...) is read from the folder holding the receipt log, so
    a receipt's artifact path can be passed to the next dispatch as it is.
    Validation runs in ``__post_init__``, so ``dataclasses.replace`` validates
    the new context too; a bad value fails here, never inside a provider.
    """

    project: Path | None = None
    receipts_path: Path | None = None
    artifact_root: Path | None = None
    providers: Mapping[str, str] = field(default_factory=dict)
    """Modality -> provider name, overriding ``default_provider``."""
    default_provider: str = DEFAULT_PROVIDER
    provider_config: Mapping[str, ProviderConfig] = field(default_factory=dict)
    """Provider name -> its configuration (options, prices, secrets)."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """Caller provenance, JSON-safe with string keys; recorded on every receipt."""
    seed: int | None = None
    """Seed for requests that do not pin one; ``None`` draws a fresh one."""
    run_id: str | None = None
    timeout_s: float = 600.0
    budget: float | None = None
    use_cache: bool = True
    embed_prompts: bool = True
    signing: ContentSigning | None = None
    """Sign stored PNG and MP4 outputs with Content Credentials; ``None`` signs nothing."""

    def __post_init__(self) -> None:
        self._check_paths()
        self._check_providers()
        self._check_values()

    def _check_paths(self) -> None:
        # Accept str paths from callers; store Paths.
        for name in ("project", "receipts_path", "artifact_root"):
            value = getattr(self, name)
            if value is None or isinstance(value, Path):
                continue
            if not isinstance(value, str | os.PathLike):
                raise ValidationError(f"DispatchContext.{name} must be a path, got {value!r}")
            object.__setattr__(self, name, Path(value))
        if self.project is None and (self.receipts_path is None or self.artifact_root is None):
            raise ValidationError(
                "DispatchContext needs project=PATH, or both receipts_path and artifact_root"
            )

    def _check_providers(self) -> None:
        if not isinstance(self.providers, Mapping):
            raise ValidationError(
                "DispatchContext.providers must be a dict of modality -> provider name, "
                f"got {type(self.providers).__name__}"
            )
        for modality, provider in self.providers.items():
            if not (isinstance(modality, str) and isinstance(provider, str) and provider):
                raise ValidationError(
                    f"DispatchContext.providers maps modality names to provider names, "
                    f"got {modality!r}: {provider!r}"
                )
        if not self.default_provider:
            raise ValidationError("DispatchContext.default_provider must name a provider")
        if not isinstance(self.provider_config, Mapping) or not all(
            isinstance(k, str) and isinstance(v, ProviderConfig)
            for k, v in self.provider_config.items()
        ):
            raise ValidationError(
                "DispatchContext.provider_config must map provider names to ProviderConfig values"
            )

    def _check_values(self) -> None:
        _check_json_safe(self.provenance, "provenance")
        if self.run_id is not None and not (isinstance(self.run_id, str) and self.run_id):
            raise ValidationError(
                f"DispatchContext.run_id must be a non-empty string, got {self.run_id!r}"
            )
        for flag in ("use_cache", "embed_prompts"):
            if not isinstance(getattr(self, flag), bool):
                raise ValidationError(
                    f"DispatchContext.{flag} must be True or False, got {getattr(self, flag)!r}"
                )
        if self.signing is not None and not isinstance(self.signing, ContentSigning):
            raise ValidationError(
                "DispatchContext.signing must be a ContentSigning or None, "
                f"got {type(self.signing).__name__}"
            )
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise ValidationError(f"DispatchContext.seed must be an int >= 0, got {self.seed!r}")
        if isinstance(self.timeout_s, bool) or not (
            isinstance(self.timeout_s, int | float) and self.timeout_s > 0
        ):
            raise ValidationError(f"DispatchContext.timeout_s must be > 0, got {self.timeout_s!r}")
        if self.budget is not None and (
            isinstance(self.budget, bool)
            or not isinstance(self.budget, int | float)
            or not (math.isfinite(self.budget) and self.budget >= 0)
        ):
            raise ValidationError(f"DispatchContext.budget must be >= 0, got {self.budget!r}")

    @property
    def receipts_file(self) -> Path:
        """The receipt log this context writes to."""
        if self.receipts_path is not None:
            return self.receipts_path
        assert self.project is not None  # guaranteed by __post_init__
        return self.project / "receipts.jsonl"

    @property
    def artifacts_dir(self) -> Path:
        """The artifact root this context stores into."""
        if self.artifact_root is not None:
            return self.artifact_root
        assert self.project is not None
        return self.project / ARTIFACTS_DIR

    def provider_for(self, modality: str, requested: str | None) -> str:
        """The provider a request goes to: its own choice, this context's, the default."""
        return requested or self.providers.get(modality) or self.default_provider


_FLAT_JSON = frozenset({str, int, bool, type(None)})


def _check_json_safe(value: Mapping[str, Any], name: str) -> None:
    if not isinstance(value, Mapping):
        raise ValidationError(f"DispatchContext.{name} must be a dict, got {type(value).__name__}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise ValidationError(f"DispatchContext.{name} keys must be strings, got {bad[0]!r}")
    if all(type(v) in _FLAT_JSON for v in value.values()):
        return  # the usual flat provenance: JSON-safe without encoding it (every step does this)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"DispatchContext.{name} must be JSON-safe: {exc}") from None
