"""Hypothesis strategies for property tests of class-radius and diversity code.

This module needs the optional ``hypothesis`` package (``pip install hypothesis``). Every function
returns a :class:`hypothesis.strategies.SearchStrategy`, validates its arguments when it is called
(raising :class:`hypothesis.errors.InvalidArgument`), and follows hypothesis' naming
(``min_value``/``max_value``, ``min_size``/``max_size``); where a count may vary, it accepts either
a value or a strategy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from genloose._optional import missing_dependency

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.extra import numpy as hnp
except ModuleNotFoundError as _error:  # tested by hiding hypothesis
    raise missing_dependency(_error, "hypothesis", extra="testing", needed_for="genloose.testing.strategies") from None

from genloose.testing.testbeds import (
    Testbed,
    grid_voronoi,
    halfspace,
    invertible_wrapper,
    sectors,
    spheres,
    with_logit_scale,
)

__all__ = [
    "TESTBED_KINDS",
    "TESTBED_WRAPPERS",
    "class_distributions",
    "label_arrays",
    "latent_batches",
    "testbeds",
]

TESTBED_KINDS: tuple[str, ...] = ("halfspace", "sectors", "spheres", "grid_voronoi")
"""The kinds :func:`testbeds` can draw."""

TESTBED_WRAPPERS: tuple[str, ...] = ("none", "invertible", "logit_scale")
"""The wrappers :func:`testbeds` can apply (``"none"`` leaves the testbed as built)."""

# |sum(p) - 1| <= 2**-54 in exact arithmetic makes math.fsum(p) == 1.0; 2**-53 is the largest
# shortfall of K * fl(1/K) from 1, so bounds like max_probability=1/K stay usable.
_EXACT = Fraction(1, 2**54)
_SLACK = Fraction(1, 2**53)


# ---- argument checks ------------------------------------------------------------------------


def _int(name: str, value: Any, *, min_value: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise InvalidArgument(f"{name} must be >= {min_value}; got {value}")
    return value


def _real(name: str, value: Any, *, min_value: float, max_value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not (min_value <= value <= max_value):  # also rejects NaN
        raise InvalidArgument(f"{name} must be in [{min_value}, {max_value}]; got {value!r}")
    return value


def _sizes(min_size: Any, max_size: Any) -> tuple[int, int]:
    min_size = _int("min_size", min_size, min_value=0)
    max_size = _int("max_size", max_size, min_value=0)
    if max_size < min_size:
        raise InvalidArgument(f"max_size={max_size} must be >= min_size={min_size}")
    return min_size, max_size


def _count_strategy(name: str, value: Any, *, min_value: int) -> st.SearchStrategy[int]:
    """An int (checked now) or a strategy of ints (checked when drawn)."""
    if isinstance(value, st.SearchStrategy):

        def check(drawn: Any) -> int:
            return _int(f"a value drawn from {name}", drawn, min_value=min_value)

        return value.map(check)
    return st.just(_int(name, value, min_value=min_value))


def _names(name: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
        raise InvalidArgument(f"{name} must be a non-empty sequence of names from {allowed}; got {value!r}")
    for item in value:
        if item not in allowed:
            raise InvalidArgument(f"{name} must contain only names from {allowed}; got {item!r}")
    return tuple(dict.fromkeys(value))


# ---- class distributions --------------------------------------------------------------------


def _class_count_range(min_classes: int, max_classes: int, lo: float, hi: float) -> tuple[int, int]:
    """The numbers of classes K for which K entries in [lo, hi] can sum to 1."""
    k_lo = max(min_classes, math.ceil((1 - _SLACK) / Fraction(hi)))
    k_hi = max_classes if lo == 0 else min(max_classes, math.floor((1 + _SLACK) / Fraction(lo)))
    return k_lo, k_hi


def _fit_distribution(weights: list[float], lo: float, hi: float) -> np.ndarray:
    """Map non-negative weights to a distribution with entries in [lo, hi] summing to 1."""
    k = len(weights)
    w = np.asarray(weights, dtype=np.float64)
    total = float(np.sum(w))
    if not total > 0 or not math.isfinite(total):
        w, total = np.ones(k), float(k)
    p = lo + max(1.0 - k * lo, 0.0) * (w / total)
    for _ in range(k):  # water-filling: cap at hi, hand the excess to the others by headroom
        over = p > hi
        if not np.any(over):
            break
        excess = float(np.sum(p[over] - hi))
        p[over] = hi
        room = np.where(over, 0.0, hi - p)
        if not np.sum(room) > 0:
            break
        p = p + excess * room / np.sum(room)
    p = np.clip(p, lo, hi)
    # Exact normalisation: move the exact residual onto the smallest entry with room for it (the
    # finest floating-point spacing, so the rounding of the new entry is far below 2**-54).
    for _ in range(4 * k + 8):
        residual = 1 - sum((Fraction(x) for x in p.tolist()), Fraction(0))
        if abs(residual) <= _EXACT:
            break
        need = float(abs(residual))
        room = hi - p if residual > 0 else p - lo
        enough = np.flatnonzero(room >= need)
        i = int(enough[np.argmin(p[enough])]) if enough.size else int(np.argmax(room))
        if not room[i] > 0:
            break
        before = p[i]
        p[i] = min(max(p[i] + math.copysign(min(need, float(room[i])), residual), lo), hi)
        if p[i] == before:
            break
    return p


def class_distributions(
    *,
    min_classes: int = 1,
    max_classes: int = 20,
    max_probability: float | None = None,
    min_probability: float = 0.0,
) -> st.SearchStrategy[np.ndarray]:
    """Class distributions: 1-D float64 arrays of probabilities that sum to 1.

    Each array has ``K`` entries, ``min_classes <= K <= max_classes``, all in
    ``[min_probability, max_probability]``. The normalisation is exact, not approximate: the
    exact sum of the entries is within ``2**-54`` of 1, so ``math.fsum(p) == 1.0``. (The one
    exception: when the bounds force every entry to a bound ``b`` with ``K·b`` short of 1 by
    round-off, e.g. ``max_probability=1/49`` with ``K = 49``, the sum is within ``2**-53``.)
    Examples include uniform, one-hot (when ``min_probability`` is 0) and very skewed vectors,
    and shrink towards the uniform distribution over ``min_classes`` classes.

    Parameters
    ----------
    min_classes, max_classes : int, default 1 and 20
        The range of ``K``.
    max_probability : float, optional
        An upper bound on every probability, in ``(0, 1]`` (e.g. ``1/5`` for the paper's
        Theorem 3.1). It needs ``K >= 1/max_probability``, so smaller ``K`` are not drawn.
    min_probability : float, default 0.0
        A lower bound on every probability, in ``[0, 1]``; it needs
        ``K <= 1/min_probability``. Use a small positive value for strictly positive entries.

    Returns
    -------
    SearchStrategy[numpy.ndarray]

    Raises
    ------
    hypothesis.errors.InvalidArgument
        For a malformed argument, or bounds that no ``K`` in range can satisfy.

    Examples
    --------
    >>> import math
    >>> from hypothesis import given
    >>> @given(class_distributions(max_probability=1 / 5))
    ... def test(p):
    ...     assert p.size >= 5 and p.max() <= 1 / 5 and math.fsum(p) == 1.0
    >>> test()
    """
    min_classes = _int("min_classes", min_classes, min_value=1)
    max_classes = _int("max_classes", max_classes, min_value=1)
    if max_classes < min_classes:
        raise InvalidArgument(f"max_classes={max_classes} must be >= min_classes={min_classes}")
    lo = _real("min_probability", min_probability, min_value=0.0, max_value=1.0)
    if max_probability is None:
        hi = 1.0
    else:
        hi = _real("max_probability", max_probability, min_value=0.0, max_value=1.0)
        if hi == 0.0:
            raise InvalidArgument("max_probability must be > 0; got 0.0")
    if hi < lo:
        raise InvalidArgument(f"max_probability={hi!r} must be >= min_probability={lo!r}")
    k_lo, k_hi = _class_count_range(min_classes, max_classes, lo, hi)
    if k_lo > k_hi:
        raise InvalidArgument(
            f"no distribution over {min_classes} to {max_classes} classes has every probability "
            f"in [{lo!r}, {hi!r}]: that needs at least {math.ceil((1 - _SLACK) / Fraction(hi))} "
            "classes" + (f" and at most {math.floor((1 + _SLACK) / Fraction(lo))}" if lo else "")
        )

    @st.composite
    def draw_distribution(draw: st.DrawFn) -> np.ndarray:
        k = draw(st.integers(k_lo, k_hi))
        weights = draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k))
        return _fit_distribution(weights, lo, hi)

    return draw_distribution()


# ---- labels and latents ---------------------------------------------------------------------


def label_arrays(
    *,
    num_classes: int | st.SearchStrategy[int] | None = None,
    min_size: int = 1,
    max_size: int = 100,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of class labels: 1-D ``np.int64`` arrays with values in ``[0, num_classes)``.

    Parameters
    ----------
    num_classes : int or SearchStrategy of int, optional
        The number of classes, ``>= 1``; by default drawn from ``integers(1, 20)``. Pass an int
        when the test needs to know it.
    min_size, max_size : int, default 1 and 100
        The range of the array length (``min_size=0`` allows empty arrays).

    Returns
    -------
    SearchStrategy[numpy.ndarray]

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(label_arrays(num_classes=3, max_size=10))
    ... def test(labels):
    ...     assert labels.dtype == np.int64 and set(labels.tolist()) <= {0, 1, 2}
    >>> test()
    """
    counts = st.integers(1, 20) if num_classes is None else _count_strategy("num_classes", num_classes, min_value=1)
    min_size, max_size = _sizes(min_size, max_size)

    def arrays(k: int) -> st.SearchStrategy[np.ndarray]:
        return hnp.arrays(np.int64, st.integers(min_size, max_size), elements=st.integers(0, k - 1))

    return counts.flatmap(arrays)


