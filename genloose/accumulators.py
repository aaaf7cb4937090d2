"""Streaming, mergeable accumulators for evaluation loops, and :func:`merge_states` for map-reduce.

An accumulator is updated batch by batch (``update``), gives its estimate at any time (``compute``), and
its whole state is a small dict of *sums* (``state_dict``): counts, :math:`\\sum x`, :math:`\\sum x^2`.
So shards merge by addition, in any order and grouping, with the empty state as identity:

* :class:`CollisionAccumulator`: class counts of labels -> collision probability, collision entropy and
  effective number of classes (the streaming form of :mod:`genloose.metrics.collision`);
* :class:`RadiusAccumulator`: per-point radii (or :class:`~genloose.RadiusResult`\\ s) -> the class-radius
  estimate, censored points counted.

:func:`merge_states` adds two state dicts without any accumulator object, so a Ray or Dask map-reduce
(or a hand-rolled multiprocessing pool) needs nothing but this function; with torch.distributed use
:func:`genloose.distributed.all_reduce_state`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import as_numpy, check_confidence, describe, is_tensor
from genloose.estimate import Estimate
from genloose.metrics._state import SumState
from genloose.metrics.collision import (
    CollisionCounter,
    Method,
    collision_entropy_from_counts,
    effective_number_of_classes_from_counts,
)
from genloose.metrics.radius.aggregate import censored_mean

__all__ = ["CollisionAccumulator", "RadiusAccumulator", "merge_states"]


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, np.generic)) or is_tensor(value)


def _as_numpy(value: Any, name: str = "states") -> np.ndarray:
    return np.asarray(as_numpy(value, name) if is_tensor(value) else value)


def _merge_value(key: str, a: Any, b: Any) -> Any:
    if _is_array(a) and _is_array(b):
        x, y = _as_numpy(a), _as_numpy(b)
        if x.dtype.kind not in "iuf" or y.dtype.kind not in "iuf":
            raise InvalidArgumentError(f"states[{key!r}] must be numeric arrays; got {describe(a)} and {describe(b)}")
        if x.shape != y.shape:
            if x.ndim != 1 or y.ndim != 1:
                raise InvalidArgumentError(
                    f"states[{key!r}] must have equal shapes, or be 1-D count arrays; got {describe(a)} and "
                    f"{describe(b)}"
                )
            width = max(x.shape[0], y.shape[0])  # class counts of different lengths: pad with zeros
            x = np.pad(x, (0, width - x.shape[0]))
            y = np.pad(y, (0, width - y.shape[0]))
        return np.asarray(x + y)
    if _is_array(a) or _is_array(b):
        raise InvalidArgumentError(
            f"states[{key!r}] must be arrays in both states or options in both; got {describe(a)} and {describe(b)}"
        )
    if a != b:  # an option (num_classes, confidence): must agree
        raise InvalidArgumentError(f"states must have the same options to merge; got {key}={a!r} and {key}={b!r}")
    return a


def merge_states(*states: Any) -> Any:
    """Merge accumulator states by addition: state dicts, or accumulator objects; inputs are unchanged.

    States hold sums, so the merge is associative and commutative (exactly for counts, up to
    floating-point rounding for sums of floats), and the state of an empty accumulator is its identity.

    * State dicts (``state_dict()``, e.g. shipped from Ray or Dask workers): entries that are numpy arrays
      (or torch tensors) are added, 1-D count arrays of different lengths zero-padded; every other entry
      is an option (``num_classes``, ``confidence``) and must be equal. Returns a new dict.
    * Accumulator objects (:class:`RadiusAccumulator`, :class:`CollisionAccumulator`, any
      :class:`~genloose.metrics.collision.CollisionCounter`): returns a new accumulator (left fold of
      ``merge``).

    Parameters
    ----------
    *states : dict or accumulator
        At least one, all of the same kind.

    Returns
    -------
    dict or accumulator
        Of the kind given.

    Raises
    ------
    InvalidArgumentError
        No state, mixed kinds, different keys or options, or a value that is neither.

    Examples
    --------
    >>> left, right = RadiusAccumulator(), RadiusAccumulator()
    >>> left.update([1.0, 2.0])
    >>> right.update([3.0])
    >>> merged = merge_states(left.state_dict(), right.state_dict())
    >>> int(merged["count"]), float(merged["sum"])
    (3, 6.0)
    >>> RadiusAccumulator.from_state_dict(merged).compute().value
    2.0
    >>> merge_states(left, right).compute().value
    2.0
    """
    from genloose.metrics._state import SumState

    if not states:
        raise InvalidArgumentError("states must hold at least one state to merge; got 0 state(s)")
    if all(isinstance(state, SumState) for state in states):
        total = states[0].copy()
        for state in states[1:]:
            total = total.merge(state)
        return total
    for i, state in enumerate(states):
        if not isinstance(state, Mapping):
            raise InvalidArgumentError(
                f"states[{i}] must be a state dict (a mapping) or an accumulator, all of one kind; got "
                f"{describe(state)}"
            )
    first = states[0]
    for state in states[1:]:
        if set(state) != set(first):
            raise InvalidArgumentError(
                f"states must come from the same kind of accumulator (same keys); got keys {sorted(first)} "
                f"and {sorted(state)}"
            )
    kind = _state_kind(first)
    for i, state in enumerate(states):
        _check_state_dict(kind, state, f"states[{i}]")
    total = dict(first)
    for state in states[1:]:
        total = {key: _merge_value(key, total[key], state[key]) for key in first}
    if len(states) == 1:
        total = {key: (_as_numpy(v).copy() if _is_array(v) else v) for key, v in first.items()}
    _check_state_dict(kind, total, "states (merged)")
    return total


def _state_kind(state: Mapping[str, Any]) -> type[SumState] | None:
    """The accumulator whose ``state_dict()`` has the keys of ``state`` (None for another kind of state)."""
    for kind in (RadiusAccumulator, CollisionAccumulator):
        if set(state) == {*kind._fields, *kind._options}:
            return kind
    return None


def _check_state_dict(kind: type[SumState] | None, state: Mapping[str, Any], name: str) -> None:
    """Refuse a state its accumulator would refuse (negative counts, n not the sum of the counts, NaN sums)."""
    if kind is None:
        return
    try:
        kind.from_state_dict(state)
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{name} must be a valid {kind.__name__} state; {error}") from error


class RadiusAccumulator(SumState):
    r"""Streaming mean of per-point class radii, for evaluation loops and sharded runs.

    The state is four sums (0-d numpy arrays): ``count`` (uncensored points, int64), ``sum``
    (:math:`\sum r_i`, float64), ``sum_sq`` (:math:`\sum r_i^2`, float64) and ``censored`` (points with no
    witness, given as ``inf`` radii, int64); plus the option ``confidence``.

    .. math:: \bar r = \frac{S_1}{m}, \qquad s^2 = \frac{S_2 - S_1^2 / m}{m - 1}, \qquad
              \mathrm{se} = s / \sqrt{m}

    Parameters
    ----------
    confidence : float, default 0.95
        Level of the Wald interval of :meth:`compute`.

    Notes
    -----
    Censored points are excluded from the mean and counted, as :func:`genloose.class_radius` does. The
    variance from sums loses relative precision :math:`\approx \epsilon\,\bar r^2 / s^2`, negligible for
    radii (coefficient of variation near 0.75). The estimate equals that of a :class:`~genloose.RadiusResult`
    over the same points up to floating-point rounding. The class radius is Definition 2.5 of Manoj (2018).

    Examples
    --------
    >>> import numpy as np
    >>> acc = RadiusAccumulator()
    >>> acc.update(np.array([0.5, 1.0, np.inf]))   # inf: censored
    >>> acc.update([1.5])
    >>> estimate = acc.compute()
    >>> estimate.value, estimate.n, acc.censored
    (1.0, 3, 1)
    """

    _fields = ("count", "sum", "sum_sq", "censored")
    _options = ("confidence",)

    def __init__(self, confidence: float = 0.95) -> None:
        self.confidence = check_confidence(confidence)
        super().__init__()

    def _empty_state(self) -> dict[str, np.ndarray]:
        return {
            "count": np.zeros((), dtype=np.int64),
            "sum": np.zeros((), dtype=np.float64),
            "sum_sq": np.zeros((), dtype=np.float64),
            "censored": np.zeros((), dtype=np.int64),
        }

    def _check_state(self, state: dict[str, np.ndarray]) -> None:
        for name in ("count", "censored", "sum", "sum_sq"):
            value = float(state[name])
            if not value >= 0 or math.isinf(value):
                raise InvalidArgumentError(f"state[{name!r}] must be finite and non-negative; got {value!r}")

    @property
    def count(self) -> int:
        """Uncensored points seen."""
        return int(self._state["count"])

    @property
    def censored(self) -> int:
        """Censored points seen."""
        return int(self._state["censored"])

    def update(self, radii: Any) -> None:
        """Add a batch: an array of radii (``inf`` for censored points) or a :class:`~genloose.RadiusResult`.

        An empty batch changes nothing.

        Raises
        ------
        InvalidArgumentError
            NaN or negative radii, or input that is not a 1-D array of numbers.
        """
        from genloose.metrics.radius.result import RadiusResult

        if isinstance(radii, RadiusResult):
            values = np.where(radii.censored, np.inf, radii.radii).astype(np.float64)
        else:
            if is_tensor(radii):
                radii = as_numpy(radii, "radii")
            if isinstance(radii, (str, bytes)) or not isinstance(radii, (np.ndarray, list, tuple)):
                raise InvalidArgumentError(
                    f"radii must be a 1-D array of radii or a RadiusResult; got {describe(radii)}"
                )
            values = np.asarray(radii)
            if values.ndim != 1 or (values.size and values.dtype.kind not in "fiu"):
                raise InvalidArgumentError(f"radii must be a 1-D array of numbers; got {describe(radii)}")
            values = values.astype(np.float64)
        if np.isnan(values).any():
            raise InvalidArgumentError(
                f"radii must not be NaN (use inf for censored points); got {int(np.isnan(values).sum())} NaN(s)"
            )
        if (values < 0).any():
            raise InvalidArgumentError(f"radii must be >= 0; got minimum {float(values.min())!r}")
        finite = values[np.isfinite(values)]
        state = self._state
        with np.errstate(over="ignore"):
            new = {
                "count": np.asarray(state["count"] + np.int64(finite.size)),
                "sum": np.asarray(state["sum"] + np.float64(finite.sum())),
                "sum_sq": np.asarray(state["sum_sq"] + np.float64(np.dot(finite, finite))),
                "censored": np.asarray(state["censored"] + np.int64(values.size - finite.size)),
            }
        if not (np.isfinite(new["sum"]) and np.isfinite(new["sum_sq"])):
            raise InvalidArgumentError(
                "radii must be small enough that the sum of their squares stays finite in float64 (about 1e150 "
                f"at most); got a maximum finite radius {float(finite.max())!r}, the state is unchanged"
            )
        self._state = new

    def compute(self) -> Estimate:
        """The mean radius over uncensored points with its Monte Carlo Wald interval (idempotent).

        Only censored points give NaN with an :class:`~genloose.UndefinedMetricWarning`; one point gives the
        value with a NaN standard error and interval.

        Raises
        ------
        InvalidArgumentError
            If no radius was seen at all.
        """
        m, censored = self.count, self.censored
        if m + censored == 0:
            raise InvalidArgumentError(
                "RadiusAccumulator must have seen at least one radius before compute(); got 0 sample(s)"
            )
        total, total_sq = float(self._state["sum"]), float(self._state["sum_sq"])

        def moments() -> tuple[float, float]:
            mean = total / m
            variance = max(0.0, (total_sq - total * mean) / (m - 1)) if m > 1 else math.nan
            return mean, math.sqrt(variance / m)

        return censored_mean(
            m,
            m + censored,
            self.confidence,
            moments,
            undefined="RadiusAccumulator: every radius is censored; the estimate is NaN",
            stacklevel=2,
        )


class CollisionAccumulator(CollisionCounter):
    """Streaming class counts -> collision probability, collision entropy, effective number of classes.

    :class:`~genloose.metrics.collision.CollisionCounter` (whose state is the class counts and ``n``,
    merged by addition) with the two derived measures added; :meth:`compute` is the collision
    probability. Each method equals the ``*_from_counts`` function of :mod:`genloose.metrics.collision`
    on all the labels seen.

    Parameters
    ----------
    num_classes : int, optional
        If given, the counts have this length and larger labels are refused.

    Examples
    --------
    >>> acc = CollisionAccumulator()
    >>> acc.update([0, 0, 1])
    >>> acc.update([1, 2])
    >>> round(acc.compute().value, 4), round(acc.effective_number_of_classes().value, 4)  # 4/20
    (0.2, 5.0)
    """

    def collision_entropy(self, *, method: Method = "unbiased", confidence: float = 0.95) -> Estimate:
        r""":math:`-\log\|p\|_2^2` of the labels seen
        (:func:`~genloose.metrics.collision.collision_entropy_from_counts`)."""
        self._require_samples()
        return collision_entropy_from_counts(self.counts, method=method, confidence=confidence)

    def effective_number_of_classes(self, *, method: Method = "unbiased", confidence: float = 0.95) -> Estimate:
        r""":math:`1/\|p\|_2^2` of the labels seen
        (:func:`~genloose.metrics.collision.effective_number_of_classes_from_counts`)."""
        self._require_samples()
        return effective_number_of_classes_from_counts(self.counts, method=method, confidence=confidence)

    def _require_samples(self) -> None:
        if self.n == 0:
            raise InvalidArgumentError(
                "CollisionAccumulator must have seen at least one label before compute(); got 0 sample(s)"
            )
