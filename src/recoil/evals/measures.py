"""Image measures on luma arrays (0-255 floats), each from a published method.

- :func:`laplacian_variance`: the variance of the 4-neighbour Laplacian
  (Pech-Pacheco et al., 2000), the usual focus / blur measure.
- :func:`immerkaer_sigma`: the noise standard deviation by Immerkaer's fast
  method ("Fast noise variance estimation", CVIU 1996): the image convolved
  with the difference of two Laplacians, which cancels smooth structure.
- :func:`ssim`: the mean structural similarity of Wang et al. (2004), with
  their constants: an 11-tap Gaussian window of sigma 1.5, K1 0.01, K2 0.03.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Floats = NDArray[np.float32]


def laplacian_variance(luma: Floats) -> float:
    """Variance of the 4-neighbour Laplacian of ``luma`` (0 for images under 3x3)."""
    if min(luma.shape) < 3:
        return 0.0
    centre = luma[1:-1, 1:-1]
    lap = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4 * centre
    return float(lap.var(dtype=np.float64))


def immerkaer_sigma(luma: Floats) -> float:
    """Immerkaer's noise sigma estimate of ``luma`` (0 for images under 3x3).

    The 3x3 kernel ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]`` is the outer product
    of ``[1, -2, 1]`` with itself, so it runs as two 1-D second differences.
    """
    height, width = (int(n) for n in luma.shape)
    if min(height, width) < 3:
        return 0.0
    rows = luma[:-2] - 2 * luma[1:-1] + luma[2:]
    both = rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:]
    total = float(np.abs(both).sum(dtype=np.float64))
    return math.sqrt(math.pi / 2) * total / (6 * (width - 2) * (height - 2))


def ssim(a: Floats, b: Floats) -> float:
    """Mean SSIM of two same-shaped luma arrays, in [-1, 1] (1: identical)."""
    from scipy.ndimage import gaussian_filter

    if a.shape != b.shape:
        raise ValueError(f"ssim needs arrays of one shape, got {a.shape} and {b.shape}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image: NDArray[np.float64]) -> NDArray[np.float64]:
        # truncate 3.5 sigma: the 11-tap window of the paper
        blurred: NDArray[np.float64] = gaussian_filter(image, 1.5, truncate=3.5, mode="reflect")
        return blurred

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


def mean_abs_diff(a: Floats, b: Floats) -> float:
    """Mean absolute difference of two same-shaped arrays."""
    return float(np.abs(a - b).mean(dtype=np.float64))
