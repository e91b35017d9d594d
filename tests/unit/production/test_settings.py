"""Project settings (recoil.toml) and user credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil.errors import ConfigError
from recoil.production.settings import Settings, credentials_path, load_credentials, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write(folder: Path, text: str) -> Path:
    path = folder / "recoil.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(folder: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(folder)
    return str(info.value).splitlines()


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings == Settings()
    assert settings.project.embed_prompts is True
    assert settings.project.shotlist == "shotlist.yaml"
    assert (settings.run.concurrency, settings.run.retries, settings.run.timeout_s) == (8, 3, 600)
    assert settings.run.budget is None
    assert settings.run.currency == "USD"
    assert settings.shotlist_path(tmp_path) == tmp_path / "shotlist.yaml"


def test_full_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
[project]
embed_prompts = false
database_url = "sqlite:///elsewhere.db"
shotlist = "shots/main.yaml"

[run]
concurrency = 2
budget = 12.5
currency = "EUR"

[providers.fal]
limit = 4
rpm = 60
model = "fal-ai/flux/dev"
keyframe_workflow = "flux.json"

[prices.fal]
"fal-ai/flux/dev" = 0.025

[evals.weights]
sharpness = 2
loudness = 0.5
""",
    )
    settings = load_settings(tmp_path)
    assert settings.project.embed_prompts is False
    assert settings.project.database_url == "sqlite:///elsewhere.db"
    assert settings.run.budget == 12.5
    assert settings.provider_limit("fal") == 4
    assert settings.provider_rpm("fal") == 60.0
    assert settings.provider_limit("previz") is None
    assert settings.providers["fal"]["keyframe_workflow"] == "flux.json"
    assert settings.price("fal", "fal-ai/flux/dev") == 0.025
    assert settings.price("fal", "other") is None
    assert settings.evals.weights == {"sharpness": 2.0, "loudness": 0.5}


def test_environment_database_url_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[project]\ndatabase_url = "sqlite:///a.db"\n')
    monkeypatch.setenv("RECOIL_DATABASE_URL", "postgresql://u:pw@db/recoil")
    assert load_settings(tmp_path).project.database_url == "postgresql://u:pw@db/recoil"


def test_bad_values_are_all_reported_with_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[project]
embed_prompt = true

[run]
concurrency = 0
timeout_s = "soon"
currency = "dollars"

[providers.fal]
limit = 0

[providers.replicate]
rpm = -1

[prices.fal]
"flux" = -2

[evals.weights]
sharpness = "high"

