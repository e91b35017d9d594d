"""The diffusers provider through ``recoil dispatch``: real PNGs and MP4s from tiny pipelines.

Each test's project names the session's tiny pipeline folders in its
``recoil.toml``; the CLI runs in-process, so the pipelines load once for the
whole session, as they would in one long ``recoil run``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from recoil.media.embed import read_embedded
from tests.helpers import records
from tests.unit.cli.running import Recoil, error_line, runner
from tests.unit.providers.diffusers.conftest import settings

pytest.importorskip("torch")
pytest.importorskip("diffusers")

# Stable Video Diffusion's Euler scheduler turns a torch tensor into a numpy array the way
# numpy 2.4 deprecates; the warning is diffusers' own, raised in its scheduler.
EULER_ARRAY = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


@pytest.fixture
def recoil(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Recoil:
    monkeypatch.chdir(tmp_path)
    return runner()


def _project(tmp_path: Path, toml: str) -> Path:
    project = tmp_path / "film"
    project.mkdir()
    (project / "recoil.toml").write_text(toml)
    return project


def _dispatch(recoil: Recoil, project: Path, modality: str, *params: str) -> dict[str, Any]:
    # An upscale request has no steps field: the pipeline's own option is a parameter.
    steps = "num_inference_steps=2" if modality == "upscale" else "steps=2"
    args = ["--param", steps, *(a for p in params for a in ("--param", p))]
    result = recoil(
        "dispatch", modality, "-p", "a red door in the rain", "--provider", "diffusers",
        "--project", project, "--json", *args,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    receipt: dict[str, Any] = json.loads(result.stdout)
    return receipt


def _artifact(project: Path, receipt: dict[str, Any], name: str) -> bytes:
    return (project / receipt["artifacts"][name]["path"]).read_bytes()


def test_a_keyframe_is_a_png_of_the_requested_size(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    project = _project(tmp_path, settings(sd_folder))
    receipt = _dispatch(recoil, project, "keyframe", "width=48", "height=32", "seed=7")
    data = _artifact(project, receipt, "image")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (48, 32)
        # A picture, not a flat fill.
        assert any(low < high for low, high in image.convert("RGB").getextrema())
    assert read_embedded(data, "image/png")["recoil:request_sha256"] == receipt["request_sha256"]
    assert receipt["model"] == str(sd_folder)
    assert receipt["seed"] == 7


def test_receipts_record_the_model_revision_pipeline_and_libraries(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    """SPEC 8: model revision, pipeline, dtype, device and library versions."""
    project = _project(tmp_path, settings(sd_folder))
    receipt = _dispatch(recoil, project, "keyframe", "width=32", "height=32")
    identity = receipt["provenance"]["provider_identity"]
    assert identity["pipeline"] == "StableDiffusionPipeline"
    assert identity["task"] == "text-to-image"
    assert identity["device"] == "cpu"
    assert identity["dtype"] == "float32"
    assert identity["offload"] is False
    assert identity["model_revision"] is None  # a folder, not a cache snapshot
    assert len(identity["model_sha256"]) == 64
    assert set(identity["versions"]) >= {"diffusers", "torch", "transformers"}


def test_the_same_seed_is_the_same_request_and_a_cache_hit(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    project = _project(tmp_path, settings(sd_folder))
    first = _dispatch(recoil, project, "keyframe", "width=32", "height=32", "seed=11")
    again = _dispatch(recoil, project, "keyframe", "width=32", "height=32", "seed=11")
    other = _dispatch(recoil, project, "keyframe", "width=32", "height=32", "seed=12")
    assert again["request_sha256"] == first["request_sha256"]
    assert again["cached"] is True
    assert again["artifacts"]["image"]["sha256"] == first["artifacts"]["image"]["sha256"]
    assert other["request_sha256"] != first["request_sha256"]
    assert other["cached"] is False
    assert len(records(project, "receipt")) == 3


def test_a_changed_model_folder_is_another_request(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    """The model's digest is part of the cache key: edited weights are not a cache hit."""
    import shutil

    copy = tmp_path / "copy-of-sd"
    shutil.copytree(sd_folder, copy)
    project = _project(tmp_path, settings(copy))
    first = _dispatch(recoil, project, "keyframe", "width=32", "height=32", "seed=1")
    config = copy / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace('"beta_end": 0.012', '"beta_end": 0.013'))
    # The same process (a long-lived server) sees the edit, and loads the model again.
    changed = _dispatch(recoil, project, "keyframe", "width=32", "height=32", "seed=1")
    assert '"beta_end": 0.013' in config.read_text()
    assert changed["request_sha256"] != first["request_sha256"]
    assert changed["cached"] is False


