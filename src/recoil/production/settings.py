"""Project settings (``recoil.toml``) and user credentials (``credentials.toml``).

``recoil.toml`` lives in the project folder; every key is optional::

    [project]            embed_prompts, database_url, shotlist
    [run]                concurrency, retries, timeout_s, budget, currency,
                         executor (local or ray), ray_address (the cluster to join)
    [providers.<name>]   free-form provider options; ``limit`` (max in flight)
                         and ``rpm`` (requests per minute) are checked if present
    [prices.<provider>]  model -> price per call
    [evals]              enabled, scorers (names to run), clip_model (a CLIP model on disk)
    [evals.weights]      scorer name -> weight in a take's aggregate score
    [signing]            certificate, private_key_file, trust_anchors (paths), algorithm:
                         Content Credentials on every PNG and MP4 output and the cut

Settings never hold secrets: a key whose name looks like one (``api_key``,
``token``, ``secret``, ``password``) or a database URL with a password is an
error that points to the environment or the credentials file instead; a name
ending in ``_file`` or ``_path`` (``private_key_file``) holds a path, not a secret.
The environment variable ``RECOIL_DATABASE_URL`` overrides ``project.database_url``
(it is the place for a URL with a password), and ``RECOIL_C2PA_CERT``,
``RECOIL_C2PA_KEY`` and ``RECOIL_C2PA_TRUST`` override the ``[signing]`` paths.
Credentials are a flat table of ``NAME = "value"`` in
``$XDG_CONFIG_HOME/recoil/credentials.toml`` (default ``~/.config/recoil/credentials.toml``).

Values are checked strictly: ``embed_prompts = "yes"`` or ``concurrency = true``
is an error, not a guess (an integer is still fine where a number is expected).
A database URL must be ``postgresql://...`` (or ``postgres://``,
``postgresql+psycopg://``) or ``sqlite:///...``, also when it comes from the
environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from recoil.errors import ConfigError
from recoil.model.problems import format_errors, format_loc
from recoil.model.signing import ContentSigning, SigningAlgorithm

SETTINGS_NAME = "recoil.toml"
DATABASE_URL_ENV = "RECOIL_DATABASE_URL"
TRUST_ENV = "RECOIL_C2PA_TRUST"
SIGNING_ENV = {
    "RECOIL_C2PA_CERT": "certificate",
    "RECOIL_C2PA_KEY": "private_key_file",
    TRUST_ENV: "trust_anchors",
}
"""Environment variable -> the ``[signing]`` path it overrides."""
DEFAULT_LIMITS: Mapping[str, int] = {"diffusers": 1}
"""Providers limited when ``limit`` is unset: an in-process pipeline runs one call at a time
per device, so more in flight would only wait inside it while their timeouts ran."""
_SECRET_WORDS = frozenset(
    {"key", "token", "secret", "password", "passwd", "credential", "apikey", "authtoken"}
)
_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True)
# The schemes the project store can open (recoil.store.engine.resolve_url).
_DATABASE_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite://")
_DATABASE_FORMS = "postgresql://user@host/db or sqlite:///path/recoil.db"


def _check_provider_options(options: dict[str, Any]) -> dict[str, Any]:
    if "limit" in options:
        limit = options["limit"]
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit: got {limit!r}, must be an integer >= 1")
    if "rpm" in options:
        rpm = options["rpm"]
        if type(rpm) not in (int, float) or not rpm > 0:
            raise ValueError(f"rpm: got {rpm!r}, must be a number > 0")
    return options


def _check_database_url(url: str) -> str:
    if not url.startswith(_DATABASE_SCHEMES):
        # Name the scheme only: the rest of a URL may hold a password.
        got = f"a {url.split('://', 1)[0]}:// URL" if "://" in url else "a URL with no scheme"
        raise ValueError(
            f"got {got}, expected {_DATABASE_FORMS} "
            "(or leave it unset for the project's SQLite file)"
        )
    return url


def _check_ray_address(address: str) -> str:
    if "://" in address:
        raise ValueError(
            f"got {address!r}: a Ray Client (ray://) address; recoil joins the cluster as a "
            "driver on one of its nodes, so give host:port of the head's GCS (e.g. "
            "10.0.0.5:6379), or auto"
        )
    host, sep, port = address.rpartition(":")
    if address != "auto" and not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(
            f"got {address!r}, expected host:port of the Ray head node (e.g. 10.0.0.5:6379), "
            "or auto for the cluster `ray start` started on this machine"
        )
    return address


def _check_pem_path(value: str) -> str:
    if "-----BEGIN" in value:
        # Say nothing of the value: it may be a private key pasted in.
        raise ValueError("holds PEM text; give the path of the PEM file instead")
    if not value.strip():
        raise ValueError("is empty; give the path of a PEM file")
    return value


def _check_algorithm(value: str) -> str:
    allowed = [a.value for a in SigningAlgorithm]
    if value not in allowed:
        raise ValueError(f"got {value!r}, expected one of {', '.join(allowed)}")
    return value


ProviderOptions = Annotated[dict[str, Any], AfterValidator(_check_provider_options)]
PemPath = Annotated[str, AfterValidator(_check_pem_path)]
DatabaseUrl = Annotated[str, AfterValidator(_check_database_url)]
RayAddress = Annotated[str, AfterValidator(_check_ray_address)]
NonNegative = Annotated[float, Field(ge=0)]


class ProjectSettings(BaseModel):
    """The ``[project]`` table."""

    model_config = _CONFIG

    embed_prompts: bool = True
    """Embed prompts in PNG text chunks and container metadata (sidecars always have them)."""
    database_url: DatabaseUrl | None = None
    """SQLAlchemy URL of the project store; ``None`` means SQLite inside the project."""
    shotlist: str = "shotlist.yaml"
    """The shot-list file, relative to the project folder."""


class RunSettings(BaseModel):
    """The ``[run]`` table."""

    model_config = _CONFIG

    concurrency: int = Field(default=8, ge=1, le=1024)
    retries: int = Field(default=3, ge=0, le=100)
    timeout_s: float = Field(default=600.0, gt=0)
    budget: float | None = Field(default=None, ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    executor: Literal["local", "ray"] = "local"
    """Where provider calls run: in this process, or as Ray tasks (``recoil run --ray``)."""
    ray_address: RayAddress | None = None
    """The Ray cluster to join (``host:port`` of its head node, or ``auto``);
    ``None``: ``RAY_ADDRESS``, else a Ray started for the run."""


class EvalSettings(BaseModel):
    """The ``[evals]`` table: which scorers run after each step, and how scores weigh."""

    model_config = _CONFIG

    enabled: bool = True
    """Score every step's outputs as it succeeds (``recoil run --no-eval`` skips it)."""
    scorers: list[str] | None = None
    """The scorers to run, by name; ``None`` runs every one that fits the output."""
    weights: dict[str, NonNegative] = Field(default_factory=dict)
    """Scorer name -> weight in a take's aggregate score (missing names weigh 1)."""
    clip_model: str | None = None
    """A CLIP model on disk for ``prompt_adherence``: a folder, or a name in the model cache."""


