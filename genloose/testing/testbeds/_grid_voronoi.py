"""The grid testbed: a linear generator into a 2-D grid of means with a nearest-mean classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate, special

from genloose._validation import check_float, check_size
from genloose.testing.testbeds._base import Testbed, _check_seed, _Module, _orthonormal_columns

_CHUNK = 8192  # rows per block in the (n, K) computations of the grid testbed


class _LinearGenerator(_Module):
    matrix: torch.Tensor

    def __init__(self, matrix: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("matrix", torch.as_tensor(matrix, dtype=torch.float64))
        self._finish()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self._check(z, "z", (self.matrix.shape[1],))
        return z @ self.matrix.to(z).T

    def extra_repr(self) -> str:
        return f"{self.matrix.shape[1]} -> {self.matrix.shape[0]}"


class _NearestMeanClassifier(_Module):
    """Logits ``x·mu_k - ||mu_k||^2 / 2`` (argmax = nearest mean)."""

    means: torch.Tensor

    def __init__(self, means: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float64))
        self._finish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x, "x", (self.means.shape[1],))
        means = self.means.to(x)
        return x @ means.T - 0.5 * (means * means).sum(dim=1)


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class GridVoronoiTestbed(Testbed):
    """Nearest-mean classification of ``x = A z`` among the means ``(2i, 2j)``, ``|i|, |j| <= n``.

    See :func:`grid_voronoi`.

    Attributes
    ----------
    matrix : numpy.ndarray of shape (2, d)
        The generator's matrix ``A = scale * V^T`` (``V`` has orthonormal columns).
    means : numpy.ndarray of shape ((2n+1)**2, 2)
        The class means; class ``k = (i+n)(2n+1) + (j+n)`` has mean ``(2i, 2j)``.
    half_width : int
        ``n``.
    scale : float
        The generator's scale (the singular value of ``A``).

    Examples
    --------
    >>> grid_voronoi(3, n=1).means[:3]
    array([[-2., -2.],
           [-2.,  0.],
           [-2.,  2.]])
    """

    matrix: np.ndarray
    means: np.ndarray
    half_width: int
    scale: float

    def _label(self, z: np.ndarray) -> np.ndarray:
        n = self.half_width
        x = z @ self.matrix.T
        # cell i is [2i - 1, 2i + 1) along each axis, the outer cells unbounded
        ij = np.clip(np.floor((x + 1.0) / 2.0), -n, n).astype(np.int64) + n
        return ij[:, 0] * (2 * n + 1) + ij[:, 1]

    def _facet(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per point: latent distance to the nearest bisector, and that bisector's normal and gap.

        The composite logits are affine, ``f_k(z) = mu_k·Az - ||mu_k||²/2``, so the class region
        of ``y`` is the convex polytope ``{f_y >= f_j for all j}``, and the distance from an
        interior point to its complement is ``min_j (f_y - f_j)(z) / ||A^T (mu_y - mu_j)||``.
        """
        means, a = self.means, self.matrix
        bias = 0.5 * np.sum(means * means, axis=1)
        pulled = means @ a  # (K, d): A^T mu_k
        pair_norms = np.linalg.norm(pulled[:, None, :] - pulled[None, :, :], axis=2)
        np.fill_diagonal(pair_norms, 1.0)
        distance = np.empty(z.shape[0])
        normal = np.empty_like(z)
        gap = np.empty(z.shape[0])
        for start in range(0, z.shape[0], _CHUNK):
            zz = z[start : start + _CHUNK]
            rows = np.arange(zz.shape[0])
            y = self._label(zz)
            logits = (zz @ a.T) @ means.T - bias
            diff = np.maximum(logits[rows, y][:, None] - logits, 0.0)  # < 0 only by round-off
            ratio = diff / pair_norms[y]
            ratio[rows, y] = np.inf
            j = np.argmin(ratio, axis=1)
            distance[start : start + _CHUNK] = ratio[rows, j]
            normal[start : start + _CHUNK] = pulled[y] - pulled[j]
            gap[start : start + _CHUNK] = diff[rows, j]
        return distance, normal, gap

    def _radius(self, z: np.ndarray) -> np.ndarray:
        return self._facet(z)[0]

    def _nearest(self, z: np.ndarray) -> np.ndarray:
        _, normal, gap = self._facet(z)
        return z - (gap / np.sum(normal * normal, axis=1))[:, None] * normal

    def _mean_radius(self) -> float:
        # With A A^T = scale² I the image x = A z has iid N(0, scale²) coordinates and
        # r(z) = min(h(x_1), h(x_2)) / scale, h(t) the distance from t to the nearest cell edge
        # at the odd integers l, |l| <= 2n - 1. Hence E r = (1/scale) ∫_0^∞ G(t)² dt with
        # G(t) = P(h(x_1) > t), in closed form via Φ.
        s, n = self.scale, self.half_width
        edges = np.arange(-(2 * n - 1), 2 * n, 2, dtype=np.float64)
        outer = 2 * n - 1

        def survival_near(t: float) -> float:  # t <= 1: the bands around the edges are disjoint
            inside = np.sum(special.ndtr((edges + t) / s) - special.ndtr((edges - t) / s))
            return float(1.0 - inside)

        def survival_far(t: float) -> float:  # t >= 1: the bands have merged
            return float(2.0 * special.ndtr(-(outer + t) / s))

        near, _ = integrate.quad(lambda t: survival_near(t) ** 2, 0.0, 1.0, epsabs=1e-13, epsrel=1e-12, limit=200)
        far, _ = integrate.quad(lambda t: survival_far(t) ** 2, 1.0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)
        return (near + far) / s

    def _class_probabilities(self) -> np.ndarray:
        s, n = self.scale, self.half_width
        i = np.arange(-n, n + 1, dtype=np.float64)
        lo = np.where(i == -n, -np.inf, 2 * i - 1) / s
        hi = np.where(i == n, np.inf, 2 * i + 1) / s
        # upper tails for positive cells keep the relative precision of small probabilities
        q = np.where(i > 0, special.ndtr(-lo) - special.ndtr(-hi), special.ndtr(hi) - special.ndtr(lo))
        return np.outer(q, q).ravel()