def latent_batches(
    *,
    latent_dim: int | st.SearchStrategy[int] | None = None,
    min_size: int = 1,
    max_size: int = 64,
    dtype: Any = np.float64,
    min_value: float = -8.0,
    max_value: float = 8.0,
) -> st.SearchStrategy[np.ndarray]:
    """Batches of latent points: finite float arrays of shape ``(n, d)``.

    Parameters
    ----------
    latent_dim : int or SearchStrategy of int, optional
        ``d >= 1``; by default drawn from ``integers(1, 16)``.
    min_size, max_size : int, default 1 and 64
        The range of the batch size ``n``.
    dtype : numpy float dtype, default numpy.float64
        ``numpy.float32`` or ``numpy.float64``.
    min_value, max_value : float, default -8.0 and 8.0
        Finite bounds on every coordinate. The default covers ``N(0, 1)`` latents with room to
        spare; edge cases such as all-zero rows and repeated rows are drawn too.

    Returns
    -------
    SearchStrategy[numpy.ndarray]

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(latent_batches(latent_dim=3, dtype=np.float32))
    ... def test(z):
    ...     assert z.ndim == 2 and z.shape[1] == 3 and z.dtype == np.float32
    >>> test()
    """
    dims = st.integers(1, 16) if latent_dim is None else _count_strategy("latent_dim", latent_dim, min_value=1)
    min_size, max_size = _sizes(min_size, max_size)
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise InvalidArgument(f"dtype must be numpy.float32 or numpy.float64; got {dtype!r}") from error
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InvalidArgument(f"dtype must be numpy.float32 or numpy.float64; got {dtype!r}")
    big = float(np.finfo(dtype).max)
    min_value = _real("min_value", min_value, min_value=-big, max_value=big)
    max_value = _real("max_value", max_value, min_value=-big, max_value=big)
    if max_value < min_value:
        raise InvalidArgument(f"max_value={max_value!r} must be >= min_value={min_value!r}")
    width = 32 if dtype == np.float32 else 64
    if width == 32 and (float(np.float32(min_value)) != min_value or float(np.float32(max_value)) != max_value):
        raise InvalidArgument("min_value and max_value must be exactly representable in float32")
    elements = st.floats(min_value, max_value, width=width, allow_nan=False, allow_infinity=False)

    def arrays(d: int) -> st.SearchStrategy[np.ndarray]:
        shapes = st.integers(min_size, max_size).map(lambda n: (n, d))
        return hnp.arrays(dtype, shapes, elements=elements)

    return dims.flatmap(arrays)


