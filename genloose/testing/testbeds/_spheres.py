"""The spheres testbed: classes are the shells between concentric spheres."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import special

from genloose._validation import check_int, fail
from genloose.testing.testbeds._base import Testbed, _IdentityGenerator, _Module, _real_vector


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
