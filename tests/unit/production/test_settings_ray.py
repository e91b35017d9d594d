"""The ``[run]`` keys of recoil.toml that choose the Ray executor and the cluster it joins."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil.errors import ConfigError
from recoil.production.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def settings_error(folder: Path, text: str) -> str:
    (folder / "recoil.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(folder)
    return str(info.value)


def test_the_default_is_local_with_no_address(tmp_path: Path) -> None:
    run = load_settings(tmp_path).run
    assert (run.executor, run.ray_address) == ("local", None)


@pytest.mark.parametrize("address", ["10.0.0.5:6379", "head.internal:6379", "auto"])
def test_ray_executor_and_address(tmp_path: Path, address: str) -> None:
    (tmp_path / "recoil.toml").write_text(f'[run]\nexecutor = "ray"\nray_address = "{address}"\n')
    run = load_settings(tmp_path).run
    assert (run.executor, run.ray_address) == ("ray", address)


def test_an_unknown_executor_names_the_choices(tmp_path: Path) -> None:
    message = settings_error(tmp_path, '[run]\nexecutor = "dask"\n')
    assert "run.executor" in message
    assert "got 'dask', allowed: local, ray" in message


@pytest.mark.parametrize("address", ["10.0.0.5", "head:port", "head:70000", ""])
def test_a_malformed_address_says_what_an_address_is(tmp_path: Path, address: str) -> None:
    message = settings_error(tmp_path, f'[run]\nray_address = "{address}"\n')
    assert "run.ray_address" in message
    assert "expected host:port of the Ray head node" in message
    assert len(message.splitlines()) == 1


def test_a_ray_client_address_is_refused_with_the_form_to_give(tmp_path: Path) -> None:
    message = settings_error(tmp_path, '[run]\nray_address = "ray://head:10001"\n')
    assert "run.ray_address" in message and "Ray Client (ray://) address" in message
    assert "give host:port of the head's GCS" in message
    assert len(message.splitlines()) == 1