# ---- testbeds --------------------------------------------------------------------------------


def testbeds(
    *,
    latent_dims: int | st.SearchStrategy[int] | None = None,  # noqa: PT028 (not a test)
    kinds: Sequence[str] = TESTBED_KINDS,  # noqa: PT028
    wrappers: Sequence[str] = TESTBED_WRAPPERS,  # noqa: PT028
) -> st.SearchStrategy[Testbed]:
    """Exact class-radius testbeds (:mod:`genloose.testing.testbeds`) with random parameters.

    Parameters drawn per kind: a half-space's offset (``|b| <= 3``) and normal (any direction,
    norm 0.1 to 10); ``K`` from 2 to 12 sectors in a random coordinate plane; one to three
    spheres with radii up to about ``sqrt(d) + 6``; a grid of half-width 1 to 3 and scale 0.25 to
    4. The wrapper is drawn from ``wrappers``: none, an invertible nonlinear wrapper into up to
    ``3d`` image coordinates, or a logit scale from ``1e-3`` to ``1e3``.

    Parameters
    ----------
    latent_dims : int or SearchStrategy of int, optional
        The latent dimension, by default drawn from ``integers(2, 16)``. ``d = 1`` is allowed
        only when ``kinds`` has a kind that supports it (half-spaces and spheres).
    kinds : sequence of str, default TESTBED_KINDS
        The kinds to draw from (``"halfspace"``, ``"sectors"``, ``"spheres"``,
        ``"grid_voronoi"``).
    wrappers : sequence of str, default TESTBED_WRAPPERS
        The wrappers to draw from (``"none"``, ``"invertible"``, ``"logit_scale"``).

    Returns
    -------
    SearchStrategy[Testbed]

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(testbeds(kinds=["sectors"], wrappers=["none"]))
    ... def test(tb):
    ...     z = np.zeros((1, tb.latent_dim))
    ...     assert tb.exact_radius(z)[0] == 0.0  # the origin is on every sector boundary
    >>> test()
    """
    dims = st.integers(2, 16) if latent_dims is None else _count_strategy("latent_dims", latent_dims, min_value=1)
    kinds = _names("kinds", kinds, TESTBED_KINDS)
    wrappers = _names("wrappers", wrappers, TESTBED_WRAPPERS)
    one_dimensional = [k for k in kinds if k in ("halfspace", "spheres")]
    if isinstance(latent_dims, numbers.Integral) and latent_dims == 1 and not one_dimensional:
        raise InvalidArgument(f"kinds={kinds!r} has no kind that supports latent_dims=1")

    @st.composite
    def draw_testbed(draw: st.DrawFn) -> Testbed:
        d = draw(dims)
        allowed = kinds if d >= 2 else tuple(one_dimensional)
        if not allowed:
            raise InvalidArgument(f"kinds={kinds!r} has no kind that supports latent dimension 1")
        kind = draw(st.sampled_from(allowed))
        seed = draw(st.integers(0, 2**32 - 1))
        if kind == "halfspace":
            direction = np.random.default_rng(seed).standard_normal(d)
            length = draw(st.floats(0.1, 10.0))
            normal = length * direction / np.linalg.norm(direction)
            tb: Testbed = halfspace(d, offset=draw(st.floats(-3.0, 3.0)), normal=normal)
        elif kind == "sectors":
            plane = draw(st.lists(st.integers(0, d - 1), min_size=2, max_size=2, unique=True))
            tb = sectors(d, draw(st.integers(2, 12)), plane=tuple(plane))
        elif kind == "spheres":
            first = draw(st.floats(0.1, math.sqrt(d) + 2.0))
            gaps = draw(st.lists(st.floats(0.05, 2.0), min_size=0, max_size=2))
            tb = spheres(d, first + np.concatenate(([0.0], np.cumsum(gaps))))
        else:
            tb = grid_voronoi(d, n=draw(st.integers(1, 3)), scale=draw(st.floats(0.25, 4.0)), seed=seed)
        wrapper = draw(st.sampled_from(wrappers))
        if wrapper == "invertible":
            extra = draw(st.integers(0, 2 * d))
            tb = invertible_wrapper(tb, image_shape=d + extra, seed=seed)
        elif wrapper == "logit_scale":
            tb = with_logit_scale(tb, draw(st.floats(1e-3, 1e3)))
        return tb

    return draw_testbed()


testbeds.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever pytest's prefix says
