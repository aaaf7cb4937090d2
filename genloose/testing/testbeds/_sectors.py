"""The sectors testbed: ``K`` equal angular sectors in a coordinate 2-plane."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from genloose._validation import check_int, check_size, fail
from genloose.testing.testbeds._base import Testbed, _IdentityGenerator, _Module


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
