"""Hosted-model bindings: request fields to a model's input names and value forms."""

from __future__ import annotations

from typing import Any

import pytest

from recoil.errors import ConfigError, PayloadError
from recoil.model.requests import AudioRequest, KeyframeRequest, VideoRequest
from recoil.providers.binding import Binding, load_bindings, output_at, parse_binding
from recoil.providers.fal_models import FAL_BINDINGS
from recoil.providers.replicate_models import REPLICATE_BINDINGS


def _binding(inputs: dict[str, Any], **table: Any) -> Binding:
    return parse_binding("fal", "acme/model", {"modality": "video", "inputs": inputs, **table})


def _body(inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return _binding(inputs).body(VideoRequest(prompt="p", **fields), {})


@pytest.mark.parametrize(
    ("seconds", "sent"), [(0.5, "5"), (4.0, "5"), (5.0, "5"), (5.01, "10"), (10.0, "10")]
)
def test_a_duration_becomes_the_shortest_choice_that_covers_it(seconds: float, sent: str) -> None:
    spec = {"duration_s": {"to": "duration", "choices": ["5", "10"]}}
    assert _body(spec, duration_s=seconds) == {"duration": sent}


def test_a_duration_past_the_longest_choice_is_an_error_that_says_what_to_do() -> None:
    with pytest.raises(PayloadError) as info:
        _body({"duration_s": {"to": "duration", "choices": [5, 10]}}, duration_s=12.0)
    assert info.value.field == "duration_s"
    assert "takes duration 5, 10 only, and 12 s is more than the largest" in info.value.reason
    assert "shorten the beat" in info.value.reason


@pytest.mark.parametrize(
    ("kind", "value", "sent"),
    [("integer", 4.2, 5), ("integer", 4.0, 4), ("string", 4.0, "4"), ("number", 4, 4.0)],
)
def test_a_type_gives_the_value_its_form(kind: str, value: float, sent: Any) -> None:
    body = _body({"duration_s": {"to": "seconds", "type": kind}}, duration_s=value)
    assert body["seconds"] == sent and type(body["seconds"]) is type(sent)


def test_integers_other_than_durations_round_to_the_nearest() -> None:
    assert _body({"fps": {"to": "fps", "type": "integer"}}, fps=23.976)["fps"] == 24
    assert _body({"fps": {"to": "fps", "type": "integer"}}, fps=24.4)["fps"] == 24


@pytest.mark.parametrize(
    ("size", "sent"),
    [((1280, 720), "16:9"), ((160, 90), "16:9"), ((720, 1280), "9:16"), ((1024, 1024), "1:1")],
)
def test_an_aspect_ratio_is_the_nearest_choice(size: tuple[int, int], sent: str) -> None:
    spec = {"aspect_ratio": {"to": "ratio", "choices": ["auto", "16:9", "9:16", "1:1"]}}
    assert _body(spec, width=size[0], height=size[1])["ratio"] == sent


def test_an_aspect_ratio_far_from_every_choice_is_an_error() -> None:
    spec = {"aspect_ratio": {"to": "ratio", "choices": ["16:9", "1:1"]}}
    with pytest.raises(PayloadError, match=r"none within 10 % of 2048x512"):
        _body(spec, width=2048, height=512)
    assert _body({"aspect_ratio": "ratio"}, width=2048, height=512)["ratio"] == "4:1"


@pytest.mark.parametrize(
    ("height", "sent"), [(90, "480p"), (480, "480p"), (720, "720p"), (2160, "720p")]
)
def test_a_resolution_is_the_smallest_choice_as_large_else_the_largest(
    height: int, sent: str
) -> None:
    spec = {"resolution": {"to": "resolution", "choices": ["720p", "480p"]}}
    assert _body(spec, width=height * 2, height=height)["resolution"] == sent


def test_frames_size_and_unset_fields() -> None:
    binding = _binding({"frames": "num_frames", "seed": "seed", "negative_prompt": "neg"})
    body = binding.body(VideoRequest(prompt="p", duration_s=4, fps=24), {})
    assert body == {"num_frames": 96}  # no seed, no negative prompt: the model's defaults hold
    keyframe = parse_binding("fal", "m", {"modality": "keyframe", "inputs": {"size": "image_size"}})
    assert keyframe.body(KeyframeRequest(prompt="p", width=64, height=48), {}) == {
        "image_size": {"width": 64, "height": 48}
    }


def test_files_go_where_the_binding_says_and_references_as_a_list_or_the_first() -> None:
    binding = _binding(
        {"image": "image_url", "reference_images": "refs", "reference_image": "subject"}
    )
    urls = {"image": "u0", "reference_images": ["r1", "r2"]}
    assert binding.body(VideoRequest(prompt="p"), urls) == {
        "image_url": "u0",
        "refs": ["r1", "r2"],
        "subject": "r1",
    }


def test_a_map_turns_a_shot_list_value_into_the_models() -> None:
    binding = parse_binding(
        "fal",
        "m",
        {
            "modality": "audio",
            "inputs": {"prompt": "text", "voice": {"to": "voice", "map": {"en-us": "af_sarah"}}},
        },
    )
    assert binding.body(AudioRequest(prompt="Hi.", voice="en-us"), {}) == {
        "text": "Hi.",
        "voice": "af_sarah",
    }
    assert binding.body(AudioRequest(prompt="Hi.", voice="am_adam"), {})["voice"] == "am_adam"


def test_params_and_defaults_merge_over_the_bound_values() -> None:
    binding = _binding({"prompt": "prompt", "seed": "seed"}, defaults={"fast": True, "n": 1})
    request = VideoRequest(prompt="p", seed=3, params={"fast": False, "seed": None, "lora": "x"})
    assert binding.body(request, {}) == {"fast": False, "n": 1, "prompt": "p", "lora": "x"}


def test_an_input_file_the_binding_cannot_take_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"acme/model takes no 'end_image' input"):
        _binding({"image": "image_url"}).check_media(VideoRequest(prompt="p", end_image="e.png"))
    _binding({}).check_media(VideoRequest(prompt="p", reference_images=("r.png",)))


