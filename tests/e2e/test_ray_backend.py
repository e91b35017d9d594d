"""The Ray backend runs the example film with the same files as the local scheduler (SPEC 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Run
from tests.helpers import artifact_hashes, records

pytest.importorskip("ray", reason="the Ray backend needs the ray extra: pip install recoil[ray]")
pytestmark = [pytest.mark.slow, pytest.mark.ray]

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray's switch for a cluster kept on loopback: otherwise the Ray the run starts listens
on every interface and dials the machine's network address."""


def test_demo_on_ray_matches_local(recoil_cli: Run, tmp_path: Path) -> None:
    """SPEC 7: dispatches run as Ray tasks; receipts and artifacts stay with the driver."""
    for name in ("local", "onray"):
        assert recoil_cli("init", name).returncode == 0
        shotlist = tmp_path / name / "shotlist.yaml"
        shotlist.write_text(shotlist.read_text().replace("640x360", "160x90"))
    local = recoil_cli("run", "local", timeout=300)
    assert local.returncode == 0, local.stderr
    on_ray = recoil_cli("run", "onray", "--ray", env=LOOPBACK, timeout=300)
    assert on_ray.returncode == 0, on_ray.stderr
    assert artifact_hashes(tmp_path / "onray") == artifact_hashes(tmp_path / "local")
    # 5 beats x 2 takes: keyframe + video, audio for 3 beats.
    assert len(records(tmp_path / "onray", "receipt")) == 26
