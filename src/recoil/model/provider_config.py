"""What a provider factory gets: its settings table, prices and secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recoil.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    """What a provider factory gets: its settings table, prices and secrets.

    ``options`` is the provider's table from ``recoil.toml``; ``prices`` maps a
    model (or ``"*"``) to a unit price; secrets come from the environment or
    the user's credentials file and are never written anywhere.
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    prices: Mapping[str, float] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def secret(self, name: str) -> str | None:
        """The named secret from the configured secrets or the environment."""
        return self.secrets.get(name) or os.environ.get(name) or None

    def require_secret(self, name: str, provider: str) -> str:
        """The named secret, or a :class:`ConfigError` saying how to set it."""
        value = self.secret(name)
        if not value:
            raise ConfigError(
                f"provider {provider!r} needs {name}: export {name}=... in the environment "
                "or add it to ~/.config/recoil/credentials.toml"
            )
        return value

    def price(self, model: str) -> float | None:
        """The unit price for ``model`` (or the ``"*"`` default), if configured."""
        if model in self.prices:
            return self.prices[model]
        return self.prices.get("*")
