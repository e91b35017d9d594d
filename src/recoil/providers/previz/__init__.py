"""previz: the built-in offline renderer (storyboard frames, camera moves, eSpeak speech).

See :mod:`recoil.providers.previz.provider` for what each modality produces.
"""

from __future__ import annotations

from recoil.providers.previz.provider import PrevizProvider

__all__ = ["PrevizProvider"]