def grid_voronoi(latent_dim: int, *, n: int = 2, scale: float = 2.0, seed: int = 0) -> GridVoronoiTestbed:
    """A linear generator into the 2-D grid of ``(2n+1)²`` means with a nearest-mean classifier.

    The generator is ``x = A z`` with ``A = scale * V^T`` and ``V`` a ``(d, 2)`` matrix with
    orthonormal columns drawn from ``seed``; the classifier's logits are
    ``x·mu_k - ||mu_k||²/2`` for the means ``mu_k = (2i, 2j)``, ``-n <= i, j <= n`` (the "2-D
    grid" of the GAN mode-collapse literature). The composite is a multiclass affine classifier
    ``f_k(z) = mu_k·Az - ||mu_k||²/2`` whose class regions are convex polytopes, so

    .. math::

        r(z) = \\min_{j \\ne y}
        \\frac{f_y(z) - f_j(z)}{\\lVert A^\\top(\\mu_y - \\mu_j) \\rVert}

    exactly (distance to the nearest facet hyperplane, pulled back to latent space). The class
    probabilities are products of normal probabilities of the cells' sides, and
    ``E r = (1/scale) ∫_0^∞ G(t)² dt`` with ``G(t) = P(x_1 farther than t from every cell edge)``
    is evaluated by quadrature to about ``1e-10``.

    Parameters
    ----------
    latent_dim : int
        ``d >= 2``.
    n : int, default 2
        Half-width of the grid, ``n >= 1`` (``num_classes = (2n+1)²``).
    scale : float, default 2.0
        Positive scale of the generator (the image coordinates are ``N(0, scale²)``).
    seed : int, default 0
        Seed for the orientation ``V``.

    Returns
    -------
    GridVoronoiTestbed

    Notes
    -----
    The image-space distance to a cell edge is ``scale`` times the latent one, which tests that a
    search measures latent, not image, distance.

    Examples
    --------
    >>> tb = grid_voronoi(4, n=1, scale=1.0)
    >>> tb.num_classes
    9
    >>> round(float(tb.class_probabilities().sum()), 12)
    1.0
    """
    latent_dim = check_size("latent_dim", latent_dim, min_value=2, bytes_each=16, what="the grid's basis")
    n = check_size("n", n, min_value=1, bytes_each=8 * (2 * n + 1) if isinstance(n, int) else 0, what="the grid")
    scale = check_float("scale", scale, min_value=0.0, min_inclusive=False)
    seed = _check_seed(seed)
    basis = _orthonormal_columns(latent_dim, 2, np.random.default_rng(seed))
    matrix = scale * basis.T
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    means = 2.0 * np.stack((i.ravel(), j.ravel()), axis=1).astype(np.float64)
    return GridVoronoiTestbed(
        name=f"grid_voronoi(d={latent_dim}, n={n}, scale={scale:.4g})",
        latent_dim=latent_dim,
        num_classes=means.shape[0],
        generator=_LinearGenerator(matrix),
        classifier=_NearestMeanClassifier(means),
        matrix=matrix,
        means=means,
        half_width=n,
        scale=scale,
    )
