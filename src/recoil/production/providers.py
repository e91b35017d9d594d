"""``recoil providers``: is every provider a project uses configured and ready?

For each provider the project names (in the shot list, per modality or per
beat, and in ``recoil.toml``) the provider is built from its settings, which
checks credentials and templates, and asked for its preflight problems
(servers unreachable, node classes missing, bound inputs absent).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from recoil.errors import RecoilError
from recoil.model.provider_config import ProviderConfig
from recoil.production.folder import Production, open_production
from recoil.providers.registry import default_registry


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCheck:
    """What one provider's check found."""

    name: str
    modalities: tuple[str, ...]
    used: bool
    """Whether the shot list sends work to it (else it is only configured)."""
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when nothing stops a run from using the provider."""
        return not self.problems


def used_providers(production: Production) -> set[str]:
    """Providers the shot list sends work to."""
    project = production.shotlist.project
    names = {project.provider, *project.providers.values()}
    names |= {beat.provider for _, beat in production.shotlist.iter_beats() if beat.provider}
    return names


async def check_providers(path: Path) -> list[ProviderCheck]:
    """Build and preflight every provider the project uses or configures."""
    production = open_production(path)
    registry = default_registry()
    served = registry.providers()
    used = used_providers(production)
    configs = production.provider_configs()
    checks: list[ProviderCheck] = []
    for name in sorted(used | set(production.settings.providers)):
        modalities = tuple(served.get(name, ()))
        if not modalities:
            known = ", ".join(sorted(served))
            problem = f"no provider named {name!r} is installed; installed: {known}"
            checks.append(
                ProviderCheck(name=name, modalities=(), used=name in used, problems=(problem,))
            )
            continue
        problems = await _preflight(name, modalities[0], configs.get(name, ProviderConfig()))
        checks.append(
            ProviderCheck(
                name=name, modalities=modalities, used=name in used, problems=tuple(problems)
            )
        )
    return checks


async def _preflight(name: str, modality: str, config: ProviderConfig) -> list[str]:
    factory = default_registry().provider(name, modality)
    try:
        provider = factory(config)
    except RecoilError as exc:
        return [str(exc)]
    try:
        return await provider.preflight()
    except RecoilError as exc:
        return [str(exc)]
    finally:
        await provider.aclose()


def check_providers_sync(path: Path) -> list[ProviderCheck]:
    """:func:`check_providers` for callers without an event loop."""
    return asyncio.run(check_providers(path))
