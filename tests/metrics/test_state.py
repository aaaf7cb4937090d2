"""Tests of genloose.metrics._state: the SumState base and the one merge_states (objects and state dicts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genloose
from genloose._errors import InvalidArgumentError
from genloose.accumulators import CollisionAccumulator, RadiusAccumulator
from genloose.metrics._state import SumState, merge_states
from genloose.metrics.collision import CollisionCounter


def test_merge_states_is_the_one_public_merge() -> None:
    assert genloose.merge_states is merge_states
    assert genloose.accumulators.merge_states is merge_states


def test_merge_states_pads_count_arrays_and_checks_options() -> None:
    a = {"num_classes": None, "counts": np.array([1, 2], dtype=np.int64), "n": np.array(3)}
    b = {"num_classes": None, "counts": np.array([0, 0, 5], dtype=np.int64), "n": np.array(5)}
    merged = merge_states(a, b)
    np.testing.assert_array_equal(merged["counts"], [1, 2, 5])
    assert int(merged["n"]) == 8
    np.testing.assert_array_equal(a["counts"], [1, 2])  # inputs unchanged
    tensor = merge_states({"x": torch.tensor([1, 2])}, {"x": np.array([3, 4])})
    np.testing.assert_array_equal(tensor["x"], [4, 6])
    only = merge_states(a)
    assert only["counts"] is not a["counts"]
    with pytest.raises(InvalidArgumentError, match="same options"):
        merge_states({"num_classes": 3}, {"num_classes": 4})
    with pytest.raises(InvalidArgumentError, match="same keys"):
        merge_states({"a": 1}, {"b": 1})
    with pytest.raises(InvalidArgumentError, match="arrays in both states or options in both"):
        merge_states({"a": np.array(1)}, {"a": 1})
    with pytest.raises(InvalidArgumentError, match="numeric arrays"):
        merge_states({"a": np.array(["x"])}, {"a": np.array(["y"])})
    with pytest.raises(InvalidArgumentError, match="equal shapes"):
        merge_states({"a": np.zeros((2, 2))}, {"a": np.zeros((2, 3))})
    with pytest.raises(InvalidArgumentError, match="state dict"):
        merge_states([1], {"a": 1})
    with pytest.raises(InvalidArgumentError, match="0 state"):
        merge_states()
    with pytest.raises(InvalidArgumentError, match="same options"):
        merge_states(RadiusAccumulator(), RadiusAccumulator(confidence=0.9))


def test_merge_states_checks_a_dict_as_the_class_with_its_keys_would() -> None:
    """State dicts with an accumulator's keys are validated as that accumulator; objects fold by merge."""
    good = CollisionAccumulator(3).state_dict()
    with pytest.raises(InvalidArgumentError, match=r"states\[1\] must be a valid CollisionAccumulator state"):
        merge_states(good, {**good, "n": np.array(7)})
    radius = RadiusAccumulator().state_dict()
    with pytest.raises(InvalidArgumentError, match=r"states\[0\] must be a valid RadiusAccumulator state"):
        merge_states({**radius, "sum": np.array(-1.0)}, radius)
    a, b = CollisionCounter(), CollisionCounter()
    a.update([0, 1])
    b.update([2])
    merged = merge_states(a, b)
    assert merged.counts.tolist() == [1, 1, 1]
    assert a.counts.tolist() == [1, 1]
    with pytest.raises(InvalidArgumentError, match="other must be a CollisionCounter"):
        merge_states(a, CollisionAccumulator())


def test_sum_state_subclass_merges_states_and_dicts() -> None:
    class Total(SumState):
        _fields = ("total_for_test",)

        def _empty_state(self) -> dict[str, np.ndarray]:
            return {"total_for_test": np.zeros((), dtype=np.int64)}

        def _check_state(self, state: dict[str, np.ndarray]) -> None:
            if int(state["total_for_test"]) < 0:
                raise InvalidArgumentError("state['total_for_test'] must be >= 0")

    x, y = Total(), Total()
    x._state["total_for_test"] = np.asarray(np.int64(2))
    y._state["total_for_test"] = np.asarray(np.int64(3))
    assert int(merge_states(x, y).state_dict()["total_for_test"]) == 5
    assert int(merge_states(x.state_dict(), y.state_dict())["total_for_test"]) == 5
    with pytest.raises(InvalidArgumentError, match="must be a valid Total state"):
        merge_states(x.state_dict(), {"total_for_test": np.asarray(np.int64(-9))})
