"""Content Credentials at the project level: signing the cut, and checking one file
(``recoil verify FILE``) with the trust anchors its project names.

The trust anchors come from, in order: the ``trust`` argument; the ``[signing]
trust_anchors`` of the project folder holding the file (the nearest folder
above it with a ``recoil.toml``; ``RECOIL_C2PA_TRUST`` overrides it, as for
every setting); ``RECOIL_C2PA_TRUST`` alone for a file outside any project.
With none, a valid signature is reported as valid but not trusted.
"""

from __future__ import annotations

import mimetypes
import os
from importlib.metadata import version
from pathlib import Path

from recoil.errors import NotFoundError
from recoil.export.edit import Edit
from recoil.export.sheet import replacing
from recoil.media.credentials import (
    Claim,
    Credentials,
    read_credentials,
    read_trust_anchors,
    sign_stream,
)
from recoil.model.signing import ContentSigning
from recoil.production.settings import SETTINGS_NAME, TRUST_ENV, load_settings

CUT_ASSERTION = "org.recoil.cut"
"""The label of the assertion listing the takes in a signed cut."""
_MIMES = {".png": "image/png", ".mp4": "video/mp4", ".m4v": "video/mp4"}


def verify_file(path: Path, *, trust: Path | None = None) -> Credentials:
    """The Content Credentials of the file at ``path`` (see the module docstring for trust).

    Raises :class:`NotFoundError` for a missing file, ``ValidationError`` for a
    type C2PA cannot hold and ``ConfigError`` for unreadable trust anchors or a
    missing ``c2pa`` extra.
    """
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file; give a PNG or MP4 file, or a project folder")
    anchors = trust if trust is not None else trust_anchors_for(path)
    text = read_trust_anchors(anchors) if anchors is not None else None
    mime = _MIMES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    with path.open("rb") as handle:
        return read_credentials(handle, mime, trust_anchors=text)


def trust_anchors_for(path: Path) -> Path | None:
    """The trust anchors file that settings name for ``path`` (``None`` when none do)."""
    for folder in path.absolute().parents:
        if (folder / SETTINGS_NAME).is_file():
            return load_settings(folder).trust_anchors(folder)
    env = os.environ.get(TRUST_ENV)
    return Path(env).expanduser() if env else None


def sign_cut(path: Path, edit: Edit, signing: ContentSigning) -> None:
    """Sign the cut at ``path`` in place: a manifest naming each beat's primary take."""
    beats = [
        {
            "beat_id": beat.beat_id,
            "take_id": beat.primary.take_id if beat.primary is not None else None,
            "receipt_id": beat.primary.receipt_id if beat.primary is not None else None,
        }
        for beat in edit.beats
    ]
    claim = Claim(
        title=path.name,
        generator="recoil",
        generator_version=version("recoil"),
        software_agent="recoil export",
        assertions={CUT_ASSERTION: {"title": edit.title, "beats": beats}},
    )
    # Named like write_cut's temp file, so an export killed here leaves what it sweeps;
    # file to file, so a feature-length cut is never held in memory.
    with replacing(path) as temp, path.open("rb") as source, temp.open("w+b") as handle:
        sign_stream(source, handle, "video/mp4", claim, signing)
