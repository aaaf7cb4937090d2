"""Mode coverage for data with known modes (the 2D-grid protocol of VEEGAN and PacGAN).

A generated sample is *high quality* if it lies within ``quality_sigmas`` standard deviations of its
nearest mode (Srivastava et al. 2017; Lin et al. 2018). The measures here:

* ``modes_captured``: the number of modes that receive at least ``min_count`` high-quality samples.
  With the defaults (``min_count=1``, 3 standard deviations, 2,500 samples) this is the rule of
  PacGAN (Lin et al. 2018) as implemented in its reference code (``MetricLogger`` in
  ``fjxmlzn/PacGAN``: a mode counts when its number of high-quality samples is non-zero).
* ``high_quality_fraction``: the fraction of samples that are high quality.
* ``support_size``: the *discretised support size* used for Figure 3.1 of Manoj (2018): the number
  of cells of the nearest-mode partition (the classes of the nearest-mean classifier, Example 2.2)
  that receive at least a fraction ``support_min_fraction`` of all samples, whatever their quality.
  It counts the classes the generated distribution really puts mass on, which is the quantity the
  class radius and the collision entropy are about.
* :func:`cell_support_size`: an alternative discretisation, the number of cells of a fixed square
  lattice that receive at least ``min_count`` samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genloose._validation import as_numpy, check_float, check_int, fail, is_tensor

__all__ = ["ModeMetrics", "cell_support_size", "mode_metrics"]

_CHUNK = 65_536


@dataclass(frozen=True)
class ModeMetrics:
    """Mode-coverage measures of a sample against known modes.

    Attributes
    ----------
    num_samples : int
        Number of samples measured.
    num_modes : int
        Number of known modes.
    modes_captured : int
        Modes with at least ``min_count`` high-quality samples.
    high_quality_fraction : float
        Fraction of samples within ``quality_sigmas · std`` of their nearest mode.
    support_size : int
        Nearest-mode cells holding at least ``support_min_fraction`` of the samples.
    mode_counts : numpy.ndarray
        Samples per nearest mode (int64, length ``num_modes``), all qualities.
    high_quality_counts : numpy.ndarray
        High-quality samples per mode (int64, length ``num_modes``).
    quality_sigmas, min_count, support_min_fraction : float, int, float
        The thresholds used.
    """

    num_samples: int
    num_modes: int
    modes_captured: int
    high_quality_fraction: float
    support_size: int
    mode_counts: np.ndarray
    high_quality_counts: np.ndarray
    quality_sigmas: float
    min_count: int
    support_min_fraction: float

    def to_dict(self) -> dict[str, Any]:
        """Scalar fields as a dict (the count arrays as lists).

        Examples
        --------
        >>> m = mode_metrics(np.zeros((4, 2)), np.zeros((1, 2)), std=0.1)
        >>> m.to_dict()["modes_captured"], m.to_dict()["mode_counts"]
        (1, [4])
        """
        return {
            "num_samples": self.num_samples,
            "num_modes": self.num_modes,
            "modes_captured": self.modes_captured,
            "high_quality_fraction": self.high_quality_fraction,
            "support_size": self.support_size,
            "mode_counts": self.mode_counts.tolist(),
            "high_quality_counts": self.high_quality_counts.tolist(),
            "quality_sigmas": self.quality_sigmas,
            "min_count": self.min_count,
            "support_min_fraction": self.support_min_fraction,
        }


def _as_points(value: Any, name: str, dim: int | None = None) -> np.ndarray:
    if is_tensor(value):
        value = as_numpy(value, name)
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as error:
            raise fail(name, "a 2-D array of points", value) from error
    if value.ndim != 2 or (dim is not None and value.shape[1] != dim):
        shape = "(m, D)" if dim is None else f"(m, {dim})"
        raise fail(name, f"an array of shape {shape}", value)
    if value.dtype.kind not in "fiu":
        raise fail(name, "a real-valued array", value)
    if value.shape[0] == 0:
        raise fail(name, "at least one point (got 0 sample(s))", value)
    points = value.astype(np.float64, copy=False)
    if not np.all(np.isfinite(points)):
        raise fail(name, "finite (no NaN or inf)", value)
    return points


def _nearest(samples: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and Euclidean distance to the nearest mean, in chunks (ties: lowest index)."""
    index = np.empty(len(samples), dtype=np.int64)
    distance = np.empty(len(samples), dtype=np.float64)
    for start in range(0, len(samples), _CHUNK):
        chunk = samples[start : start + _CHUNK]
        squared = ((chunk[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
        best = squared.argmin(axis=1)
        index[start : start + _CHUNK] = best
        distance[start : start + _CHUNK] = np.sqrt(squared[np.arange(len(chunk)), best])
    return index, distance


def mode_metrics(
    samples: Any,
    means: Any,
    *,
    std: float,
    quality_sigmas: float = 3.0,
    min_count: int = 1,
    support_min_fraction: float = 0.01,
) -> ModeMetrics:
    """Modes captured, high-quality fraction and discretised support size of a sample.

    Each sample ``x`` is assigned to its nearest mode ``k(x) = argmin_k ||x - μ_k||`` and is high
    quality when

    .. math::

        \\|x - \\mu_{k(x)}\\|_2 < s \\cdot \\sigma \\qquad (s = \\texttt{quality\\_sigmas}).

    ``modes_captured`` counts modes with at least ``min_count`` high-quality samples (as in PacGAN,
    Lin et al. 2018, whose reference code uses ``min_count=1`` on 2,500 samples); ``support_size``
    counts nearest-mode cells holding at least ``support_min_fraction`` of all samples.

    Parameters
    ----------
    samples : array_like
        Generated points, shape ``(m, D)`` (numpy array, list or torch tensor), finite.
    means : array_like
        The known modes, shape ``(K, D)``.
    std : float
        Standard deviation of each mode (0.05 on the paper's grid).
    quality_sigmas : float, default 3.0
        High-quality radius in standard deviations.
    min_count : int, default 1
        High-quality samples a mode needs to count as captured.
    support_min_fraction : float, default 0.01
        Mass a nearest-mode cell needs to count towards ``support_size`` (in ``(0, 1]``).

    Returns
    -------
    ModeMetrics

    Notes
    -----
    Figure 3.1 of Manoj (2018) plots the "(discretized) support size" without defining it; this
    library takes the nearest-mode cells (the classes of the classifier of Example 2.2) as the
    discretisation, so that the support size counts the classes that the class radius and the
    collision entropy (Theorem 3.1) refer to.

    Examples
    --------
    >>> means = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    >>> x = np.array([[0.01, 0.0], [0.0, 0.02], [2.0, 0.3], [1.9, 0.0], [3.5, 0.0]])
    >>> m = mode_metrics(x, means, std=0.05, support_min_fraction=0.3)
    >>> m.modes_captured, m.high_quality_fraction, m.support_size
    (2, 0.6, 2)
    >>> m.mode_counts.tolist(), m.high_quality_counts.tolist()
    ([2, 2, 1], [2, 1, 0])
    """
    means_array = _as_points(means, "means")
    points = _as_points(samples, "samples", dim=means_array.shape[1])
    std = check_float("std", std, min_value=0.0, min_inclusive=False)
    quality_sigmas = check_float("quality_sigmas", quality_sigmas, min_value=0.0, min_inclusive=False)
    min_count = check_int("min_count", min_count, min_value=1)
    support_min_fraction = check_float(
        "support_min_fraction", support_min_fraction, min_value=0.0, max_value=1.0, min_inclusive=False
    )
    num_modes = len(means_array)
    index, distance = _nearest(points, means_array)
    good = distance < quality_sigmas * std
    mode_counts = np.bincount(index, minlength=num_modes).astype(np.int64)
    high_quality_counts = np.bincount(index[good], minlength=num_modes).astype(np.int64)
    num_samples = len(points)
    return ModeMetrics(
        num_samples=num_samples,
        num_modes=num_modes,
        modes_captured=int((high_quality_counts >= min_count).sum()),
        high_quality_fraction=float(good.sum() / num_samples),
        support_size=int((mode_counts >= _min_count_for(support_min_fraction, num_samples)).sum()),
        mode_counts=mode_counts,
        high_quality_counts=high_quality_counts,
        quality_sigmas=quality_sigmas,
        min_count=min_count,
        support_min_fraction=support_min_fraction,
    )


def _min_count_for(fraction: float, num_samples: int) -> int:
    """The least integer count ``c`` with ``c >= fraction · num_samples`` (at least 1)."""
    threshold = fraction * num_samples
    # a relative tolerance keeps e.g. 0.07 * 100 = 7.000000000000001 at 7, not 8
    return max(int(np.ceil(threshold * (1.0 - 1e-12))), 1)


def cell_support_size(samples: Any, *, cell_size: float, min_count: int = 1) -> int:
    """Number of cells of the lattice ``cell_size · Z^D`` that hold at least ``min_count`` samples.

    Cell ``c`` is ``{x : floor(x / cell_size) = c}``; the lattice is anchored at the origin, so
    the count does not depend on the sample except through the points themselves.

    Parameters
    ----------
    samples : array_like
        Points of shape ``(m, D)``, finite.
    cell_size : float
        Side of the square cells (> 0). On the 2D grid, ``2σ = 0.1`` resolves each mode into a few
        dozen cells.
    min_count : int, default 1
        Samples a cell needs to count.

    Returns
    -------
    int

    Examples
    --------
    >>> x = np.array([[0.05, 0.05], [0.06, 0.01], [0.15, 0.0], [-0.01, 0.0]])
    >>> cell_support_size(x, cell_size=0.1)
    3
    >>> cell_support_size(x, cell_size=0.1, min_count=2)
    1
    """
    points = _as_points(samples, "samples")
    cell_size = check_float("cell_size", cell_size, min_value=0.0, min_inclusive=False)
    min_count = check_int("min_count", min_count, min_value=1)
    with np.errstate(over="ignore"):
        cells = np.floor(points / cell_size)
    if not np.all(np.abs(cells) < 2.0**62):
        raise fail("cell_size", "large enough that every cell index fits in int64", cell_size)
    _, counts = np.unique(cells.astype(np.int64), axis=0, return_counts=True)
    return int((counts >= min_count).sum())
