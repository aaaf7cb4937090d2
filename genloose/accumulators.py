"""Streaming, mergeable accumulators for evaluation loops, and :func:`merge_states` for map-reduce.

An accumulator is updated batch by batch (``update``), gives its estimate at any time (``compute``), and
its whole state is a small dict of *sums* (``state_dict``): counts, :math:`\\sum x`, :math:`\\sum x^2`.
So shards merge by addition, in any order and grouping, with the empty state as identity:

* :class:`CollisionAccumulator`: class counts of labels -> collision probability, collision entropy and
  effective number of classes (the streaming form of :mod:`genloose.metrics.collision`);
* :class:`RadiusAccumulator`: per-point radii (or :class:`~genloose.RadiusResult`\\ s) -> the class-radius
  estimate, censored points counted.

:func:`merge_states` (the one merge, defined with the state base class in :mod:`genloose.metrics._state`
and re-exported here) adds two state dicts without any accumulator object, so a Ray or Dask map-reduce
(or a hand-rolled multiprocessing pool) needs nothing but this function; with torch.distributed use
:func:`genloose.distributed.all_reduce_state`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import as_numpy, check_confidence, describe, is_tensor
from genloose.estimate import Estimate
from genloose.metrics._state import SumState, merge_states
from genloose.metrics.collision import (
    CollisionCounter,
    Method,
    collision_entropy_from_counts,
    effective_number_of_classes_from_counts,
)
from genloose.metrics.radius.aggregate import censored_mean

__all__ = ["CollisionAccumulator", "RadiusAccumulator", "merge_states"]


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


class _Unset:
    """The default of a deprecated keyword: tells 'not given' from any value a user can pass."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


class CollisionAccumulator(CollisionCounter):
    """Streaming class counts -> collision probability, collision entropy, effective number of classes.

    :class:`~genloose.metrics.collision.CollisionCounter` (whose state is the class counts and ``n``,
    merged by addition) with the two derived measures added; :meth:`compute` is the collision
    probability. Each method equals the ``*_from_counts`` function of :mod:`genloose.metrics.collision`
    on all the labels seen, at the accumulator's ``confidence``.

    Parameters
    ----------
    num_classes : int, optional
        If given, the counts have this length and larger labels are refused.
    confidence : float, default 0.95
        Level of the Wald intervals of :meth:`compute`, :meth:`collision_entropy` and
        :meth:`effective_number_of_classes`: a setting of the accumulator, given to its constructor as
        for :class:`RadiusAccumulator` (and torchmetrics' metrics). It is an option of the state, as
        ``num_classes`` is: :meth:`merge` refuses accumulators built with another level.

    Notes
    -----
    Passing ``confidence=`` to :meth:`compute`, :meth:`collision_entropy` or
    :meth:`effective_number_of_classes` is deprecated: it still gives the interval at that level, with a
    :class:`DeprecationWarning` that says to pass it to the constructor.

    Examples
    --------
    >>> acc = CollisionAccumulator(confidence=0.9)
    >>> acc.update([0, 0, 1])
    >>> acc.update([1, 2])
    >>> round(acc.compute().value, 4), round(acc.effective_number_of_classes().value, 4)  # 4/20
    (0.2, 5.0)
    >>> acc.compute().confidence
    0.9
    """

    _options = ("num_classes", "confidence")

    def __init__(self, num_classes: int | None = None, *, confidence: float = 0.95) -> None:
        self.confidence = check_confidence(confidence)
        super().__init__(num_classes)

    def _confidence(self, method_name: str, confidence: Any) -> float:
        if confidence is _UNSET:
            return self.confidence
        warnings.warn(
            f"CollisionAccumulator.{method_name}(confidence=...) is deprecated: pass confidence to the "
            f"constructor, CollisionAccumulator(confidence={confidence!r}), as for RadiusAccumulator; "
            f"this call uses confidence={confidence!r} instead of the accumulator's {self.confidence!r}",
            DeprecationWarning,
            stacklevel=3,
        )
        return check_confidence(confidence)

    def compute(self, *, method: Method = "unbiased", confidence: float = _UNSET) -> Estimate:
        """The collision probability of all labels seen, at the accumulator's ``confidence``.

        As :func:`~genloose.metrics.collision.collision_probability_from_counts`; leaves the state
        unchanged. ``confidence=`` here is deprecated (see the class notes).

        Raises
        ------
        InvalidArgumentError
            If no label was seen.
        """
        return super().compute(method=method, confidence=self._confidence("compute", confidence))

    def collision_entropy(self, *, method: Method = "unbiased", confidence: float = _UNSET) -> Estimate:
        r""":math:`-\log\|p\|_2^2` of the labels seen
        (:func:`~genloose.metrics.collision.collision_entropy_from_counts`), at the accumulator's ``confidence``."""
        confidence = self._confidence("collision_entropy", confidence)
        self._require_samples()
        return collision_entropy_from_counts(self.counts, method=method, confidence=confidence)

    def effective_number_of_classes(self, *, method: Method = "unbiased", confidence: float = _UNSET) -> Estimate:
        r""":math:`1/\|p\|_2^2` of the labels seen
        (:func:`~genloose.metrics.collision.effective_number_of_classes_from_counts`), at the accumulator's
        ``confidence``."""
        confidence = self._confidence("effective_number_of_classes", confidence)
        self._require_samples()
        return effective_number_of_classes_from_counts(self.counts, method=method, confidence=confidence)

    def _require_samples(self) -> None:
        if self.n == 0:
            raise InvalidArgumentError(
                "CollisionAccumulator must have seen at least one label before compute(); got 0 sample(s)"
            )
