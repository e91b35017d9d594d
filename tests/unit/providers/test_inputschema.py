"""A model's published input schema: read from fal's and Replicate's documents, kept, checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recoil.providers.inputschema import (
    InputSchema,
    SchemaStore,
    fal_input_schema,
    replicate_input_schema,
)

# As Cog writes a Replicate version's schema: enums are components, referenced through allOf.
REPLICATE_VERSION = {
    "id": "daad218f",
    "openapi_schema": {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string"},
                        "duration": {
                            "allOf": [{"$ref": "#/components/schemas/duration"}],
                            "default": 5,
                        },
                        "steps": {"type": "integer", "minimum": 1, "maximum": 4},
                        "width": {"type": "integer", "nullable": True},
                        "refs": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                    },
                },
                "duration": {"type": "integer", "enum": [5, 10]},
            }
        }
    },
}
# As fal writes an endpoint's queue OpenAPI document: optional values are anyOf a type and null.
FAL_DOCUMENT = {
    "components": {
        "schemas": {
            "FluxInput": {
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string"},
                    "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                    "image_size": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/ImageSize"},
                            {"type": "string", "enum": ["square", "landscape_4_3"]},
                        ]
                    },
                },
            },
            "ImageSize": {
                "type": "object",
                "properties": {"width": {"type": "integer", "maximum": 14142}},
                "required": ["width"],
            },
        }
    },
    "paths": {
        "/fal-ai/flux/dev": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/FluxInput"}}
                    }
                }
            }
        }
    },
}


def _replicate() -> InputSchema:
    return replicate_input_schema("kwaivgi/kling-v2.1", {"latest_version": REPLICATE_VERSION})


def _fal() -> InputSchema:
    return fal_input_schema("fal-ai/flux/dev", FAL_DOCUMENT)


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"prompt": "p", "duration": 10, "steps": 4, "width": None}, []),
        ({"prompt": "p", "duration": 7}, ["input.duration: got 7, allowed: 5, 10"]),
        ({"prompt": "p", "duration": "5"}, ["input.duration: got '5', expected an integer"]),
        ({"prompt": "p", "steps": 9}, ["input.steps: got 9, must be <= 4"]),
        ({"prompt": "p", "steps": True}, ["input.steps: got True, expected an integer"]),
        ({"prompt": "p", "refs": ["a", "b", "c"]}, ["input.refs: 3 items, must be at most 2"]),
        ({"prompt": "p", "refs": [1]}, ["input.refs[0]: got 1, expected a string"]),
        ({}, ["input.prompt: kwaivgi/kling-v2.1 requires it"]),
    ],
)
def test_a_replicate_body_is_checked_against_its_version(
    body: dict[str, Any], problems: list[str]
) -> None:
    schema = _replicate()
    assert schema.version == "daad218f"
    assert schema.problems(body) == problems


def test_an_input_the_schema_does_not_name_is_a_problem_with_a_suggestion() -> None:
    [problem] = _replicate().problems({"prompt": "p", "durations": 5})
    assert problem == (
        "input.durations: kwaivgi/kling-v2.1 has no input 'durations' (did you mean "
        "'duration'?); its inputs: duration, prompt, refs, steps, width"
    )


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"prompt": "p", "seed": None, "image_size": "square"}, []),
        ({"prompt": "p", "image_size": {"width": 64}}, []),
        (
            {"prompt": "p", "image_size": "huge"},
            [
                "input.image_size: got 'huge', expected an object or one of 'square', "
                "'landscape_4_3'"
            ],
        ),
        (
            {"prompt": "p", "image_size": {"height": 1}},
            ["input.image_size: got {'height': 1}, expected an object or one of 'square', ..."],
        ),
    ],
)
def test_a_fal_body_is_checked_against_its_endpoint(
    body: dict[str, Any], problems: list[str]
) -> None:
    found = _fal().problems(body)
    assert [p[:60] for p in found] == [p[:60] for p in problems]


def test_an_input_left_unchecked_may_be_missing() -> None:
    assert _fal().problems({}, unchecked=frozenset({"prompt"})) == []


def test_a_document_without_an_input_schema_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no POST /fal-ai/other request body"):
        fal_input_schema("fal-ai/other", FAL_DOCUMENT)
    with pytest.raises(ValueError, match=r"no components\.schemas\.Input"):
        replicate_input_schema("a/b", {"latest_version": {"openapi_schema": {}}})


def test_the_store_keeps_documents_in_the_project_and_reads_them_back(tmp_path: Path) -> None:
    folder = tmp_path / "schemas" / "replicate"
    store = SchemaStore("replicate", replicate_input_schema, folder)
    kept = store.put("jaaari/kokoro-82m:f559", REPLICATE_VERSION, "https://x/versions/f559")

    path = folder / "jaaari--kokoro-82m@f559.json"
    document = json.loads(path.read_text())
    assert (document["kind"], document["schema"], document["url"]) == (
        "model_schema",
        1,
        "https://x/versions/f559",
    )
    again = SchemaStore("replicate", replicate_input_schema, folder).get("jaaari/kokoro-82m:f559")
    assert again == kept and kept.sha256 and again is not None
    assert SchemaStore("replicate", replicate_input_schema, folder).get("other/model") is None

    path.write_text("{not json")  # a damaged copy is fetched again, not trusted
    assert (
        SchemaStore("replicate", replicate_input_schema, folder).get("jaaari/kokoro-82m:f559")
        is None
    )
