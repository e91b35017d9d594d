"""The persisted formats, pinned byte for byte; older formats still read and upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from recoil.errors import ValidationError
from recoil.model.receipt import Receipt, Submitted
from recoil.records import codec
from recoil.records.log import encode_line
from recoil.store.log_index import _receipt, _submitted
from tests.golden import regenerate
from tests.golden.values import (
    EDIT_WITHOUT_EXTENTS,
    RECEIPT,
    SUBMITTED,
    TAKE_RECORD,
    VALUES,
    WORKFLOW,
)

HERE = Path(__file__).parent
OLD = HERE / "old"


@pytest.mark.parametrize("name", sorted(regenerate.expected()))
def test_encodings_match_the_golden_files(name: str) -> None:
    """A format change shows here; if deliberate: python -m tests.golden.regenerate."""
    assert (HERE / "formats" / name).read_text() == regenerate.expected()[name]


@pytest.mark.parametrize("stem", sorted(VALUES))
def test_golden_files_decode_to_their_values(stem: str) -> None:
    data = json.loads((HERE / "formats" / f"{stem}.json").read_text())
    assert (data["kind"], data["schema"]) == (
        codec.tags(data)[0],
        codec.kind_of(data["kind"]).schema,
    )
    assert codec.decode(data) == VALUES[stem]


@pytest.mark.parametrize(
    ("old", "value"),
    [
        ("receipt.v1.jsonl", RECEIPT),
        ("take_record.v1.jsonl", TAKE_RECORD),
        ("edit.v1.json", EDIT_WITHOUT_EXTENTS),
        ("workflow.v1.json", WORKFLOW),
    ],
)
def test_old_formats_upgrade_on_read(old: str, value: object) -> None:
    """Schema 1: ``schema_version`` records, ``"recoil.edit"``, ``"Workflow"``."""
    data = json.loads((OLD / old).read_text())
    assert codec.decode(data) == value
    upgraded = codec.upgrade(data)
    current = codec.encode(value)
    assert (upgraded["kind"], upgraded["schema"]) == (current["kind"], current["schema"])
    # Fields added since then have defaults, so the upgraded form may leave them out.
    assert codec.decode(upgraded) == value


def test_old_sidecar_upgrades_to_the_current_one() -> None:
    old = json.loads((OLD / "sidecar.v1.json").read_text())
    assert "schema_version" in old
    current = json.loads((HERE / "formats" / "sidecar.json").read_text())
    assert codec.upgrade(old) == current


def test_log_index_fast_path_takes_current_lines_and_leaves_old_ones() -> None:
    line = encode_line(codec.encode(RECEIPT))
    row = _receipt("p", orjson.loads(line), line)
    assert row is not None and row[-1] == line.strip().decode()
    old = (OLD / "receipt.v1.jsonl").read_bytes()
    assert _receipt("p", orjson.loads(old), old) is None  # the slow path upgrades it
    assert codec.decode_as(Receipt, orjson.loads(old)) == RECEIPT
    job = encode_line(codec.encode(SUBMITTED))
    assert _submitted("p", orjson.loads(job), job) is not None
    assert codec.decode_as(Submitted, orjson.loads(job)) == SUBMITTED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "receipt", "schema": 99}, "upgrade recoil"),
        ({"kind": "storyboard", "schema": 1}, "unknown kind"),
        ({"kind": "receipt", "schema": 2, "receipt_id": "r"}, "receipt: modality"),
        ({"kind": ["x"], "schema": 2}, "kind must be a string"),
        ({"kind": "workflow", "schema": "2"}, "schema must be an int"),
    ],
)
def test_bad_data_raises_validation_errors(data: dict[str, object], message: str) -> None:

    with pytest.raises(ValidationError, match=message):
        codec.decode(data)
