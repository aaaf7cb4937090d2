"""The half-space testbed: two classes split by a hyperplane."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import special

from genloose._validation import check_float, check_size, fail
from genloose.testing.testbeds._base import Testbed, _check_seed, _IdentityGenerator, _Module, _real_vector


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
