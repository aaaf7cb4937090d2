"""The :class:`Estimate` result type: a value with its standard error and confidence interval."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from scipy.special import ndtri

from genloose._validation import check_confidence, check_float, check_int

__all__ = ["Estimate", "normal_quantile"]


def _is_nan(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isnan(value)


def normal_quantile(confidence: float) -> float:
    """The two-sided standard normal critical value for a confidence level.

    Examples
    --------
    >>> round(normal_quantile(0.95), 4)
    1.96
    """
    confidence = check_confidence(confidence)
    # from the upper tail: 1 - confidence keeps its digits where 0.5 + confidence / 2 would round to 1 (inf)
    return float(-ndtri((1.0 - confidence) / 2.0))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its uncertainty.

    Attributes
    ----------
    value : float
        The estimate.
    stderr : float
        Its standard error (NaN when undefined, e.g. for fewer than two samples).
    ci_low, ci_high : float
        The confidence interval at level ``confidence``.
    confidence : float
        The nominal coverage of ``[ci_low, ci_high]``.
    n : int
        The number of samples the estimate is built on.
    method : str
        How value and interval were computed (e.g. ``"u-statistic, wald"``).

    Examples
    --------
    >>> e = Estimate(value=0.5, stderr=0.1, ci_low=0.3, ci_high=0.7, confidence=0.95, n=100,
    ...              method="example")
    >>> e.contains(0.6)
    True
    >>> e.transform(lambda x: 2 * x, increasing=True).ci_high
    1.4
    """

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    method: str

    @classmethod
    def from_normal(cls, value: float, stderr: float, *, n: int, confidence: float, method: str) -> Estimate:
        """A Wald interval ``value ± z·stderr``.

        Examples
        --------
        >>> Estimate.from_normal(1.0, 0.5, n=10, confidence=0.95, method="mean").ci_low
        0.020...

        ``value`` must be a real number (NaN allowed: an undefined estimate) and ``stderr`` a non-negative one
        (NaN allowed: unknown; then the interval is NaN too); anything else raises
        :class:`~genloose.InvalidArgumentError`.
        """
        value = check_float("value", value, allow_inf=True) if not _is_nan(value) else math.nan
        stderr = check_float("stderr", stderr, min_value=0.0, allow_inf=True) if not _is_nan(stderr) else math.nan
        n = check_int("n", n, min_value=0)
        half = normal_quantile(confidence) * stderr if stderr else 0.0
        return cls(
            float(value),
            float(stderr),
            float(value - half),
            float(value + half),
            float(confidence),
            int(n),
            method,
        )

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in the closed interval ``[ci_low, ci_high]``."""
        return bool(self.ci_low <= x <= self.ci_high)

    def transform(
        self,
        fn: Callable[[float], float],
        *,
        increasing: bool,
        derivative: Callable[[float], float] | None = None,
        method: str | None = None,
    ) -> Estimate:
        """Map the estimate through a monotone function.

        The interval endpoints are mapped through ``fn`` (swapped if it is decreasing), which keeps
        the coverage of the interval exactly. The standard error is propagated with the delta
        method when ``derivative`` is given, and is NaN otherwise.
        """
        low, high = fn(self.ci_low), fn(self.ci_high)
        if not increasing:
            low, high = high, low
        stderr = abs(derivative(self.value)) * self.stderr if derivative is not None else math.nan
        return replace(
            self,
            value=float(fn(self.value)),
            stderr=float(stderr),
            ci_low=float(low),
            ci_high=float(high),
            method=method if method is not None else self.method,
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict with snake_case keys."""
        return asdict(self)

    def __str__(self) -> str:
        level = f"{100 * self.confidence:g}%"
        return (
            f"{self.value:.6g} ± {self.stderr:.3g} "
            f"({level} CI [{self.ci_low:.6g}, {self.ci_high:.6g}], n={self.n}, {self.method})"
        )
