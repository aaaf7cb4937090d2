"""Wrappers that change the models an estimator sees but never the composite ``c∘g``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from genloose._errors import InvalidArgumentError
from genloose._validation import check_float, check_int, fail
from genloose.testing.testbeds._base import Testbed, _check_seed, _Module, _orthonormal_columns


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
    >>> from genloose.testing import sectors
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
    >>> from genloose.testing import halfspace
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
