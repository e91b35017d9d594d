"""Image scorers against references they did not write: Gaussian blur, known noise, flat frames."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFilter

from recoil.errors import ScorerUnavailableError
from recoil.evals import Subject
from recoil.evals.image import Exposure, Noise, Sharpness
from recoil.evals.measures import immerkaer_sigma, laplacian_variance
from tests.unit.evals.media import previz_keyframe, save, texture

RADII = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def _keyframe(path: Path) -> Subject:
    return Subject(path=path, modality="keyframe")


@pytest.mark.parametrize(
    "picture",
    [previz_keyframe(), texture(640, 360, seed=1)],
    ids=["previz-keyframe", "textured"],
)
def test_sharpness_falls_monotonically_as_a_gaussian_blur_grows(
    tmp_path: Path, picture: Image.Image
) -> None:
    """Pillow's Gaussian blur of growing radius: every step scores strictly lower."""
    scores = []
    for radius in RADII:
        blurred = picture.filter(ImageFilter.GaussianBlur(radius)) if radius else picture
        scores.append(Sharpness().score(_keyframe(save(blurred, tmp_path / f"{radius}.png"))))
    values = [s.value for s in scores]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) == len(values)
    assert values[0] > 0.6
    assert values[-1] < 0.05


def test_exposure_flags_all_black_and_all_white_frames(tmp_path: Path) -> None:
    """A black frame has every pixel crushed, a white one every pixel clipped: both near 0."""
    black = Exposure().score(_keyframe(save(Image.new("RGB", (64, 36)), tmp_path / "k.png")))
    white_image = Image.new("RGB", (64, 36), (255, 255, 255))
    white = Exposure().score(_keyframe(save(white_image, tmp_path / "w.png")))
    good = Exposure().score(_keyframe(save(previz_keyframe(), tmp_path / "g.png")))
    assert black.value == 0.0
    assert black.measurements["crushed_shadows"] == 1.0
    assert black.measurements["mean_luma"] == 0.0
    assert white.value == 0.0
    assert white.measurements["clipped_highlights"] == 1.0
    assert good.value > 0.8


def test_exposure_passes_a_dark_scene_and_marks_down_a_blown_out_one(tmp_path: Path) -> None:
    """Mid tones are flat: a night scene (mean 0.2) passes; one clipped over 40 % does not."""
    base = np.asarray(texture(320, 180, seed=2), dtype=np.float32)
    night = Image.fromarray((base * 0.45).astype(np.uint8))
    blown = Image.fromarray(np.clip(base * 2.2, 0, 255).astype(np.uint8))
    assert Exposure().score(_keyframe(save(night, tmp_path / "n.png"))).value > 0.7
    blown_score = Exposure().score(_keyframe(save(blown, tmp_path / "b.png")))
    assert blown_score.measurements["clipped_highlights"] > 0.3
    assert blown_score.value < 0.4


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_reads_the_sigma_of_added_gaussian_noise(tmp_path: Path, sigma: float) -> None:
    """Immerkaer's estimate of white Gaussian noise of known sigma on a flat grey frame."""
    rng = np.random.default_rng(7)
    noisy = np.clip(128 + rng.normal(0.0, sigma, (360, 640)), 0, 255).round().astype(np.uint8)
    score = Noise().score(_keyframe(save(Image.fromarray(noisy), tmp_path / "n.png")))
    assert score.measurements["noise_sigma"] == pytest.approx(sigma, rel=0.05)
    assert score.value == pytest.approx(1 / (1 + (sigma / 5) ** 2), abs=0.03)


def test_a_clean_render_scores_higher_on_noise_than_a_grainy_one(tmp_path: Path) -> None:
    """The previz frame, clean and with grain of sigma 8."""
    clean = previz_keyframe()
    rng = np.random.default_rng(1)
    grain = np.asarray(clean, dtype=np.float32) + rng.normal(0, 8, (360, 640, 1))
    grainy = Image.fromarray(np.clip(grain, 0, 255).astype(np.uint8))
    clean_score = Noise().score(_keyframe(save(clean, tmp_path / "c.png")))
    grainy_score = Noise().score(_keyframe(save(grainy, tmp_path / "g.png")))
    assert clean_score.value > 0.9 > 0.5 > grainy_score.value


def test_the_measures_on_hand_made_arrays() -> None:
    """A single bright pixel: Laplacian (-4 at it, +1 at its four neighbours)."""
    luma = np.zeros((5, 5), dtype=np.float32)
    luma[2, 2] = 1.0
    lap = np.array([1, 1, 1, 1, -4, *([0] * 4)], dtype=np.float64)  # the 3x3 interior
    assert laplacian_variance(luma) == pytest.approx(lap.var())
    assert immerkaer_sigma(np.full((8, 8), 9.0, dtype=np.float32)) == 0.0
    assert laplacian_variance(np.zeros((2, 9), dtype=np.float32)) == 0.0


def test_an_image_too_small_to_measure_is_skipped(tmp_path: Path) -> None:
    """Under 3x3 there is no Laplacian: the scorer says so instead of scoring 0."""
    tiny = _keyframe(save(Image.new("RGB", (2, 2)), tmp_path / "t.png"))
    with pytest.raises(ScorerUnavailableError, match="the image is 2x2"):
        Sharpness().score(tiny)


def test_upscaled_images_are_scored_like_keyframes(tmp_path: Path) -> None:
    """The image scorers serve the upscale modality too."""
    path = save(previz_keyframe(), tmp_path / "up.png")
    subject = Subject(path=path, modality="upscale")
    assert all("upscale" in s.modalities for s in (Sharpness(), Exposure(), Noise()))
    assert Sharpness().score(subject).value > 0.5


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(3, 40), st.integers(3, 40), st.sampled_from([1, 3])),
    )
)
def test_every_image_score_lies_in_0_1(pixels: np.ndarray) -> None:
    """Property: any picture, grey or colour, flat or noisy, scores in [0, 1] on every scorer."""
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    with tempfile.TemporaryDirectory() as folder:
        subject = _keyframe(save(image, Path(folder) / "x.png"))
        for scorer in (Sharpness(), Exposure(), Noise()):
            assert 0.0 <= scorer.score(subject).value <= 1.0
