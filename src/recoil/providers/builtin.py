"""The providers that ship with recoil, as (name, factory, modalities).

Factories import their adapter lazily so that ``import recoil`` and
``recoil --help`` never pay for PyAV, httpx or a process pool.
"""

from __future__ import annotations

from recoil.errors import ConfigError
from recoil.model.provider_config import ProviderConfig
from recoil.providers.base import Provider, ProviderFactory

ALL = ("keyframe", "video", "audio", "upscale")


def _fake(config: ProviderConfig) -> Provider:
    from recoil.providers.fake import FakeProvider

    return FakeProvider(config)


def _previz(config: ProviderConfig) -> Provider:
    """The previz renderer; option ``workers``: worker processes (default one per CPU)."""
    from recoil.providers.previz.provider import PrevizProvider

    workers = config.options.get("workers")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ConfigError(
            f"providers.previz.workers must be a whole number >= 1, got {workers!r}; "
            "leave it out to use one worker per CPU"
        )
    return PrevizProvider(workers=workers)


def _comfyui(config: ProviderConfig) -> Provider:
    from recoil.providers.comfyui.provider import ComfyUIProvider

    return ComfyUIProvider(config)


def _fal(config: ProviderConfig) -> Provider:
    from recoil.providers.fal import FalProvider

    return FalProvider(config)


def _replicate(config: ProviderConfig) -> Provider:
    from recoil.providers.replicate import ReplicateProvider

    return ReplicateProvider(config)


def _diffusers(config: ProviderConfig) -> Provider:
    """In-process diffusers pipelines (the ``diffusers`` extra); see its config module."""
    from recoil.providers.diffusers.provider import DiffusersProvider

    return DiffusersProvider(config)


PROVIDERS: tuple[tuple[str, ProviderFactory, tuple[str, ...]], ...] = (
    ("fake", _fake, ALL),
    ("previz", _previz, ALL),
    ("comfyui", _comfyui, ALL),
    ("fal", _fal, ALL),
    ("replicate", _replicate, ALL),
    ("diffusers", _diffusers, ("keyframe", "video", "upscale")),
)
