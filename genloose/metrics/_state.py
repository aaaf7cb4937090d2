"""A small base class for mergeable metric states whose fields are sums.

A *sum state* holds named ``int64`` / ``float64`` numpy arrays (counts, Σx, Σx², ...) that combine
across shards by elementwise addition. Addition makes merging associative and commutative, with the
empty state as its identity, which is what ``torch.distributed`` all-reduce (``SUM``) and Ray/Dask
map-reduce need. 1-D fields may differ in length between shards (a count vector that grows when a
larger label appears); they are padded with zeros at the end before adding.

Subclasses declare ``_fields`` (the array names), ``_options`` (constructor options that must agree
for two states to merge, also stored in :meth:`SumState.state_dict`), implement ``_empty_state``
and may override ``_check_state`` to enforce their invariants.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import reduce
from typing import Any, ClassVar, Self, TypeVar

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import describe

__all__ = ["SumState", "merge_states"]

_SUM_DTYPES = (np.dtype(np.int64), np.dtype(np.float64))
_S = TypeVar("_S", bound="SumState")


class SumState:
    """Base class of states made of named arrays that merge by addition.

    Examples
    --------
    >>> class Total(SumState):
    ...     _fields = ("total",)
    ...     def _empty_state(self):
    ...         return {"total": np.zeros((), dtype=np.int64)}
    ...     def update(self, x):
    ...         self._state["total"] = self._state["total"] + int(x)
    >>> a, b = Total(), Total()
    >>> a.update(2); b.update(3)
    >>> int(a.merge(b).state_dict()["total"]), int(a.state_dict()["total"])
    (5, 2)
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    _options: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._state: dict[str, np.ndarray] = self._empty_state()

    # ----------------------------------------------------------------- to override
    def _empty_state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _check_state(self, state: dict[str, np.ndarray]) -> None:
        """Raise :class:`InvalidArgumentError` if ``state`` breaks an invariant of the subclass."""

    # ----------------------------------------------------------------- generic part
    def reset(self) -> None:
        """Return to the empty state (the identity of :meth:`merge`)."""
        self._state = self._empty_state()

    def copy(self) -> Self:
        """An independent copy."""
        return copy.deepcopy(self)

    def _option_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._options}

    def merge(self, other: Self) -> Self:
        """A new state holding the sum of ``self`` and ``other``; both inputs are left unchanged.

        Raises :class:`InvalidArgumentError` if ``other`` is of another type or was built with
        other options.
        """
        if type(other) is not type(self):
            raise InvalidArgumentError(f"other must be a {type(self).__name__} to merge with; got {describe(other)}")
        if other._option_values() != self._option_values():
            raise InvalidArgumentError(
                f"other must have the same options to merge; got {other._option_values()} and {self._option_values()}"
            )
        result = self.copy()
        result._state = {name: _add(self._state[name], other._state[name], name) for name in self._fields}
        self._check_state(result._state)
        return result

    def state_dict(self) -> dict[str, Any]:
        """The state as a plain dict: copies of the arrays plus the options.

        The arrays are sums (``int64`` or ``float64``), so shards combine by adding them.
        """
        out: dict[str, Any] = dict(self._option_values())
        out.update({name: self._state[name].copy() for name in self._fields})
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the state by ``state`` (as returned by :meth:`state_dict`), after checking it."""
        if not isinstance(state, Mapping):
            raise InvalidArgumentError(f"state must be a mapping; got {describe(state)}")
        expected = set(self._fields) | set(self._options)
        if set(state) != expected:
            raise InvalidArgumentError(
                f"state must have exactly the keys {sorted(expected)}; got {sorted(map(str, state))}"
            )
        options = {name: state[name] for name in self._options}
        if options != self._option_values():
            raise InvalidArgumentError(
                f"state must have the options of this {type(self).__name__} {self._option_values()}; got {options}"
            )
        empty = self._empty_state()
        new: dict[str, np.ndarray] = {}
        for name in self._fields:
            value = np.asarray(state[name])
            if value.dtype != empty[name].dtype or value.ndim != empty[name].ndim:
                raise InvalidArgumentError(
                    f"state[{name!r}] must be a {empty[name].ndim}-D array of dtype "
                    f"{empty[name].dtype}; got {describe(value)}"
                )
            new[name] = value.copy()
        self._check_state(new)
        self._state = new

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> Self:
        """Build a new state from the output of :meth:`state_dict`."""
        if not isinstance(state, Mapping):
            raise InvalidArgumentError(f"state must be a mapping; got {describe(state)}")
        missing = [name for name in cls._options if name not in state]
        if missing:
            raise InvalidArgumentError(f"state must have the keys {missing}; they are missing")
        result = cls(**{name: state[name] for name in cls._options})
        result.load_state_dict(state)
        return result

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._option_values() == other._option_values() and all(
            self._state[name].shape == other._state[name].shape
            and bool(np.array_equal(self._state[name], other._state[name]))
            for name in self._fields
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._option_values().items())
        fields = ", ".join(f"{k}={self._state[k].tolist()!r}" for k in self._fields)
        return f"{type(self).__name__}({options}; {fields})"


def _add(a: np.ndarray, b: np.ndarray, name: str) -> np.ndarray:
    if a.dtype not in _SUM_DTYPES or a.dtype != b.dtype:
        raise InvalidArgumentError(
            f"state field {name!r} must be int64 or float64 on both sides; got {a.dtype} and {b.dtype}"
        )
    if a.shape != b.shape:
        if a.ndim != 1 or b.ndim != 1:
            raise InvalidArgumentError(
                f"state field {name!r} must have equal shapes to merge; got {a.shape} and {b.shape}"
            )
        size = max(a.size, b.size)
        a = np.pad(a, (0, size - a.size))
        b = np.pad(b, (0, size - b.size))
    return a + b


def merge_states(*states: _S) -> _S:
    """Merge any number of states of one type into a new one (left fold of :meth:`SumState.merge`).

    Examples
    --------
    >>> from genloose.metrics.collision import CollisionCounter
    >>> a, b, c = CollisionCounter(), CollisionCounter(), CollisionCounter()
    >>> a.update([0, 1]); b.update([1]); c.update([2, 2])
    >>> merge_states(a, b, c).counts.tolist()
    [1, 2, 2]
    """
    if not states:
        raise InvalidArgumentError("states must hold at least one state to merge; got 0 state(s)")
    first = states[0]
    if not callable(getattr(first, "merge", None)) or not callable(getattr(first, "copy", None)):
        raise InvalidArgumentError(f"states must be mergeable states (SumState objects); got {describe(first)}")
    return reduce(lambda acc, s: acc.merge(s), states[1:], first.copy())
