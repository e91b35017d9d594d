"""Exports of an edit: the MP4 cut, the OpenTimelineIO timeline and the contact sheet.

The edit model is imported at once; the writers (which load PyAV, NumPy and
OpenTimelineIO) on first use, so code that only builds an edit stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from recoil.export.edit import BeatCut, Edit, Extent, TakeMedia
from recoil.model.review import ReviewNote

if TYPE_CHECKING:
    from recoil.export.contact import write_contact_sheet
    from recoil.export.cut import CutReport, write_cut
    from recoil.export.otio import build_timeline, write_timeline

_WRITERS = {
    "CutReport": "recoil.export.cut",
    "build_timeline": "recoil.export.otio",
    "write_contact_sheet": "recoil.export.contact",
    "write_cut": "recoil.export.cut",
    "write_timeline": "recoil.export.otio",
}

__all__ = [
    "BeatCut",
    "CutReport",
    "Edit",
    "Extent",
    "ReviewNote",
    "TakeMedia",
    "build_timeline",
    "write_contact_sheet",
    "write_cut",
    "write_timeline",
]


def __getattr__(name: str) -> Any:
    module = _WRITERS.get(name)
    if module is None:
        raise AttributeError(f"module 'recoil.export' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
