"""The :class:`Testbed` base class and what every testbed family shares: parameter-free torch modules
and the factories' argument checks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genloose._errors import InvalidArgumentError
from genloose._validation import as_numpy, check_int, describe, fail


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
    >>> from genloose.testing import sectors
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
        >>> from genloose.testing import halfspace
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
        >>> from genloose.testing import halfspace
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
        >>> from genloose.testing import spheres
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
        >>> from genloose.testing import sectors
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
        >>> from genloose.testing import sectors
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


def _orthonormal_columns(rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((rows, columns)))
    return q * np.sign(np.diag(r))  # Haar-distributed
