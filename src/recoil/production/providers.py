"""``recoil providers``: is every provider a project uses configured and ready?

For each provider the project names (in the shot list, per modality or per
beat, and in ``recoil.toml``) the provider is built from its settings, which
checks credentials and templates, and asked for its preflight problems
(servers unreachable, node classes missing, bound inputs absent). Then every
request the shot list will send it is checked as a run checks it before its
first call (:func:`planned_requests`): the keyframe a clip is animated from
is an input, so a video template that binds no ``image`` is a problem here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recoil.errors import PayloadError, RecoilError
from recoil.model.context import DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request
from recoil.production.folder import Production, open_production
from recoil.production.plan import plan_project, runnable_takes
from recoil.production.preflight import planned_request
from recoil.providers.base import ChecksRequests, Provider
from recoil.providers.registry import Registry, default_registry


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


def planned_requests(
    production: Production, registry: Registry
) -> dict[str, list[tuple[str, Request]]]:
    """Provider name -> (``take/step`` label, request) of each step the shot list plans.

    Each request is as the step will send it: an input an earlier step makes
    (the keyframe of a clip) or the frame a chained keyframe starts from
    stands as a placeholder path. Raises ``PayloadError`` for a step whose
    payload no provider could take (a field of the wrong type).
    """
    shot = production.shotlist.project
    context = DispatchContext(
        project=production.path, providers=dict(shot.providers), default_provider=shot.provider
    )
    project = plan_project(production.shotlist, None, base=production.path)
    found: dict[str, list[tuple[str, Request]]] = {}
    for _, beat, take in runnable_takes(project):
        for step in take.workflow.steps:
            request = planned_request(registry, beat, take, step)
            name = context.provider_for(step.modality, request.provider)
            found.setdefault(name, []).append((f"{take.take_id}/{step.step_id}", request))
    return found


async def check_providers(path: Path) -> list[ProviderCheck]:
    """Build and preflight every provider the project uses or configures.

    Each is then asked about the requests the shot list will send it.
    """
    production = open_production(path)
    registry = default_registry()
    served = registry.providers()
    used = used_providers(production)
    configs = production.provider_configs()
    try:
        requests = planned_requests(production, registry)
        planning: list[str] = []
    except PayloadError as exc:  # a step the shot list plans is invalid for every provider
        requests, planning = {}, [str(exc)]
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
        problems = await _preflight(
            name, modalities[0], configs.get(name, ProviderConfig()), requests.get(name, [])
        )
        if name in used:
            problems += planning
        checks.append(
            ProviderCheck(
                name=name, modalities=modalities, used=name in used, problems=tuple(problems)
            )
        )
    return checks


async def _preflight(
    name: str, modality: str, config: ProviderConfig, requests: Sequence[tuple[str, Request]]
) -> list[str]:
    factory = default_registry().provider(name, modality)
    try:
        provider = factory(config)
    except RecoilError as exc:
        return [str(exc)]
    try:
        problems = await provider.preflight()
        if not problems and requests:
            problems = _refused(provider, requests)
        if not problems and requests and isinstance(provider, ChecksRequests):
            problems = await provider.check_requests(requests)
        return problems
    except RecoilError as exc:
        return [str(exc)]
    finally:
        await provider.aclose()


def _refused(provider: Provider, requests: Sequence[tuple[str, Request]]) -> list[str]:
    """What the provider refuses of the requests, one line per reason with the steps it hits."""
    steps: dict[str, list[str]] = {}
    for label, request in requests:
        try:
            provider.validate(request)
        except PayloadError as exc:
            steps.setdefault(str(exc), []).append(label)
    return [
        f"{reason} ({labels[0]}{f' and {len(labels) - 1} more steps' if len(labels) > 1 else ''})"
        for reason, labels in steps.items()
    ]


def check_providers_sync(path: Path) -> list[ProviderCheck]:
    """:func:`check_providers` for callers without an event loop."""
    return asyncio.run(check_providers(path))
