"""The Ray backend runs the example film with the same files as the local scheduler (SPEC 7)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Run

pytest.importorskip("ray", reason="the Ray backend needs the ray extra: pip install recoil[ray]")
pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _artifacts(project: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (project / "artifacts").rglob("*")
        if p.is_file() and p.suffix != ".json"
    }


def test_demo_on_ray_matches_local(recoil_cli: Run, tmp_path: Path) -> None:
    """SPEC 7: dispatches run as Ray tasks; receipts and artifacts stay with the driver."""
    for name in ("local", "onray"):
        assert recoil_cli("init", name).returncode == 0
        shotlist = tmp_path / name / "shotlist.yaml"
        shotlist.write_text(shotlist.read_text().replace("640x360", "160x90"))
    local = recoil_cli("run", "local", timeout=300)
    assert local.returncode == 0, local.stderr
    on_ray = recoil_cli("run", "onray", "--ray", timeout=300)
    assert on_ray.returncode == 0, on_ray.stderr
    assert _artifacts(tmp_path / "onray") == _artifacts(tmp_path / "local")
    lines = (tmp_path / "onray" / "receipts.jsonl").read_text().splitlines()
    receipts = [r for r in map(json.loads, lines) if r["kind"] == "receipt"]
    assert len(receipts) == 26  # 5 beats x 2 takes: keyframe + video, audio for 3 beats
