"""Exact class-radius testbeds: generator/classifier pairs whose class radius is known exactly.

Each testbed is a latent generator ``g`` and a classifier ``c`` (both :class:`torch.nn.Module`) whose
composite ``c∘g`` partitions the latent space :math:`\\mathbb{R}^d` into regions simple enough that the
class radius

.. math::

    r(z) = \\inf\\{\\lVert z - z' \\rVert_2 : c(g(z')) \\ne c(g(z))\\}

is known in closed form at every point, as are the class probabilities :math:`p_k = P(c(g(z)) = k)`
and (for all four kinds here) the mean :math:`\\mathbb{E}_{z \\sim N(0, I_d)}[r(z)]`. They are the
ground truth against which the class-radius estimator is tested, and users can test their own
search code against them.

The exact side (:meth:`Testbed.label`, :meth:`Testbed.exact_radius`, ...) is plain float64 numpy,
independent of torch; the torch side (``generator``, ``classifier``) is what an estimator sees.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from scipy import integrate, special

from genloose._errors import InvalidArgumentError
from genloose._validation import as_numpy, check_float, check_int, check_size, describe, fail

__all__ = [
    "GridVoronoiTestbed",
    "HalfspaceTestbed",
    "SectorsTestbed",
    "SpheresTestbed",
    "Testbed",
    "all_testbeds",
    "grid_voronoi",
    "halfspace",
    "invertible_wrapper",
    "sectors",
    "spheres",
    "with_logit_scale",
]

_CHUNK = 8192  # rows per block in the (n, K) computations of the grid testbed


# --------------------------------------------------------------------------------------------
# torch modules (what an estimator sees)
# --------------------------------------------------------------------------------------------


class _Module(torch.nn.Module):
    """A parameter-free module in eval mode whose float64 buffers follow the input's dtype/device."""

    def _finish(self) -> None:
        self.eval()
        self.requires_grad_(False)

    @staticmethod
    def _check(x: Any, name: str, tail: tuple[int, ...]) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
            raise fail(name, "a floating-point torch tensor", x)
        if x.ndim != 1 + len(tail) or tuple(x.shape[1:]) != tail:
            shape = ", ".join(str(s) for s in ("n", *tail))
            raise InvalidArgumentError(f"{name} must have shape ({shape}); got shape {tuple(x.shape)}")
        return x


class _IdentityGenerator(_Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self._finish()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._check(z, "z", (self.latent_dim,))

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


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


class _HalfspaceClassifier(_Module):
    """Logits ``(-s/2, s/2)`` with ``s = (w·x + b)/||w||`` the signed distance to the hyperplane."""

    unit_normal: torch.Tensor
    distance_offset: torch.Tensor

    def __init__(self, normal: np.ndarray, offset: float) -> None:
        super().__init__()
        norm = float(np.linalg.norm(normal))
        self.register_buffer("unit_normal", torch.as_tensor(normal / norm, dtype=torch.float64))
        self.register_buffer("distance_offset", torch.tensor(offset / norm, dtype=torch.float64))
        self._finish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x, "x", (self.unit_normal.shape[0],))
        s = x @ self.unit_normal.to(x) + self.distance_offset.to(x)
        return torch.stack((-0.5 * s, 0.5 * s), dim=1)


class _SectorClassifier(_Module):
    """Logits ``<(x_i, x_j), u_k>`` with ``u_k`` the unit vector at the centre of sector ``k``."""

    centres: torch.Tensor

    def __init__(self, latent_dim: int, plane: tuple[int, int], num_classes: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.plane = plane
        angles = 2.0 * np.pi * (np.arange(num_classes) + 0.5) / num_classes
        centres = np.stack((np.cos(angles), np.sin(angles)), axis=1)
        self.register_buffer("centres", torch.as_tensor(centres, dtype=torch.float64))
        self._finish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x, "x", (self.latent_dim,))
        return x[:, list(self.plane)] @ self.centres.to(x).T

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, plane={self.plane}, K={self.centres.shape[0]}"