class SigningSettings(BaseModel):
    """The ``[signing]`` table: who signs Content Credentials (C2PA), and whom ``verify`` trusts.

    Paths of PEM files, relative to the project folder (never PEM text in this
    file). Signing is on when ``certificate`` and ``private_key_file`` are set.
    """

    model_config = _CONFIG

    certificate: PemPath | None = None
    """The signing certificate chain, the signing certificate first."""
    private_key_file: PemPath | None = None
    """The signing certificate's private key (read when signing, never recorded)."""
    trust_anchors: PemPath | None = None
    """Root certificates ``recoil verify`` trusts."""
    algorithm: Annotated[str, AfterValidator(_check_algorithm)] = SigningAlgorithm.ES256.value
    """The signature algorithm; it must fit the key (es256 for a P-256 key)."""

    @pydantic.model_validator(mode="after")
    def _both_or_neither(self) -> SigningSettings:
        if (self.certificate is None) != (self.private_key_file is None):
            missing = "private_key_file" if self.private_key_file is None else "certificate"
            raise ValueError(f"set {missing} too: signing needs the certificate and its key")
        return self


class Settings(BaseModel):
    """All project settings, with defaults for everything."""

    model_config = _CONFIG

    project: ProjectSettings = Field(default_factory=ProjectSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    providers: dict[str, ProviderOptions] = Field(default_factory=dict)
    prices: dict[str, dict[str, NonNegative]] = Field(default_factory=dict)
    evals: EvalSettings = Field(default_factory=EvalSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)

    def provider_limit(self, provider: str) -> int | None:
        """Most requests in flight for ``provider``, or ``None`` for no limit."""
        limit = self.providers.get(provider, {}).get("limit", DEFAULT_LIMITS.get(provider))
        return int(limit) if limit is not None else None

    def provider_rpm(self, provider: str) -> float | None:
        """Requests per minute allowed for ``provider``, or ``None`` for no limit."""
        rpm = self.providers.get(provider, {}).get("rpm")
        return float(rpm) if rpm is not None else None

    def price(self, provider: str, model: str) -> float | None:
        """Configured price of one call to ``model`` at ``provider``, if any."""
        return self.prices.get(provider, {}).get(model)

    def shotlist_path(self, project_dir: Path) -> Path:
        """The shot-list file of the project in ``project_dir``."""
        return project_dir / self.project.shotlist

    def content_signing(self, project_dir: Path) -> ContentSigning | None:
        """Who signs the outputs of the project in ``project_dir`` (``None``: nobody)."""
        signing = self.signing
        if signing.certificate is None or signing.private_key_file is None:
            return None
        return ContentSigning(
            certificate=_pem_path(project_dir, signing.certificate),
            private_key=_pem_path(project_dir, signing.private_key_file),
            algorithm=SigningAlgorithm(signing.algorithm),
        )

    def trust_anchors(self, project_dir: Path) -> Path | None:
        """The trust anchors file of the project in ``project_dir``, if it names one."""
        anchors = self.signing.trust_anchors
        return None if anchors is None else _pem_path(project_dir, anchors)


def _pem_path(project_dir: Path, value: str) -> Path:
    return project_dir / Path(value).expanduser()


def load_settings(project_dir: Path) -> Settings:
    """Read ``project_dir/recoil.toml`` (defaults when it does not exist).

    Raises :class:`ConfigError` listing every bad key with its path and what is allowed.
    """
    path = project_dir / SETTINGS_NAME
    data = _read_toml(path) if path.exists() else {}
    problems = _secret_problems(data)
    try:
        settings = Settings.model_validate(data)
    except pydantic.ValidationError as exc:
        problems += format_errors(exc, Settings)
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    env_url = os.environ.get(DATABASE_URL_ENV)
    if env_url:
        try:
            _check_database_url(env_url)
        except ValueError as exc:
            raise ConfigError(f"environment variable {DATABASE_URL_ENV}: {exc}") from None
        project = settings.project.model_copy(update={"database_url": env_url})
        settings = settings.model_copy(update={"project": project})
    return _signing_from_env(settings)


def _signing_from_env(settings: Settings) -> Settings:
    """``settings`` with the ``[signing]`` paths the environment sets (relative: to the cwd)."""
    found = {
        field: str(Path(os.environ[name]).expanduser().absolute())
        for name, field in SIGNING_ENV.items()
        if os.environ.get(name)
    }
    if not found:
        return settings
    names = ", ".join(name for name in SIGNING_ENV if os.environ.get(name))
    if any("-----BEGIN" in os.environ[name] for name in SIGNING_ENV if os.environ.get(name)):
        raise ConfigError(f"environment {names}: holds PEM text; give the path of the PEM file")
    try:
        signing = SigningSettings.model_validate(
            {**settings.signing.model_dump(exclude_none=True), **found}
        )
    except pydantic.ValidationError as exc:
        problems = "; ".join(format_errors(exc, SigningSettings))
        raise ConfigError(
            f"environment {names} with [signing] in recoil.toml: {problems}"
        ) from None
    return settings.model_copy(update={"signing": signing})


def credentials_path() -> Path:
    """Where :func:`load_credentials` looks (honours an absolute ``XDG_CONFIG_HOME``)."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "recoil" / "credentials.toml"


def load_credentials() -> dict[str, str]:
    """The user's credentials (``NAME = "value"``), or ``{}`` when there is no file.

    Raises :class:`ConfigError` (naming keys, never values) on a malformed file.
    """
    path = credentials_path()
    if not path.exists():
        return {}
    data = _read_toml(path)
    bad = sorted(name for name, value in data.items() if not isinstance(value, str))
    if bad:
        raise ConfigError(
            "\n".join(
                f'{path}: {name}: expected a string value (a flat table of NAME = "value")'
                for name in bad
            )
        )
    return dict(data)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); "
            "save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read file: {exc.strerror}") from None


def _secret_problems(data: Mapping[str, Any], loc: tuple[str, ...] = ()) -> list[str]:
    """Keys that look like secrets, and a database URL carrying a password."""
    problems = []
    for key, value in data.items():
        here = (*loc, key)
        if _looks_secret(key):
            problems.append(
                f"{format_loc(here)}: looks like a secret; recoil.toml must not hold secrets. "
                "Set it in the environment or in ~/.config/recoil/credentials.toml"
            )
        elif isinstance(value, Mapping):
            problems += _secret_problems(value, here)
    url = data.get("database_url") if loc == ("project",) else None
    if isinstance(url, str) and _has_password(url):
        problems.append(
            "project.database_url: contains a password; recoil.toml must not hold secrets. "
            f"Set the URL in the environment variable {DATABASE_URL_ENV} instead"
        )
    return problems


def _looks_secret(name: str) -> bool:
    """``api_key``, ``FAL_KEY``, ``apiKey``, ``tokens``: yes; ``keyframe_model``: no."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    words = re.split(r"[^a-z0-9]+", spaced)
    if words[-1] in {"file", "path"}:
        return False  # ``private_key_file`` names where a secret is, which is no secret
    return any(w.removesuffix("s") in _SECRET_WORDS for w in words)


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False
