"""``recoil providers`` lists a project's providers, checks each, and says what to fix (SPEC 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.remote import KEYS, environment, start_server
from tests.helpers import recoil

pytestmark = pytest.mark.slow


def _project(tmp_path: Path) -> Path:
    env = environment(tmp_path)
    assert recoil("init", "film", cwd=tmp_path, env=env).returncode == 0
    return tmp_path / "film"


def test_offline_project_is_ready(tmp_path: Path) -> None:
    """The example project uses previz only: one line, ok, exit 0."""
    project = _project(tmp_path)
    result = recoil("providers", str(project), cwd=tmp_path, env=environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("ok   previz (used;")


def test_comfyui_binding_checked_against_the_server(tmp_path: Path) -> None:
    """A reachable server with every node class passes; a missing class is named."""
    project = _project(tmp_path)
    server = start_server("comfyui")
    try:
        server.configure(project)
        env = environment(tmp_path)
        result = recoil("providers", str(project), "--json", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        checks = {c["name"]: c for c in json.loads(result.stdout)}
        assert checks["comfyui"]["ok"] and not checks["comfyui"]["used"]

        workflow = project / "workflows" / "wan_i2v.json"
        graph = json.loads(workflow.read_text())
        node = next(iter(graph))
        graph[node]["class_type"] = "NotInstalledNode"
        workflow.write_text(json.dumps(graph))
        broken = recoil("providers", str(project), cwd=tmp_path, env=env)
        assert broken.returncode == 1
        assert "FAIL comfyui" in broken.stdout
        assert "NotInstalledNode" in broken.stdout
    finally:
        server.stop()


def test_missing_key_says_how_to_set_it(tmp_path: Path) -> None:
    """A hosted provider without its key: FAIL with the variable to export, key never shown."""
    project = _project(tmp_path)
    with (project / "recoil.toml").open("a") as settings:
        settings.write('\n[providers.fal]\nbase_url = "http://127.0.0.1:9"\n')
    env = {k: v for k, v in environment(tmp_path).items() if k != "FAL_KEY"}
    result = recoil("providers", str(project), cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "FAIL fal" in result.stdout
    assert "export FAL_KEY=" in result.stdout
    assert KEYS["FAL_KEY"] not in result.stdout + result.stderr