class _ShellClassifier(_Module):
    """Logits ``f_k(s) = sum_{i <= k} (s - rho_i)`` of ``s = ||x||`` (``f_0 = 0``).

    ``f_k - f_{k-1} = s - rho_k``, so the argmax is the number of radii below ``s`` and adjacent
    logit gaps are signed distances to the spheres.
    """

    slopes: torch.Tensor
    intercepts: torch.Tensor

    def __init__(self, latent_dim: int, radii: np.ndarray) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        slopes = np.arange(radii.size + 1, dtype=np.float64)
        intercepts = np.concatenate(([0.0], np.cumsum(radii)))
        self.register_buffer("slopes", torch.as_tensor(slopes))
        self.register_buffer("intercepts", torch.as_tensor(intercepts))
        self._finish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x, "x", (self.latent_dim,))
        s = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        return s * self.slopes.to(x) - self.intercepts.to(x)


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


class _SinhEmbedding(_Module):
    """``g'(z) = Q sinh(z)``, reshaped to the image shape."""

    basis: torch.Tensor

    def __init__(self, basis: np.ndarray, image_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("basis", torch.as_tensor(basis, dtype=torch.float64))
        self.image_shape = image_shape
        self._finish()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self._check(z, "z", (self.basis.shape[1],))
        return (torch.sinh(z) @ self.basis.to(z).T).reshape(z.shape[0], *self.image_shape)

    def extra_repr(self) -> str:
        return f"latent_dim={self.basis.shape[1]}, image_shape={self.image_shape}"


class _AsinhComposite(_Module):
    """``c'(x) = c(g(asinh(Q^T x)))``, so that ``c'∘g' = c∘g``."""

    basis: torch.Tensor

    def __init__(
        self,
        basis: np.ndarray,
        image_shape: tuple[int, ...],
        generator: torch.nn.Module,
        classifier: torch.nn.Module,
    ) -> None:
        super().__init__()
        self.register_buffer("basis", torch.as_tensor(basis, dtype=torch.float64))
        self.image_shape = image_shape
        self.inner_generator = generator
        self.inner_classifier = classifier
        self._finish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x, "x", self.image_shape)
        latent = torch.asinh(x.reshape(x.shape[0], self.basis.shape[0]) @ self.basis.to(x))
        return self.inner_classifier(self.inner_generator(latent))


class _ScaledClassifier(_Module):
    def __init__(self, classifier: torch.nn.Module, scale: float) -> None:
        super().__init__()
        self.inner = classifier
        self.scale = scale
        self._finish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.inner(x)

    def extra_repr(self) -> str:
        return f"scale={self.scale!r}"


