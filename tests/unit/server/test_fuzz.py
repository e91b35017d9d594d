"""The review API fuzzed from its own OpenAPI schema: no request makes it answer 5xx.

Schemathesis reads ``/openapi.json`` from a real server (on a copy of the film,
as writes change it) and makes requests for each operation from its schema,
valid ones and invalid ones. Every operation is fuzzed with whatever
``Authorization`` the schema allows (so writes are refused, 401), and every
write again with the project's token, so that writes run with fuzzed bodies;
there a path's ids are often swapped for the film's real takes and beats (and
a dispatch's modality for a real one), so that the writes reach the library,
not only its 404s.

Every answer must be no server error, and every error answer JSON with one line.
``GET /api/events`` is left out: it streams until the client leaves.

(Each operation is its own test, driven by ``@given`` over the operation's
strategy: schemathesis' lazy ``from_fixture`` loader does not run on this pytest.)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.unit.server.api import OPERATIONS, WRITES, Reviewing, reviewing

pytestmark = pytest.mark.slow

TAKES = ["a-t01", "a-t02", "b-t01", "b-t02"]
BEATS = ["a", "b"]
MODALITIES = ["keyframe", "video", "audio", "upscale"]

FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
"""Few examples per operation (the module runs in well under a minute), the same ones
every run (derandomized), and nothing saved in a ``.hypothesis`` folder."""

FUZZED = [op for op in OPERATIONS if op != ("GET", "/api/events")]


@pytest.fixture(scope="module")
def fuzzed(film: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reviewing]:
    """``recoil review`` on a copy of the film of its own.

    In a process of its own: a run the fuzzer starts uses the ``random`` module in
    the server, which Hypothesis would see as the strategies' own use of it.
    """
    copy = tmp_path_factory.mktemp("fuzzed") / "film"
    shutil.copytree(film, copy)
    with reviewing(copy) as served:
        yield served


@pytest.fixture(scope="module")
def api_schema(fuzzed: Reviewing) -> Any:
    """The API's schema, as the server serves it."""
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")


def errors_are_one_json_line(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error answer is ``{"error": "<one line>"}``."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (response.status_code, content_type)
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    message = body["error"]
    assert isinstance(message, str) and message and "\n" not in message, body
    return True


CHECKS = [not_a_server_error, errors_are_one_json_line]


def cases(api_schema: Any, method: str, path: str) -> st.SearchStrategy[Any]:
    """Valid and invalid requests for one operation."""
    operation = api_schema[path][method]
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


@pytest.mark.parametrize(("method", "path"), FUZZED, ids=[f"{m} {p}" for m, p in FUZZED])
def test_no_server_error_without_token(
    api_schema: Any, fuzzed: Reviewing, method: str, path: str
) -> None:
    """Any request, with no token or a made-up one: no 5xx, errors one JSON line."""

    @FUZZ
    @given(case=cases(api_schema, method, path))
    def check(case: Any) -> None:
        case.call_and_validate(base_url=fuzzed.url, checks=CHECKS, timeout=120)

    check()


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_no_server_error_with_token(
    api_schema: Any, fuzzed: Reviewing, method: str, path: str
) -> None:
    """Every write with the token and a fuzzed body: no 5xx, errors one JSON line."""

    @FUZZ
    @given(case=cases(api_schema, method, path))
    def check(case: Any) -> None:
        _aim_at_the_film(case)
        case.call_and_validate(base_url=fuzzed.url, headers=fuzzed.auth, checks=CHECKS, timeout=120)

    check()


def _aim_at_the_film(case: Any) -> None:
    """Swap a generated id for a real one about half the time (by the id's length)."""
    params = case.path_parameters or {}
    for name, real in (("take_id", TAKES), ("beat_id", BEATS)):
        value = params.get(name)
        if isinstance(value, str) and len(value) % 2 == 0:
            params[name] = real[len(value) // 2 % len(real)]
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("modality"), str):
        modality = body["modality"]
        if len(modality) % 2 == 0:
            body["modality"] = MODALITIES[len(modality) // 2 % len(MODALITIES)]
