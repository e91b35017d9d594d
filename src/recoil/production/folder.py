"""A project folder opened for work: its settings, shot list and paths."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoil.errors import ConfigError
from recoil.model.context import ARTIFACTS_DIR, DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import Receipt
from recoil.model.signing import ContentSigning
from recoil.production.settings import Settings, load_credentials, load_settings
from recoil.providers.registry import default_registry
from recoil.records.artifacts import ArtifactStore
from recoil.records.redact import remember
from recoil.shotlist import ShotList, load_shotlist
from recoil.store import ProjectStore
from recoil.store.lock import ProjectLock


@dataclass(frozen=True, slots=True, kw_only=True)
class Production:
    """An opened project folder."""

    path: Path
    settings: Settings
    shotlist: ShotList

    @property
    def exports(self) -> Path:
        """Where the cut, timeline and contact sheet go."""
        return self.path / "exports"

    @property
    def artifacts(self) -> ArtifactStore:
        """The project's artifact store; ``artifacts.locate`` finds a file by its hash."""
        return ArtifactStore(self.path / ARTIFACTS_DIR)

    @property
    def frames(self) -> Path:
        """Where frames extracted for keyframe chaining go."""
        return self.path / "frames"

    @property
    def segments(self) -> Path:
        """Where the cut's per-beat segments are cached between exports."""
        return self.path / "cache" / "segments"

    @property
    def thumbnails(self) -> Path:
        """Where the contact sheet's thumbnails are kept between exports."""
        return self.path / "cache" / "thumbnails"

    def provider_configs(self) -> dict[str, ProviderConfig]:
        """Each configured provider's options, prices and secrets."""
        return provider_configs(self.path, self.settings)

    def content_signing(self) -> ContentSigning | None:
        """Who signs this project's outputs and cut (``None``: nobody), checked now."""
        return content_signing(self.path, self.settings)


def content_signing(path: Path, settings: Settings) -> ContentSigning | None:
    """The ``[signing]`` signer of the project in ``path``, checked by signing one pixel.

    A certificate or key that cannot sign is a ``ConfigError`` now, before a
    provider is paid for an output that could not be stored.
    """
    signing = settings.content_signing(path)
    if signing is not None:
        from recoil.media.credentials import check_signing

        check_signing(signing)
    return signing


def provider_configs(path: Path, settings: Settings | None) -> dict[str, ProviderConfig]:
    """Provider name -> its options (from ``recoil.toml``), prices and secrets."""
    secrets = load_credentials()
    remember(secrets.values())
    configs: dict[str, ProviderConfig] = {}
    names = set(default_registry().providers())
    if settings is not None:
        names |= set(settings.providers) | set(settings.prices)
    for name in names:
        options = dict(settings.providers.get(name, {})) if settings is not None else {}
        options.setdefault("project_dir", str(path))
        prices = dict(settings.prices.get(name, {})) if settings is not None else {}
        configs[name] = ProviderConfig(options=options, prices=prices, secrets=secrets)
    return configs


@contextmanager
def open_store(production: Production, *, writer: str | None = None) -> Iterator[ProjectStore]:
    """The project's store (reconciled with its receipt log), closed on exit.

    With ``writer`` (the command, e.g. ``"recoil run"``), the project is held for
    that one writer while the block runs (:mod:`recoil.store.lock`): a second
    writer is refused with :class:`~recoil.errors.ProjectBusyError`.
    """
    lock = ProjectLock(production.path, command=writer) if writer else None
    if lock is not None:
        lock.acquire()
    try:
        store = ProjectStore.open(production.path, url=production.settings.project.database_url)
        try:
            if writer:
                store.claim_writer(writer)
            yield store
        finally:
            store.close()
    finally:
        if lock is not None:
            lock.release()


def open_production(path: Path) -> Production:
    """Load a project folder's settings and shot list (ConfigError/ShotListError if bad)."""
    if not path.is_dir():
        raise ConfigError(f"{path}: no such project folder; create one with: recoil init {path}")
    settings = load_settings(path)
    shotlist_file = path / settings.project.shotlist
    return Production(path=path, settings=settings, shotlist=load_shotlist(shotlist_file))


async def dispatch_in_project(path: Path, modality: str, payload: Mapping[str, Any]) -> Receipt:
    """One generation into the folder's receipt log and artifacts (``recoil dispatch``).

    The folder's ``recoil.toml`` (if any) configures the providers, and its
    ``[run] timeout_s`` bounds the provider call as it bounds a run's. The dispatch
    is the folder's one writer while it lasts (``ProjectBusyError`` while a run
    holds it). Raises ``DispatchError`` (its failed receipt already logged) when
    the provider fails.
    """
    from recoil.dispatch import dispatch_async

    settings = load_settings(path)
    context = DispatchContext(
        project=path,
        provider_config=provider_configs(path, settings),
        timeout_s=settings.run.timeout_s,
        embed_prompts=settings.project.embed_prompts,
        signing=content_signing(path, settings),
    )
    with ProjectLock(path, command="recoil dispatch"):
        return await dispatch_async(modality, payload, context=context)