# --------------------------------------------------------------------------------------------
# the testbeds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class Testbed(ABC):
    """A generator/classifier pair with an exactly known class radius.

    Build one with a factory (:func:`halfspace`, :func:`sectors`, :func:`spheres`,
    :func:`grid_voronoi`), optionally wrapped by :func:`invertible_wrapper` or
    :func:`with_logit_scale`, which change the models an estimator sees but never the composite
    ``classifier(generator(z))``, so every exact quantity is unchanged.

    Attributes
    ----------
    name : str
        A readable description with the parameters, e.g. ``"sectors(d=4, K=3)"``.
    latent_dim : int
        The latent dimension ``d``; latents are ``z ~ N(0, I_d)``.
    num_classes : int
        The number of classes ``K``.
    generator : torch.nn.Module
        Maps float tensors of shape ``(n, d)`` to samples. Parameter-free, in eval mode; output
        dtype and device follow the input (float32 and float64 both work).
    classifier : torch.nn.Module
        Maps samples to differentiable scores of shape ``(n, K)`` whose argmax is the class (ties,
        a set of measure zero, go to the lowest index, as ``torch.argmax`` does).

    Notes
    -----
    The exact methods take latents as an array-like of shape ``(n, d)`` (numpy array, nested list
    or CPU torch tensor), compute in float64 numpy and do not call torch. A point within round-off
    of a boundary may be labelled differently by the exact side and by the torch models.

    Examples
    --------
    >>> import numpy as np, torch
    >>> tb = sectors(3, 4)
    >>> z = np.array([[1.0, 0.5, -2.0], [-1.0, -1.0, 0.0]])
    >>> tb.label(z)
    array([0, 2])
    >>> tb.classifier(tb.generator(torch.as_tensor(z))).argmax(dim=1)
    tensor([0, 2])
    >>> tb.exact_radius(z)
    array([0.5, 1. ])
    """

    __test__ = False  # not a test class, whatever pytest's "Test" prefix says

    name: str
    latent_dim: int
    num_classes: int
    generator: torch.nn.Module
    classifier: torch.nn.Module

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, latent_dim={self.latent_dim}, num_classes={self.num_classes})"
        )

    # ---- public, validated ------------------------------------------------------------------

    def label(self, z: Any) -> np.ndarray:
        """The exact class of each latent, computed in float64 numpy.

        Parameters
        ----------
        z : array_like of shape (n, d)
            Latent points.

        Returns
        -------
        numpy.ndarray of shape (n,) and dtype int64
            Labels in ``[0, num_classes)``; the same as ``classifier(generator(z)).argmax(1)``
            away from round-off distance of a boundary.

        Examples
        --------
        >>> halfspace(2, normal=[1.0, 0.0]).label([[0.5, 3.0], [-0.5, 3.0]])
        array([1, 0])
        """
        return self._label(self._latents(z))

    def exact_radius(self, z: Any) -> np.ndarray:
        """The exact class radius ``r(z)`` of each latent.

        .. math::

            r(z) = \\inf\\{\\lVert z - z' \\rVert_2 : c(g(z')) \\ne c(g(z))\\}

        Parameters
        ----------
        z : array_like of shape (n, d)
            Latent points.

        Returns
        -------
        numpy.ndarray of shape (n,) and dtype float64
            Non-negative distances to the nearest point of another class.

        Examples
        --------
        >>> halfspace(2, normal=[3.0, 4.0], offset=5.0).exact_radius([[0.0, 0.0], [-1.0, -2.0]])
        array([1. , 1.2])
        """
        return self._radius(self._latents(z))

    def nearest_boundary_point(self, z: Any) -> np.ndarray:
        """The point of the class boundary nearest to each latent (at distance ``r(z)``).

        Just beyond it (moving away from ``z``) the class differs from ``z``'s; just before it,
        it does not. Where the nearest point is not unique, one of them is returned.

        Parameters
        ----------
        z : array_like of shape (n, d)
            Latent points.

        Returns
        -------
        numpy.ndarray of shape (n, d) and dtype float64

        Examples
        --------
        >>> spheres(2, [2.0]).nearest_boundary_point([[0.0, 0.5], [3.0, 0.0]])
        array([[0., 2.],
               [2., 0.]])
        """
        return self._nearest(self._latents(z))

    def exact_mean_radius(self) -> float:
        """The exact class radius :math:`\\mathbb{E}_{z \\sim N(0, I_d)}[r(z)]`.

        Closed form for :class:`HalfspaceTestbed`, :class:`SectorsTestbed` and
        :class:`SpheresTestbed`; a one-dimensional quadrature (error below ``1e-10``) for
        :class:`GridVoronoiTestbed`.

        Returns
        -------
        float

        Examples
        --------
        >>> round(sectors(5, 2).exact_mean_radius(), 6)  # sqrt(2/pi)
        0.797885
        """
        return float(self._mean_radius())

    def class_probabilities(self) -> np.ndarray:
        """The exact class distribution ``p_k = P(c(g(z)) = k)`` under ``z ~ N(0, I_d)``.

        Returns
        -------
        numpy.ndarray of shape (num_classes,) and dtype float64

        Examples
        --------
        >>> sectors(2, 4).class_probabilities()
        array([0.25, 0.25, 0.25, 0.25])
        """
        return np.asarray(self._class_probabilities(), dtype=np.float64)

    # ---- implemented by each kind ------------------------------------------------------------

    @abstractmethod
    def _label(self, z: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _radius(self, z: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _nearest(self, z: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _mean_radius(self) -> float: ...

    @abstractmethod
    def _class_probabilities(self) -> np.ndarray: ...

    def _latents(self, z: Any) -> np.ndarray:
        if isinstance(z, torch.Tensor):
            z = as_numpy(z, "z")
        try:
            array = np.asarray(z, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise fail("z", f"a real array of shape (n, {self.latent_dim})", z) from error
        if array.ndim != 2 or array.shape[1] != self.latent_dim:
            raise InvalidArgumentError(f"z must have shape (n, {self.latent_dim}); got {describe(z)}")
        if not np.all(np.isfinite(array)):
            raise InvalidArgumentError("z must be finite; got NaN or infinite entries")
        return array


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class HalfspaceTestbed(Testbed):
    """Two classes split by the hyperplane ``w·z + b = 0``; see :func:`halfspace`.

    Attributes
    ----------
    normal : numpy.ndarray of shape (d,)
        The normal ``w`` (class 1 is ``w·z + b > 0``).
    offset : float
        The offset ``b``.

    Examples
    --------
    >>> halfspace(4, offset=1.0).offset
    1.0
    """

    normal: np.ndarray
    offset: float

    def _signed(self, z: np.ndarray) -> np.ndarray:
        return z @ self.normal + self.offset

    def _label(self, z: np.ndarray) -> np.ndarray:
        return (self._signed(z) > 0).astype(np.int64)

    def _radius(self, z: np.ndarray) -> np.ndarray:
        return np.abs(self._signed(z)) / np.linalg.norm(self.normal)

    def _nearest(self, z: np.ndarray) -> np.ndarray:
        w = self.normal
        return z - np.outer(self._signed(z) / (w @ w), w)

    def _mean_radius(self) -> float:
        mu = abs(self.offset) / float(np.linalg.norm(self.normal))
        return math.sqrt(2.0 / math.pi) * math.exp(-0.5 * mu * mu) + mu * (1.0 - 2.0 * float(special.ndtr(-mu)))

    def _class_probabilities(self) -> np.ndarray:
        t = self.offset / float(np.linalg.norm(self.normal))
        return np.array([special.ndtr(-t), special.ndtr(t)])


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class SectorsTestbed(Testbed):
    """``K`` equal angular sectors in a coordinate 2-plane (times the other coordinates).

    See :func:`sectors`.

    Attributes
    ----------
    plane : tuple of int
        The two coordinates ``(i, j)`` spanning the plane; the angle is ``atan2(z_j, z_i)``.

    Examples
    --------
    >>> sectors(5, 3, plane=(1, 4)).plane
    (1, 4)
    """

    plane: tuple[int, int]

    def _polar(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return z[:, self.plane[0]], z[:, self.plane[1]]

    def _label(self, z: np.ndarray) -> np.ndarray:
        x, y = self._polar(z)
        theta = np.mod(np.arctan2(y, x), 2.0 * np.pi)
        k = np.floor(self.num_classes * theta / (2.0 * np.pi)).astype(np.int64)
        # theta = 2π only by rounding a tiny negative angle, which belongs to the last sector
        return np.minimum(k, self.num_classes - 1)

    def _rays(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance to the nearer of the two rays bounding each point's sector, and its angle.

        The distance to the ray at angle ``a`` is ``|x sin a - y cos a| = ρ |sin(θ - a)|`` where
        the point projects onto the ray, and ``ρ`` (the origin) where it does not. Within its
        sector (opening 2π/K <= π) the nearer bounding ray makes an angle φ <= π/2 with the
        point, so ``r = ρ sin φ``; farther rays and the origin are no closer.
        """
        x, y = self._polar(z)
        k = self._label(z)
        width = 2.0 * np.pi / self.num_classes
        rho = np.hypot(x, y)
        best, angle = np.full(z.shape[0], np.inf), np.zeros(z.shape[0])
        for a in (k * width, (k + 1) * width):
            along = x * np.cos(a) + y * np.sin(a)
            distance = np.where(along >= 0, np.abs(x * np.sin(a) - y * np.cos(a)), rho)
            closer = distance < best
            best, angle = np.where(closer, distance, best), np.where(closer, a, angle)
        return best, angle

    def _radius(self, z: np.ndarray) -> np.ndarray:
        return self._rays(z)[0]

    def _nearest(self, z: np.ndarray) -> np.ndarray:
        _, angle = self._rays(z)
        x, y = self._polar(z)
        u = np.stack((np.cos(angle), np.sin(angle)), axis=1)
        foot = np.maximum(x * u[:, 0] + y * u[:, 1], 0.0)[:, None] * u
        out = z.copy()
        out[:, self.plane[0]] = foot[:, 0]
        out[:, self.plane[1]] = foot[:, 1]
        return out

    def _mean_radius(self) -> float:
        k = self.num_classes
        # 1 - cos(π/K) = 2 sin²(π/2K), without the cancellation at large K
        return math.sqrt(math.pi / 2.0) * (k / math.pi) * 2.0 * math.sin(math.pi / (2 * k)) ** 2

    def _class_probabilities(self) -> np.ndarray:
        return np.full(self.num_classes, 1.0 / self.num_classes)


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class SpheresTestbed(Testbed):
    """Concentric spheres: the class is the number of radii strictly below ``||z||``.

    See :func:`spheres`.

    Attributes
    ----------
    radii : numpy.ndarray
        The strictly increasing radii ``rho_1 < ... < rho_m`` (``num_classes = m + 1``).

    Examples
    --------
    >>> spheres(3, [1.0, 2.0]).radii
    array([1., 2.])
    """

    radii: np.ndarray

    def _label(self, z: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.radii, np.linalg.norm(z, axis=1), side="left").astype(np.int64)

    def _closest_radius(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.linalg.norm(z, axis=1)
        gaps = np.abs(s[:, None] - self.radii[None, :])
        return s, self.radii[np.argmin(gaps, axis=1)]

    def _radius(self, z: np.ndarray) -> np.ndarray:
        s, rho = self._closest_radius(z)
        return np.abs(s - rho)

    def _nearest(self, z: np.ndarray) -> np.ndarray:
        s, rho = self._closest_radius(z)
        direction = np.zeros_like(z)
        direction[:, 0] = 1.0  # any direction will do at the origin
        positive = s > 0
        direction[positive] = z[positive] / s[positive, None]
        return rho[:, None] * direction

    def _chi_moments(self, t: float) -> tuple[float, float, float, float]:
        """``P(s <= t)``, ``P(s > t)``, ``E[s; s <= t]/mu_d``, ``E[s; s > t]/mu_d``."""
        d = self.latent_dim
        x = 0.5 * t * t
        return (
            float(special.gammainc(d / 2, x)),
            float(special.gammaincc(d / 2, x)),
            float(special.gammainc((d + 1) / 2, x)),
            float(special.gammaincc((d + 1) / 2, x)),
        )

    def _mean_radius(self) -> float:
        # r(s) is piecewise linear in s = ||z|| ~ chi_d; on each piece, with P the regularised
        # lower incomplete gamma function, P(l < s <= u) = P(d/2, u²/2) - P(d/2, l²/2) and
        # E[s; l < s <= u] = mu_d [P((d+1)/2, u²/2) - P((d+1)/2, l²/2)].
        d = self.latent_dim
        mu = math.sqrt(2.0) * math.exp(special.gammaln((d + 1) / 2) - special.gammaln(d / 2))
        rho = [float(r) for r in self.radii]
        # pieces (lo, hi, sign, centre): r = sign * (s - centre) on (lo, hi]
        pieces = [(0.0, rho[0], -1.0, rho[0])]
        for a, b in itertools.pairwise(rho):
            m = 0.5 * (a + b)
            pieces += [(a, m, 1.0, a), (m, b, -1.0, b)]
        total = 0.0
        for lo, hi, sign, centre in pieces:
            p_lo, _, m_lo, _ = self._chi_moments(lo)
            p_hi, _, m_hi, _ = self._chi_moments(hi)
            total += sign * (mu * (m_hi - m_lo) - centre * (p_hi - p_lo))
        _, q_last, _, n_last = self._chi_moments(rho[-1])
        total += mu * n_last - rho[-1] * q_last
        return total

    def _class_probabilities(self) -> np.ndarray:
        d = self.latent_dim
        x = 0.5 * self.radii**2
        lower = special.gammainc(d / 2, x)
        upper = special.gammaincc(d / 2, x)
        # use whichever tail is small for each shell, to keep relative precision
        middle = np.where(lower[1:] < 0.5, lower[1:] - lower[:-1], upper[:-1] - upper[1:])
        return np.concatenate(([lower[0]], middle, [upper[-1]]))


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


# --------------------------------------------------------------------------------------------
# factories
# --------------------------------------------------------------------------------------------


def _check_seed(seed: Any) -> int:
    return check_int("seed", seed, min_value=0)


def _real_vector(name: str, value: Any, length: int | None = None) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = as_numpy(value, name)
    if isinstance(value, (str, bytes)) or np.asarray(value).dtype.kind in "USO":
        raise fail(name, "a 1-D array of real numbers", value)  # numpy would parse "1" as 1.0
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise fail(name, "a 1-D array of real numbers", value) from error
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1 or (length is not None and array.size != length):
        size = f"of length {length}" if length is not None else ""
        raise fail(name, f"a 1-D array of real numbers {size}".strip(), value)
    if not np.all(np.isfinite(array)):
        raise fail(name, "finite", value)
    return array.copy()


def halfspace(latent_dim: int, *, offset: float = 0.0, normal: Any = None, seed: int = 0) -> HalfspaceTestbed:
    """Two classes split by a hyperplane: class 1 where ``w·z + b > 0``, class 0 elsewhere.

    The generator is the identity; the classifier's logits are ``(-s/2, s/2)`` with
    ``s = (w·x + b)/||w||`` the signed distance to the hyperplane.

    .. math::

        r(z) = \\frac{|w^\\top z + b|}{\\lVert w \\rVert}, \\qquad
        \\mathbb{E}\\, r = \\sqrt{2/\\pi}\\, e^{-\\mu^2/2} + \\mu\\,(1 - 2\\Phi(-\\mu)),
        \\quad \\mu = \\frac{|b|}{\\lVert w \\rVert}

    and ``p = (Φ(-b/||w||), Φ(b/||w||))``.

    Parameters
    ----------
    latent_dim : int
        ``d >= 1``.
    offset : float, default 0.0
        ``b``.
    normal : array_like of shape (d,), optional
        ``w`` (non-zero; its norm matters through ``mu = |b|/||w||``). By default a unit vector in
        a random direction drawn from ``seed``.
    seed : int, default 0
        Seed for the default normal.

    Returns
    -------
    HalfspaceTestbed

    Notes
    -----
    With ``b = 0``, ``E r = sqrt(2/pi)`` in every dimension. For every offset, ``E r`` equals the
    universal upper bound of the paper's Lemma B.1 (Fawzi et al. 2018),
    ``sum_k p_k Φ⁻¹(p_k) + φ(Φ⁻¹(p_k))``: half-spaces are its equality case (Gaussian
    isoperimetry).

    Examples
    --------
    >>> tb = halfspace(8, offset=1.5)
    >>> tb.num_classes, round(tb.exact_mean_radius(), 6)
    (2, 1.558614)
    >>> tb.exact_radius(np.zeros((1, 8)))
    array([1.5])
    """
    latent_dim = check_size("latent_dim", latent_dim, min_value=1, bytes_each=8, what="the hyperplane's normal")
    offset = check_float("offset", offset)
    seed = _check_seed(seed)
    if normal is None:
        w = np.random.default_rng(seed).standard_normal(latent_dim)
        w /= np.linalg.norm(w)
    else:
        w = _real_vector("normal", normal, latent_dim)
        if not np.any(w != 0):
            raise fail("normal", "a non-zero vector", normal)
    mu = abs(offset) / float(np.linalg.norm(w))
    return HalfspaceTestbed(
        name=f"halfspace(d={latent_dim}, mu={mu:.4g})",
        latent_dim=latent_dim,
        num_classes=2,
        generator=_IdentityGenerator(latent_dim),
        classifier=_HalfspaceClassifier(w, offset),
        normal=w,
        offset=offset,
    )


def sectors(latent_dim: int, num_classes: int, *, plane: Sequence[int] = (0, 1)) -> SectorsTestbed:
    """``K`` equal angular sectors in a coordinate 2-plane, any ``d >= 2``, any ``K >= 2``.

    Class ``k`` is the wedge ``2πk/K <= θ < 2π(k+1)/K`` with ``θ = atan2(z_j, z_i) mod 2π``, times
    the other coordinates. The generator is the identity; the logits are
    ``ρ cos(θ - θ_k) = <(z_i, z_j), u_k>`` with ``u_k`` the unit vector at the sector centre
    ``θ_k = 2π(k + 1/2)/K``, whose argmax is the nearest centre, i.e. the sector.

    .. math::

        r(z) = \\lVert (z_i, z_j) \\rVert \\sin\\varphi, \\qquad
        \\mathbb{E}\\, r = \\sqrt{\\pi/2}\\; \\frac{K}{\\pi}\\,\\bigl(1 - \\cos(\\pi/K)\\bigr)

    with ``φ ∈ [0, π/K]`` the angle to the nearest boundary ray; ``p_k = 1/K``.

    Parameters
    ----------
    latent_dim : int
        ``d >= 2``.
    num_classes : int
        ``K >= 2``.
    plane : pair of int, default (0, 1)
        The two distinct coordinates ``(i, j)`` spanning the plane.

    Returns
    -------
    SectorsTestbed

    Notes
    -----
    ``K = 2`` is a half-space through the origin (``E r = sqrt(2/pi)``); ``K = 3`` is the 120°
    tripod; large ``K`` exercises many classes with ``E r ~ pi^{3/2}/(2^{3/2} K)``.

    Examples
    --------
    >>> tb = sectors(16, 3)
    >>> round(tb.exact_mean_radius(), 5)
    0.59841
    >>> tb.label([[1.0, 1.0] + [0.0] * 14])
    array([0])
    """
    latent_dim = check_int("latent_dim", latent_dim, min_value=2)
    num_classes = check_size("num_classes", num_classes, min_value=2, bytes_each=8, what="the sector boundaries")
    if isinstance(plane, (str, bytes)) or not isinstance(plane, Sequence) or len(plane) != 2:
        raise fail("plane", "a pair of distinct coordinate indices", plane)
    axes = (
        check_int("plane[0]", plane[0], min_value=0, max_value=latent_dim - 1),
        check_int("plane[1]", plane[1], min_value=0, max_value=latent_dim - 1),
    )
    if axes[0] == axes[1]:
        raise fail("plane", "a pair of distinct coordinate indices", plane)
    return SectorsTestbed(
        name=f"sectors(d={latent_dim}, K={num_classes})",
        latent_dim=latent_dim,
        num_classes=num_classes,
        generator=_IdentityGenerator(latent_dim),
        classifier=_SectorClassifier(latent_dim, axes, num_classes),
        plane=axes,
    )


def spheres(latent_dim: int, radii: Any) -> SpheresTestbed:
    """Concentric spheres: the class of ``z`` is the number of radii strictly below ``||z||``.

    The generator is the identity; the logits are ``f_k = sum_{i <= k} (||x|| - rho_i)``
    (``f_0 = 0``), smooth away from the origin, so that ``f_k - f_{k-1} = ||x|| - rho_k`` and the
    argmax switches exactly at the radii.

    .. math::

        r(z) = \\min_k \\bigl| \\lVert z \\rVert - \\rho_k \\bigr|

    For one sphere, with :math:`\\mu_d = \\sqrt{2}\\,\\Gamma(\\tfrac{d+1}{2})/\\Gamma(\\tfrac d2)`
    and :math:`P` the regularised lower incomplete gamma function,

    .. math::

        \\mathbb{E}\\, r = \\mu_d - \\rho
        + 2\\bigl[\\rho\\, P(\\tfrac d2, \\tfrac{\\rho^2}{2})
        - \\mu_d\\, P(\\tfrac{d+1}{2}, \\tfrac{\\rho^2}{2})\\bigr];

    for several, the same chi-distribution moments integrate the piecewise-linear ``r`` exactly.

    Parameters
    ----------
    latent_dim : int
        ``d >= 1``.
    radii : float or array_like
        Strictly increasing positive finite radii (``num_classes = len(radii) + 1``).

    Returns
    -------
    SpheresTestbed

    Notes
    -----
    The boundary is curved, so linearised attacks need several steps. In high dimension
    ``||z||`` concentrates near ``sqrt(d)``; radii near it give balanced classes.

    Examples
    --------
    >>> round(spheres(2, 1.0).exact_mean_radius(), 4)
    0.5421
    >>> spheres(3, [1.0, 2.0]).label([[0.0, 0.0, 0.5], [0.0, 1.5, 0.0], [3.0, 0.0, 0.0]])
    array([0, 1, 2])
    """
    latent_dim = check_int("latent_dim", latent_dim, min_value=1)
    rho = _real_vector("radii", radii)
    if rho.size == 0 or rho[0] <= 0 or np.any(np.diff(rho) <= 0):
        raise fail("radii", "strictly increasing positive numbers (at least one)", radii)
    text = ", ".join(f"{r:.4g}" for r in rho)
    return SpheresTestbed(
        name=f"spheres(d={latent_dim}, radii=[{text}])",
        latent_dim=latent_dim,
        num_classes=rho.size + 1,
        generator=_IdentityGenerator(latent_dim),
        classifier=_ShellClassifier(latent_dim, rho),
        radii=rho,
    )


def _orthonormal_columns(rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((rows, columns)))
    return q * np.sign(np.diag(r))  # Haar-distributed


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


def _image_shape(value: Any, latent_dim: int) -> tuple[int, ...]:
    if value is None:
        return (latent_dim,)
    shape = (value,) if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) else value
    try:
        dims = tuple(check_int("image_shape", s, min_value=1) for s in shape)
    except InvalidArgumentError as error:
        raise fail("image_shape", "a positive int or a tuple of positive ints", value) from error
    if not dims or math.prod(dims) < latent_dim:
        raise fail("image_shape", f"a shape with at least latent_dim={latent_dim} entries", value)
    return dims


def _check_testbed(testbed: Any) -> Testbed:
    if not isinstance(testbed, Testbed):
        raise fail("testbed", "a Testbed", testbed)
    return testbed


def invertible_wrapper(testbed: Testbed, *, image_shape: int | Sequence[int] | None = None, seed: int = 0) -> Testbed:
    """Wrap a testbed in a nonlinear invertible generator and a matching classifier.

    The new generator is ``g'(z) = Q sinh(z)`` (elementwise ``sinh``; ``Q`` a ``(D, d)`` matrix
    with orthonormal columns drawn from ``seed``; output reshaped to ``image_shape``), and the
    new classifier is ``c'(x) = c(g(asinh(Q^T x)))``. Since ``Q^T Q = I`` and ``asinh`` inverts
    ``sinh`` exactly, ``c'∘g' = c∘g`` (up to round-off): every exact quantity is unchanged, while
    an estimator sees a nonlinear image-space model whose gradients are rescaled by
    ``cosh(z)`` elementwise.

    Parameters
    ----------
    testbed : Testbed
        The testbed to wrap (possibly already wrapped).
    image_shape : int or tuple of int, optional
        The shape of one generated sample, with ``D = prod(image_shape) >= d`` entries
        (e.g. ``(3, 8, 8)``). Default ``(d,)``.
    seed : int, default 0
        Seed for ``Q``.

    Returns
    -------
    Testbed
        Of the same type, with ``name`` ``"invertible(<name>)"`` and the same exact methods.

    Examples
    --------
    >>> import torch
    >>> tb = invertible_wrapper(sectors(4, 3), image_shape=(2, 3, 3))
    >>> z = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> tb.generator(z).shape
    torch.Size([5, 2, 3, 3])
    >>> bool((tb.classifier(tb.generator(z)).argmax(1).numpy() == tb.label(z)).all())
    True
    """
    testbed = _check_testbed(testbed)
    d = testbed.latent_dim
    shape = _image_shape(image_shape, d)
    seed = _check_seed(seed)
    basis = _orthonormal_columns(math.prod(shape), d, np.random.default_rng(seed))
    return replace(
        testbed,
        name=f"invertible({testbed.name})",
        generator=_SinhEmbedding(basis, shape),
        classifier=_AsinhComposite(basis, shape, testbed.generator, testbed.classifier),
    )


def with_logit_scale(testbed: Testbed, scale: float) -> Testbed:
    """The same testbed with the classifier's scores multiplied by ``scale > 0``.

    The argmax, hence every exact quantity, is unchanged; a search that depends on the size of
    the logits (rather than their sign pattern) is exposed by a large or small ``scale``.

    Parameters
    ----------
    testbed : Testbed
        The testbed to wrap.
    scale : float
        A positive finite factor.

    Returns
    -------
    Testbed
        Of the same type, named ``"logit_scale(<name>, <scale>)"``.

    Examples
    --------
    >>> import torch
    >>> tb = with_logit_scale(halfspace(2, normal=[1.0, 0.0]), 100.0)
    >>> tb.classifier(torch.tensor([[0.5, 0.0]]))
    tensor([[-25.,  25.]])
    """
    testbed = _check_testbed(testbed)
    scale = check_float("scale", scale, min_value=0.0, min_inclusive=False)
    return replace(
        testbed,
        name=f"logit_scale({testbed.name}, {scale:g})",
        classifier=_ScaledClassifier(testbed.classifier, scale),
    )


def all_testbeds(latent_dim: int) -> list[Testbed]:
    """One representative instance of every kind and wrapper, for benchmarks and parametrised tests.

    Parameters
    ----------
    latent_dim : int
        ``d >= 2``.

    Returns
    -------
    list of Testbed
        A tilted half-space, 3 and 10 sectors, one sphere and three spheres near ``sqrt(d)``, a
        ``5 × 5`` grid, an invertible wrapper of the 3 sectors into ``3·d`` image coordinates
        and a logit-scaled half-space. The order and parameters are fixed.

    Examples
    --------
    >>> [tb.num_classes for tb in all_testbeds(4)]
    [2, 3, 10, 2, 4, 25, 3, 2]
    """
    d = check_int("latent_dim", latent_dim, min_value=2)
    root = math.sqrt(d)
    return [
        halfspace(d, offset=0.5, seed=1),
        sectors(d, 3),
        sectors(d, 10, plane=(d - 1, 0)),
        spheres(d, root),
        spheres(d, [max(root - 1.0, 0.25), root, root + 1.0]),
        grid_voronoi(d, n=2, scale=2.0, seed=2),
        invertible_wrapper(sectors(d, 3), image_shape=3 * d, seed=3),
        with_logit_scale(halfspace(d, offset=-1.0, seed=4), 1000.0),
    ]