def test_a_keyframe_with_an_image_is_image_to_image(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    """A chained beat's frame (``image``) starts the keyframe, at the requested size."""
    project = _project(tmp_path, settings(sd_folder))
    start = project / "start.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(start)
    receipt = _dispatch(
        recoil, project, "keyframe", "width=32", "height=32", f"image={start}", "strength=0.5"
    )
    assert receipt["provenance"]["provider_identity"]["task"] == "image-to-image"
    assert set(receipt["inputs"]) == {"image"}
    with Image.open(io.BytesIO(_artifact(project, receipt, "image"))) as image:
        assert image.size == (32, 32)
    reference = _dispatch(
        recoil, project, "keyframe", "width=32", "height=32", f'reference_images=["{start}"]'
    )
    assert reference["provenance"]["provider_identity"]["task"] == "image-to-image"


def test_model_options_pass_through_and_unknown_ones_are_refused(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    project = _project(tmp_path, settings(sd_folder))
    receipt = _dispatch(recoil, project, "keyframe", "width=32", "height=32", "eta=0.5")
    assert receipt["request"]["params"] == {"eta": 0.5}
    result = recoil(
        "dispatch", "keyframe", "-p", "a door", "--provider", "diffusers", "--project", project,
        "--param", "sampler=euler",
    )  # fmt: skip
    assert result.exit_code == 2
    line = error_line(result)
    assert "unknown parameter 'sampler'" in line
    assert "eta" in line


@pytest.mark.filterwarnings(EULER_ARRAY)
def test_a_clip_is_an_h264_mp4_animated_from_the_keyframe(
    recoil: Recoil, tmp_path: Path, sd_folder: Path, svd_folder: Path
) -> None:
    project = _project(tmp_path, settings(sd_folder, svd_folder))
    keyframe = _dispatch(recoil, project, "keyframe", "width=32", "height=32")
    image = project / keyframe["artifacts"]["image"]["path"]
    clip = _dispatch(
        recoil, project, "video", "width=32", "height=32", "fps=8", "duration_s=0.5",
        f"image={image}", "decode_chunk_size=2",
    )  # fmt: skip
    identity = clip["provenance"]["provider_identity"]
    assert identity["pipeline"] == "StableVideoDiffusionPipeline"
    assert identity["task"] == "image-to-video"
    with av.open(io.BytesIO(_artifact(project, clip, "video"))) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (32, 32)
        assert stream.average_rate == 8
        assert sum(1 for _ in container.decode(video=0)) == 4


@pytest.mark.parametrize(("scale", "size"), [(2.0, (48, 32)), (3.0, (72, 48))])
def test_an_upscaled_image_is_exactly_scale_times_larger(
    recoil: Recoil,
    tmp_path: Path,
    sd_folder: Path,
    upscaler_folder: Path,
    scale: float,
    size: tuple[int, int],
) -> None:
    """The model enlarges twice; another scale is reached by resampling its output."""
    project = _project(tmp_path, settings(sd_folder, upscale=upscaler_folder))
    source = project / "small.png"
    Image.new("RGB", (24, 16), (30, 90, 200)).save(source)
    receipt = _dispatch(
        recoil, project, "upscale", f"image={source}", f"scale={scale}", "noise_level=20"
    )
    assert receipt["provenance"]["provider_identity"]["pipeline"] == (
        "StableDiffusionUpscalePipeline"
    )
    assert receipt["provenance"]["provider_identity"]["task"] == "upscale-image"
    with Image.open(io.BytesIO(_artifact(project, receipt, "image"))) as image:
        assert image.size == size


def test_an_upscaled_clip_keeps_its_frames_and_rate(
    recoil: Recoil, tmp_path: Path, sd_folder: Path, upscaler_folder: Path
) -> None:
    from recoil.media.animated import pictures_to_mp4

    project = _project(tmp_path, settings(sd_folder, upscale=upscaler_folder))
    clip = project / "small.mp4"
    frames = [Image.new("RGB", (16, 16), (40 * i, 90, 200)) for i in range(3)]
    clip.write_bytes(pictures_to_mp4(frames, fps=6))
    receipt = _dispatch(recoil, project, "upscale", f"video={clip}")
    assert receipt["provenance"]["provider_identity"]["task"] == "upscale-video"
    with av.open(io.BytesIO(_artifact(project, receipt, "video"))) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (32, 32)
        assert stream.average_rate == 6
        assert sum(1 for _ in container.decode(video=0)) == 3


def test_a_model_id_loads_from_the_cache_and_records_its_commit(
    recoil: Recoil, tmp_path: Path, sd_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id in the Hugging Face cache is its snapshot; the snapshot's commit is the revision."""
    import shutil

    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hf-cache"
    repo = cache / "models--acme--tiny-sd"
    shutil.copytree(sd_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    # HF_HUB_CACHE as the library read it at import, for this test.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    toml = settings(sd_folder).replace(f'model = "{sd_folder}"', 'model = "acme/tiny-sd"')
    project = _project(tmp_path, toml)
    receipt = _dispatch(recoil, project, "keyframe", "width=32", "height=32")
    assert receipt["model"] == "acme/tiny-sd"
    assert receipt["provenance"]["provider_identity"]["model_revision"] == commit


def test_a_size_the_request_leaves_out_is_the_models_own(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    """Not 1280 x 720, the request's default: the model's (UNet sample size x VAE factor)."""
    project = _project(tmp_path, settings(sd_folder))
    receipt = _dispatch(recoil, project, "keyframe")
    with Image.open(io.BytesIO(_artifact(project, receipt, "image"))) as image:
        assert image.size == (32, 32)
