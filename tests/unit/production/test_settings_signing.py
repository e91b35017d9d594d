"""The ``[signing]`` table of recoil.toml and the RECOIL_C2PA_* variables that override it."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil.errors import ConfigError
from recoil.model.signing import ContentSigning, SigningAlgorithm
from recoil.production.settings import SIGNING_ENV, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RECOIL_DATABASE_URL", *SIGNING_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write(folder: Path, text: str) -> Path:
    path = folder / "recoil.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(folder: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(folder)
    return str(info.value).splitlines()


def test_no_signing_table_signs_nothing(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings.content_signing(tmp_path) is None
    assert settings.trust_anchors(tmp_path) is None


def test_paths_are_relative_to_the_project_and_a_key_file_is_no_secret(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[signing]\ncertificate = "certs/chain.pem"\nprivate_key_file = "~/keys/signer.key"\n'
        'trust_anchors = "/etc/anchors.pem"\nalgorithm = "ps256"\n',
    )
    settings = load_settings(tmp_path)
    assert settings.content_signing(tmp_path) == ContentSigning(
        certificate=tmp_path / "certs/chain.pem",
        private_key=Path("~/keys/signer.key").expanduser(),
        algorithm=SigningAlgorithm.PS256,
    )
    assert settings.trust_anchors(tmp_path) == Path("/etc/anchors.pem")


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[signing]\ncertificate = "chain.pem"\n')
    (line,) = problems(tmp_path)
    assert line.startswith(f"{path}: signing")
    assert "set private_key_file too" in line


def test_pem_text_in_place_of_a_path_is_refused_without_echoing_it(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----MIGHAgEAMBMGByqGSM49-----END PRIVATE KEY-----"
    write(tmp_path, f'[signing]\ncertificate = "chain.pem"\nprivate_key_file = "{pem}"\n')
    (line,) = problems(tmp_path)
    assert "signing.private_key_file" in line and "holds PEM text" in line
    assert "MIGHAgEAMBMGByqGSM49" not in line


def test_a_key_itself_in_recoil_toml_is_still_a_secret(tmp_path: Path) -> None:
    write(tmp_path, '[signing]\nprivate_key = "abc"\n')
    assert any("signing.private_key: looks like a secret" in line for line in problems(tmp_path))


def test_an_unknown_algorithm_is_refused(tmp_path: Path) -> None:
    write(tmp_path, '[signing]\nalgorithm = "rsa"\n')
    (line,) = problems(tmp_path)
    assert "signing.algorithm" in line and "es256" in line


def test_the_environment_overrides_the_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, '[signing]\ncertificate = "chain.pem"\nprivate_key_file = "project.key"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECOIL_C2PA_KEY", "elsewhere/signer.key")
    monkeypatch.setenv("RECOIL_C2PA_TRUST", "/anchors/root.pem")
    settings = load_settings(tmp_path)
    signing = settings.content_signing(tmp_path)
    assert signing is not None
    assert signing.certificate == tmp_path / "chain.pem"
    assert signing.private_key == tmp_path / "elsewhere/signer.key"  # relative to the cwd
    assert settings.trust_anchors(tmp_path) == Path("/anchors/root.pem")


def test_the_environment_alone_can_turn_signing_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOIL_C2PA_CERT", "/k/chain.pem")
    monkeypatch.setenv("RECOIL_C2PA_KEY", "/k/signer.key")
    signing = load_settings(tmp_path).content_signing(tmp_path)
    assert signing == ContentSigning(
        certificate=Path("/k/chain.pem"), private_key=Path("/k/signer.key")
    )


def test_half_a_signer_in_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOIL_C2PA_KEY", "/k/signer.key")
    with pytest.raises(ConfigError, match=r"environment RECOIL_C2PA_KEY .*set certificate too"):
        load_settings(tmp_path)


def test_pem_text_in_the_environment_is_refused_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOIL_C2PA_KEY", "-----BEGIN PRIVATE KEY-----SECRETBODY")
    with pytest.raises(ConfigError, match="holds PEM text") as info:
        load_settings(tmp_path)
    assert "SECRETBODY" not in str(info.value)
