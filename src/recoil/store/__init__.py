"""The project store: scenes, beats, takes, reviews and the receipt index.

SQLite at ``PROJECT/recoil.db`` by default, PostgreSQL when given a
``postgresql://`` URL (or ``RECOIL_DATABASE_URL``); see :class:`ProjectStore`.
"""

from recoil.model.review import ReviewNote, ReviewStatus
from recoil.store.migrations import LATEST as SCHEMA_VERSION
from recoil.store.store import ProjectStore

__all__ = ["SCHEMA_VERSION", "ProjectStore", "ReviewNote", "ReviewStatus"]
