"""The 2D-grid task of the paper: a mixture of (2n+1)² Gaussians and its nearest-mean classifier.

The target distribution (Manoj 2018, Section 3.1, footnote 5) is the uniform mixture of
``(2n+1)²`` spherical two-dimensional Gaussians with variance ``0.0025`` (standard deviation
``0.05``) centred at ``(2i, 2j)`` for ``-n <= i, j <= n``; ``n = 2`` gives the usual 25-mode grid
(Lin et al. 2018; Srivastava et al. 2017). The classifier sends a point to its nearest mean, as in
Example 2.2 of the paper.

Classes are indexed row-major: the mean ``(2i, 2j)`` has index ``(i + n)·(2n+1) + (j + n)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genloose._validation import check_float, check_int, check_size, fail

__all__ = ["NearestMeanClassifier", "grid_means", "sample_grid"]

#: The standard deviation of each mixture component in the paper (variance 0.0025).
GRID_STD = 0.05


def grid_means(n: int = 2) -> np.ndarray:
    """The means ``(2i, 2j)``, ``-n <= i, j <= n``, of the 2D-grid mixture, row-major.

    Parameters
    ----------
    n : int, default 2
        Half-width of the grid; there are ``(2n+1)²`` means.

    Returns
    -------
    numpy.ndarray
        Array of shape ``((2n+1)², 2)`` and dtype ``float64``; row ``(i + n)·(2n+1) + (j + n)``
        holds ``(2i, 2j)``.

    Examples
    --------
    >>> m = grid_means(1)
    >>> m.shape
    (9, 2)
    >>> m[0].tolist(), m[1].tolist(), m[4].tolist()
    ([-2.0, -2.0], [-2.0, 0.0], [0.0, 0.0])
    """
    n = check_int("n", n, min_value=0, max_value=1000)
    axis = 2.0 * np.arange(-n, n + 1, dtype=np.float64)
    first, second = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([first.ravel(), second.ravel()], axis=1)


def sample_grid(
    num_samples: int,
    *,
    n: int = 2,
    std: float = GRID_STD,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Draw points from the uniform mixture of Gaussians centred on the grid means.

    .. math::

        x = \\mu_k + \\sigma \\varepsilon, \\quad k \\sim \\mathrm{Uniform}\\{1..(2n+1)^2\\},
        \\quad \\varepsilon \\sim \\mathcal{N}(0, I_2)

    Parameters
    ----------
    num_samples : int
        Number of points (>= 0).
    n : int, default 2
        Half-width of the grid.
    std : float, default 0.05
        Standard deviation of each component (the paper uses variance 0.0025).
    seed : int or numpy.random.Generator, default 0
        Seed or generator; the global numpy RNG is never used.

    Returns
    -------
    numpy.ndarray
        Points of shape ``(num_samples, 2)``, dtype ``float64``.

    Examples
    --------
    >>> x = sample_grid(1000, seed=0)
    >>> x.shape
    (1000, 2)
    >>> bool(np.all(np.abs(x) < 4.5))
    True
    """
    num_samples = check_size("num_samples", num_samples, min_value=0, bytes_each=24, what="the points and labels")
    n = check_int("n", n, min_value=0, max_value=1000)
    std = check_float("std", std, min_value=0.0)
    rng = _as_numpy_rng(seed)
    means = grid_means(n)
    modes = rng.integers(0, len(means), size=num_samples)
    return means[modes] + std * rng.standard_normal((num_samples, 2))


def _as_numpy_rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int("seed", seed, min_value=0))


def _sample_grid_torch(num_samples: int, *, n: int, std: float, generator: torch.Generator) -> torch.Tensor:
    """``float32`` grid samples drawn with a :class:`torch.Generator` (used by the GAN trainer)."""
    side = 2 * n + 1
    modes = torch.randint(0, side * side, (num_samples,), generator=generator)
    centre = torch.stack([modes // side, modes % side], dim=1).to(torch.float32)
    centre = 2.0 * (centre - n)
    return centre + std * torch.randn(num_samples, 2, generator=generator)


class NearestMeanClassifier(torch.nn.Module):
    """Scores whose argmax is the nearest grid mean (the classifier of Example 2.2).

    The score of class ``k`` is the linear logit

    .. math::

        s_k(x) = x \\cdot \\mu_k - \\tfrac12 \\|\\mu_k\\|^2
               = -\\tfrac12 \\|x - \\mu_k\\|^2 + \\tfrac12 \\|x\\|^2 ,

    so ``argmax_k s_k(x)`` is the nearest mean, and the scores are differentiable in ``x``
    (the boundaries are the perpendicular bisectors between neighbouring means).

    Parameters
    ----------
    n : int, default 2
        Half-width of the grid; ``K = (2n+1)²`` classes, indexed as in :func:`grid_means`.

    Notes
    -----
    Ties (points exactly on a boundary) go to the lowest class index, as ``torch.argmax`` does.

    Examples
    --------
    >>> c = NearestMeanClassifier()
    >>> c.num_classes
    25
    >>> x = torch.tensor([[0.1, -0.2], [3.9, 4.2], [-2.1, 1.8]])
    >>> c(x).argmax(dim=1).tolist()
    [12, 24, 8]
    >>> c.predict(x).tolist()
    [12, 24, 8]
    """

    means: torch.Tensor

    def __init__(self, n: int = 2) -> None:
        super().__init__()
        self.n = check_int("n", n, min_value=0, max_value=1000)
        self.num_classes = (2 * self.n + 1) ** 2
        self.register_buffer("means", torch.from_numpy(grid_means(self.n)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores of shape ``(m, K)`` for points ``x`` of shape ``(m, 2)``, in ``x``'s dtype."""
        if not isinstance(x, torch.Tensor):
            raise fail("x", "a torch.Tensor of shape (m, 2)", x)
        if x.ndim != 2 or x.shape[1] != 2:
            raise fail("x", "a tensor of shape (m, 2)", x)
        if not x.is_floating_point():
            raise fail("x", "a floating-point tensor", x)
        if not bool(torch.isfinite(x).all()):
            raise fail("x", "finite (no NaN or inf)", x)
        means = self.means.to(device=x.device, dtype=x.dtype)
        return x @ means.T - 0.5 * (means * means).sum(dim=1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The nearest-mean labels (``int64``, shape ``(m,)``) of points ``x`` of shape ``(m, 2)``.

        Examples
        --------
        >>> NearestMeanClassifier(n=1).predict(torch.tensor([[2.0, 2.5]])).tolist()
        [8]
        """
        with torch.no_grad():
            return self.forward(x).argmax(dim=1)
