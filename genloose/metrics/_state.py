"""Streaming states: the base class of mergeable metric states whose fields are sums, and the one merge.

A *sum state* holds named ``int64`` / ``float64`` numpy arrays (counts, Σx, Σx², ...) that combine
across shards by elementwise addition. Addition makes merging associative and commutative, with the
empty state as its identity, which is what ``torch.distributed`` all-reduce (``SUM``) and Ray/Dask
map-reduce need. 1-D fields may differ in length between shards (a count vector that grows when a
larger label appears); they are padded with zeros at the end before adding.

Subclasses declare ``_fields`` (the array names), ``_options`` (constructor options that must agree
for two states to merge, also stored in :meth:`SumState.state_dict`), implement ``_empty_state``
and may override ``_check_state`` to enforce their invariants.

:func:`merge_states` is the one merge, of state objects and of their plain ``state_dict()`` dicts alike
(what a Ray or Dask map-reduce ships); :mod:`genloose.accumulators` re-exports it as
``genloose.merge_states``. A state dict whose keys are those of a subclass's ``state_dict()`` is checked
as that subclass would check it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import reduce
from typing import Any, ClassVar, Self

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import as_numpy, describe, is_tensor

__all__ = ["SumState", "merge_states"]

_SUM_DTYPES = (np.dtype(np.int64), np.dtype(np.float64))
_KINDS: dict[frozenset[str], type[SumState]] = {}
"""The subclass whose ``state_dict()`` has these keys, to check state dicts (filled as subclasses are defined;
where a subclass only adds methods and keeps its parent's keys, the most recently defined)."""


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._fields:
            _KINDS[frozenset((*cls._fields, *cls._options))] = cls

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


def _check_state_dict(kind: type[SumState] | None, state: Mapping[str, Any], name: str) -> None:
    """Refuse a state its class would refuse (negative counts, n not the sum of the counts, NaN sums)."""
    if kind is None:
        return
    try:
        kind.from_state_dict(state)
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{name} must be a valid {kind.__name__} state; {error}") from error


def _merge_dicts(states: tuple[Any, ...]) -> dict[str, Any]:
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
    kind = _KINDS.get(frozenset(first))
    for i, state in enumerate(states):
        _check_state_dict(kind, state, f"states[{i}]")
    total = dict(first)
    for state in states[1:]:
        total = {key: _merge_value(key, total[key], state[key]) for key in first}
    if len(states) == 1:
        total = {key: (_as_numpy(v).copy() if _is_array(v) else v) for key, v in first.items()}
    _check_state_dict(kind, total, "states (merged)")
    return total


def merge_states(*states: Any) -> Any:
    """Merge states by addition: state objects, or their state dicts; inputs are unchanged.

    States hold sums, so the merge is associative and commutative (exactly for counts, up to
    floating-point rounding for sums of floats), and the state of an empty accumulator is its identity.

    * State objects (:class:`~genloose.accumulators.RadiusAccumulator`,
      :class:`~genloose.accumulators.CollisionAccumulator`, any
      :class:`~genloose.metrics.collision.CollisionCounter`, any :class:`SumState`): returns a new one
      (left fold of ``merge``).
    * State dicts (``state_dict()``, e.g. shipped from Ray or Dask workers): entries that are numpy arrays
      (or torch tensors) are added, 1-D count arrays of different lengths zero-padded; every other entry
      is an option (``num_classes``, ``confidence``) and must be equal. Returns a new dict.

    Parameters
    ----------
    *states : dict or SumState
        At least one, all of the same kind.

    Returns
    -------
    dict or SumState
        Of the kind given.

    Raises
    ------
    InvalidArgumentError
        No state, mixed kinds, different keys or options, or a value that is neither.

    Examples
    --------
    >>> from genloose.accumulators import RadiusAccumulator
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
    >>> from genloose.metrics.collision import CollisionCounter
    >>> a, b, c = CollisionCounter(), CollisionCounter(), CollisionCounter()
    >>> a.update([0, 1]); b.update([1]); c.update([2, 2])
    >>> merge_states(a, b, c).counts.tolist()
    [1, 2, 2]
    """
    if not states:
        raise InvalidArgumentError("states must hold at least one state to merge; got 0 state(s)")
    if all(isinstance(state, SumState) for state in states):
        return reduce(lambda acc, s: acc.merge(s), states[1:], states[0].copy())
    return _merge_dicts(states)
