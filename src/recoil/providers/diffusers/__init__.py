"""diffusers: Hugging Face diffusers pipelines in-process (the ``diffusers`` extra).

See :mod:`recoil.providers.diffusers.provider`. Importing this package imports
neither torch nor diffusers: they load when a pipeline is first checked or run.
"""

from __future__ import annotations

from recoil.providers.diffusers.provider import DiffusersProvider

__all__ = ["DiffusersProvider"]
