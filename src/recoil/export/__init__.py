"""Exports of an edit: the MP4 cut, the OpenTimelineIO timeline and the contact sheet."""

from __future__ import annotations

from recoil.export.contact import write_contact_sheet
from recoil.export.cut import CutReport, write_cut
from recoil.export.edit import BeatCut, Edit, TakeMedia
from recoil.export.otio import build_timeline, write_timeline
from recoil.model.review import ReviewNote

__all__ = [
    "BeatCut",
    "CutReport",
    "Edit",
    "ReviewNote",
    "TakeMedia",
    "build_timeline",
    "write_contact_sheet",
    "write_cut",
    "write_timeline",
]
