"""Rewrite every golden file from the fixed values: ``python -m tests.golden.regenerate``.

Writes ``tests/golden/formats/<kind>.json`` (the codec's encoding of each value
in :mod:`tests.golden.values`), ``sidecar.json`` (the provenance sidecar of the
receipt's artifact) and ``cut.otio`` (the OpenTimelineIO export of the edit).
The ``old/`` files are today's-format-before-the-codec samples and are never
rewritten: they pin what must still read.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from recoil.export.otio import write_timeline
from recoil.records import codec
from recoil.records.provenance import build_sidecar
from tests.golden.values import ARTIFACT, CREATED_AT, EDIT, RECEIPT, VALUES

FORMATS = Path(__file__).parent / "formats"


def text(data: Any) -> str:
    """The canonical text of a golden JSON file."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def otio_text() -> str:
    """The OTIO export of the fixed edit."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_timeline(EDIT, Path(tmp) / "cut.otio").read_text()


def expected() -> dict[str, str]:
    """File name -> the text it must hold."""
    files = {f"{stem}.json": text(codec.encode(value)) for stem, value in VALUES.items()}
    files["sidecar.json"] = text(build_sidecar(RECEIPT, ARTIFACT, CREATED_AT))
    files["cut.otio"] = otio_text()
    return files


def main() -> None:
    """Write every golden file."""
    FORMATS.mkdir(exist_ok=True)
    for name, content in expected().items():
        (FORMATS / name).write_text(content)
        print(f"wrote tests/golden/formats/{name}")


if __name__ == "__main__":
    main()
