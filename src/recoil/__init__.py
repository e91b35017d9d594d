"""recoil: a production engine for AI film.

A shot list becomes keyframes, video clips, audio and an edited cut through
any generation provider, with a receipt for every call and a provenance
sidecar for every file. The names below are the public API; everything else
is private.

The public names are listed once, in ``__init__.pyi``: type checkers read that
stub, and :func:`lazy_loader.attach_stub` reads it here to import each name on
first use, so that ``recoil --help`` and ``import recoil.errors`` stay fast.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