[extra]
x = 1
""",
    )
    assert problems(tmp_path) == [
        f"{path}: project.embed_prompt: unknown field (did you mean 'embed_prompts'?)",
        f"{path}: run.concurrency: got 0, must be >= 1",
        f"{path}: run.timeout_s: got 'soon', expected a number",
        f"{path}: run.currency: got 'dollars', must match ^[A-Z]{{3}}$",
        f"{path}: providers.fal: limit: got 0, must be an integer >= 1",
        f"{path}: providers.replicate: rpm: got -1, must be a number > 0",
        f"{path}: prices.fal.flux: got -2, must be >= 0",
        f"{path}: evals.weights.sharpness: got 'high', expected a number",
        f"{path}: extra: unknown field; allowed: project, run, providers, prices, evals, signing",
    ]


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[providers.fal]\napi_key = "abc"\n', "providers.fal.api_key"),
        ('[providers.fal]\nFAL_KEY = "abc"\n', "providers.fal.FAL_KEY"),
        ('[providers.x]\nauthToken = "abc"\n', "providers.x.authToken"),
        ('[providers.x.auth]\nclient_secret = "abc"\n', "providers.x.auth.client_secret"),
        ('[project]\npassword = "abc"\n', "project.password"),
        ('[providers.x]\nAPIKEY = "abc"\n', "providers.x.APIKEY"),
        ('[providers.x]\ntokens = ["a"]\n', "providers.x.tokens"),
    ],
)
def test_secrets_are_refused(tmp_path: Path, toml: str, where: str) -> None:
    path = write(tmp_path, toml)
    found = problems(tmp_path)
    assert found[0] == (
        f"{path}: {where}: looks like a secret; recoil.toml must not hold secrets. "
        "Set it in the environment or in ~/.config/recoil/credentials.toml"
    )


def test_database_url_with_password_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[project]\ndatabase_url = "postgresql://me:hunter2@db/recoil"\n')
    found = problems(tmp_path)
    assert found == [
        f"{path}: project.database_url: contains a password; recoil.toml must not hold "
        "secrets. Set the URL in the environment variable RECOIL_DATABASE_URL instead"
    ]
    assert "hunter2" not in "\n".join(found)


def test_words_that_merely_contain_key_are_fine(tmp_path: Path) -> None:
    write(tmp_path, '[providers.comfyui]\nkeyframe_workflow = "a.json"\nmonkey = 1\n')
    options = load_settings(tmp_path).providers["comfyui"]
    assert options == {"keyframe_workflow": "a.json", "monkey": 1}


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[run\nconcurrency = 1\n")
    (line,) = problems(tmp_path)
    assert line.startswith(f"{path}: TOML syntax error: ")
    assert "line 1" in line


def test_credentials(tmp_path: Path) -> None:
    assert load_credentials() == {}
    path = credentials_path()
    assert path == tmp_path / "xdg" / "recoil" / "credentials.toml"
    path.parent.mkdir(parents=True)
    path.write_text('FAL_KEY = "fal-123"\nREPLICATE_API_TOKEN = "r8_abc"\n')
    assert load_credentials() == {"FAL_KEY": "fal-123", "REPLICATE_API_TOKEN": "r8_abc"}


def test_credentials_must_be_flat_strings(tmp_path: Path) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True)
    path.write_text('PORT = 5\n[fal]\nkey = "secret-value"\n')
    with pytest.raises(ConfigError) as info:
        load_credentials()
    message = str(info.value)
    assert message.splitlines() == [
        f'{path}: PORT: expected a string value (a flat table of NAME = "value")',
        f'{path}: fal: expected a string value (a flat table of NAME = "value")',
    ]
    assert "secret-value" not in message


def test_relative_xdg_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials_path() == tmp_path / ".config" / "recoil" / "credentials.toml"


def test_values_are_not_coerced(tmp_path: Path) -> None:
    """A value of the wrong type is an error, not a guess: "yes" is not true."""
    path = write(
        tmp_path,
        """
[project]
embed_prompts = "yes"

[run]
concurrency = true
retries = 2.0
""",
    )
    assert problems(tmp_path) == [
        f"{path}: project.embed_prompts: got 'yes', expected true or false",
        f"{path}: run.concurrency: got True, expected an integer",
        f"{path}: run.retries: got 2.0, expected an integer",
    ]
    write(tmp_path, "[project]\nembed_prompts = 1\n")
    assert problems(tmp_path) == [f"{path}: project.embed_prompts: got 1, expected true or false"]
    # An integer is still a number.
    write(tmp_path, "[run]\ntimeout_s = 30\nbudget = 2\n")
    run = load_settings(tmp_path).run
    assert (run.timeout_s, run.budget) == (30.0, 2.0)


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "recoil.toml"
    path.write_bytes(b'[project]\nshotlist = "caf\xe9.yaml"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 25 is 0xe9); save the file as UTF-8"
    assert info.value.exit_code == 2


_EXPECTED_URLS = (
    "expected postgresql://user@host/db or sqlite:///path/recoil.db "
    "(or leave it unset for the project's SQLite file)"
)


def test_database_url_scheme_is_checked(tmp_path: Path) -> None:
    """Only URLs the store can open pass; the message names the scheme, never the rest."""
    for url, got in [
        ("mysql://me@db/recoil", "a mysql:// URL"),
        ("postgresql+asyncpg://me@db/recoil", "a postgresql+asyncpg:// URL"),
        ("recoil.db", "a URL with no scheme"),
    ]:
        path = write(tmp_path, f'[project]\ndatabase_url = "{url}"\n')
        assert problems(tmp_path) == [f"{path}: project.database_url: got {got}, {_EXPECTED_URLS}"]
    for url in [
        "sqlite:///elsewhere.db",
        "postgresql://me@db/recoil",
        "postgres://me@db/recoil",
        "postgresql+psycopg://me@db/recoil",
    ]:
        write(tmp_path, f'[project]\ndatabase_url = "{url}"\n')
        assert load_settings(tmp_path).project.database_url == url


def test_database_url_scheme_in_the_environment_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOIL_DATABASE_URL", "mysql://me:hunter2@db/recoil")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert str(info.value) == (
        f"environment variable RECOIL_DATABASE_URL: got a mysql:// URL, {_EXPECTED_URLS}"
    )
    assert info.value.exit_code == 2
