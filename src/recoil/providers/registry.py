"""The registry: modality -> runner, and the providers each runner can call.

A :class:`Runner` validates a payload into its modality's request type and
knows the providers that serve the modality. The process-wide default registry
(:func:`default_registry`) comes with the built-ins; every API also accepts an
explicit registry so tests never share state.

Third-party providers register through the entry-point group
``recoil.providers``: each entry point names a callable taking the registry
(``def register(registry: Registry) -> None``). They are loaded lazily, the
first time a lookup misses, so importing recoil stays fast.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from recoil.errors import ConfigError, UnknownModalityError, UnknownProviderError
from recoil.model.requests import BUILTIN_REQUESTS, Request, build_request
from recoil.providers.base import ProviderFactory

ENTRY_POINT_GROUP = "recoil.providers"
log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runner:
    """What the registry maps a modality to."""

    modality: str
    request_type: type[Request]
    providers: dict[str, ProviderFactory] = field(default_factory=dict)

    def build(self, payload: Mapping[str, Any]) -> Request:
        """Validate a payload into this modality's request (PayloadError if not)."""
        return build_request(self.modality, self.request_type, payload)


class Registry:
    """Maps modality -> :class:`Runner`."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._runners: dict[str, Runner] = {}
        self._load_entry_points = load_entry_points
        self._entry_points_loaded = False

    def register(
        self, modality: str, request_type: type[Request], *, replace: bool = False
    ) -> Runner:
        """Register a modality; registering an existing one raises unless ``replace``."""
        if not modality or not modality.replace("_", "").isalnum():
            raise ConfigError(f"modality names are letters, digits and '_', got {modality!r}")
        existing = self._runners.get(modality)
        if existing is not None and not replace:
            raise ConfigError(
                f"modality {modality!r} is already registered; pass replace=True to replace it"
            )
        runner = Runner(modality, request_type)
        if existing is not None:
            runner.providers.update(existing.providers)
        self._runners[modality] = runner
        return runner

    def register_provider(
        self,
        name: str,
        factory: ProviderFactory,
        modalities: Iterable[str],
        *,
        replace: bool = False,
    ) -> None:
        """Make provider ``name`` available for each of ``modalities``."""
        for modality in modalities:
            runner = self.runner(modality)
            if name in runner.providers and not replace:
                raise ConfigError(
                    f"provider {name!r} already serves {modality!r}; pass replace=True"
                )
            runner.providers[name] = factory

    def __contains__(self, modality: object) -> bool:
        return modality in self._runners

    def modalities(self) -> list[str]:
        """The registered modalities, sorted."""
        return sorted(self._runners)

    def runner(self, modality: str) -> Runner:
        """The runner of a modality, or :class:`UnknownModalityError`."""
        runner = self._runners.get(modality)
        if runner is None and self._load_plugins():
            runner = self._runners.get(modality)
        if runner is None:
            raise UnknownModalityError(modality, list(self._runners))
        return runner

    def provider(self, name: str, modality: str) -> ProviderFactory:
        """The factory of provider ``name`` for ``modality``."""
        runner = self.runner(modality)
        factory = runner.providers.get(name)
        if factory is None and self._load_plugins():
            factory = runner.providers.get(name)
        if factory is None:
            raise UnknownProviderError(name, modality, list(runner.providers))
        return factory

    def providers(self) -> dict[str, list[str]]:
        """Provider name -> the modalities it serves."""
        self._load_plugins()
        served: dict[str, list[str]] = {}
        for modality, runner in sorted(self._runners.items()):
            for name in runner.providers:
                served.setdefault(name, []).append(modality)
        return dict(sorted(served.items()))

    def _load_plugins(self) -> bool:
        """Load third-party providers once; True if this call loaded them."""
        if not self._load_entry_points or self._entry_points_loaded:
            return False
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                register = ep.load()
                register(self)
            except Exception as exc:  # a broken plugin must not break recoil itself
                log.warning("provider plugin %s failed to load: %s", ep.name, exc)
        return True


def register_default_runners(registry: Registry) -> Registry:
    """Register the built-in modalities and providers; idempotent."""
    from recoil.providers import builtin

    for modality, request_type in BUILTIN_REQUESTS.items():
        if modality not in registry:
            registry.register(modality, request_type)
    for name, factory, modalities in builtin.PROVIDERS:
        registry.register_provider(name, factory, modalities, replace=True)
    return registry


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry, with the built-ins registered."""
    global _default  # noqa: PLW0603 - one lazily built process-wide default
    if _default is None:
        _default = register_default_runners(Registry())
    return _default