@pytest.mark.parametrize(
    ("path", "sent"),
    [("", {"video": {"url": "v"}}), ("video", {"url": "v"}), ("images[1]", None), ("[0]", None)],
)
def test_an_output_path_picks_the_result(path: str, sent: Any) -> None:
    assert output_at({"video": {"url": "v"}}, path) == sent
    assert output_at(["a", "b"], "[1]") == "b"
    assert output_at({"images": [{"url": "i"}]}, "images[0]") == {"url": "i"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"inputs": {}}, "needs modality"),
        ({"modality": "video", "inputs": {"durtion_s": "d"}}, "did you mean 'duration_s'"),
        ({"modality": "video", "inputs": {"fps": {"to": "f", "type": "int"}}}, "type must be"),
        ({"modality": "video", "inputs": {"fps": {"from": "f"}}}, 'expected "model_input"'),
        ({"modality": "video", "output": "video..url"}, 'output must be a path like "video"'),
        ({"modality": "video", "ouput": "video"}, "did you mean 'output'"),
    ],
)
def test_a_bad_binding_table_is_a_config_error_naming_the_key(
    table: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_bindings("fal", {}, {"bindings": {"acme/model": table}})
    assert "[providers.fal.bindings.'acme/model']" in str(info.value)


@pytest.mark.parametrize("shipped", [FAL_BINDINGS, REPLICATE_BINDINGS])
def test_every_shipped_binding_loads_and_names_its_source(shipped: dict[str, Any]) -> None:
    for model, binding in load_bindings("p", shipped, {}).items():
        assert binding.origin.startswith("https://"), model
        assert binding.modality in ("keyframe", "video", "audio"), model
