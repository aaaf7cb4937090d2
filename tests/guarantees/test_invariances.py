"""Invariances every registered metric is held to (see registry.py and docs/guarantees.md)."""

from __future__ import annotations

import itertools
import pickle
import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import genloose
from tests.guarantees.registry import (
    MODEL_METRICS,
    STREAMING_STATES,
    TESTBED,
    ModelMetric,
    StreamingState,
    torch_dtype_generator,
)

SEED, N = 3, 24


def _run(metric: ModelMetric, *, seed: int = SEED, batch_size: int = 256, generator=None, classifier=None):
    return metric.compute(
        generator if generator is not None else TESTBED.generator,
        classifier if classifier is not None else TESTBED.classifier,
        latent_dim=TESTBED.latent_dim,
        num_samples=N,
        seed=seed,
        batch_size=batch_size,
    )


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


@pytest.mark.parametrize("metric", MODEL_METRICS, ids=str)
class TestModelMetrics:
    def test_bit_identical_for_any_batch_size(self, metric: ModelMetric) -> None:
        _assert_identical(metric.outputs(_run(metric, batch_size=5)), metric.outputs(_run(metric, batch_size=256)))

    def test_same_seed_agrees_and_other_seeds_differ(self, metric: ModelMetric) -> None:
        first, again, other = _run(metric), _run(metric), _run(metric, seed=SEED + 1)
        _assert_identical(metric.outputs(first), metric.outputs(again))
        labels, other_labels = metric.outputs(first)["labels"], metric.outputs(other)["labels"]
        assert not np.array_equal(np.asarray(labels), np.asarray(other_labels))

    def test_global_rng_untouched_even_by_models_that_draw_random_numbers(self, metric: ModelMetric) -> None:
        def noisy_generator(z: torch.Tensor) -> torch.Tensor:
            torch.rand(1)
            np.random.random_sample()
            random.random()
            return TESTBED.generator(z)

        states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
        quiet = metric.outputs(_run(metric))
        noisy = metric.outputs(_run(metric, generator=noisy_generator))
        assert torch.equal(torch.get_rng_state(), states[0])
        assert np.array_equal(np.random.get_state()[1], states[1])
        assert random.getstate() == states[2]
        _assert_identical(quiet, noisy)  # the model's own draws do not leak into the metric

    def test_results_survive_pickling(self, metric: ModelMetric) -> None:
        result = _run(metric)
        _assert_identical(metric.outputs(pickle.loads(pickle.dumps(result))), metric.outputs(result))

    def test_float32_and_float64_models_agree_within_the_documented_tolerance(self, metric: ModelMetric) -> None:
        single = metric.outputs(_run(metric, generator=torch_dtype_generator(torch.float32)))
        double = metric.outputs(_run(metric, generator=torch_dtype_generator(torch.float64)))
        np.testing.assert_array_equal(single["labels"], double["labels"])
        assert abs(single["estimate"] - double["estimate"]) <= metric.dtype_rtol * abs(double["estimate"])

    @pytest.mark.parametrize("half", ["generator", "classifier"])
    def test_bfloat16_models_work_beside_float32_ones(self, metric: ModelMetric, half: str) -> None:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            generator, classifier = torch.nn.Linear(TESTBED.latent_dim, 3), torch.nn.Linear(3, 3)
        (generator if half == "generator" else classifier).to(torch.bfloat16)
        outputs = metric.outputs(_run(metric, generator=generator, classifier=classifier))
        assert np.isfinite(outputs["estimate"])
        assert outputs["estimate"] > 0

    @pytest.mark.gpu
    def test_cuda_agrees_with_cpu(self, metric: ModelMetric) -> None:
        cuda_generator = genloose.Generator(TESTBED.generator, latent_dim=TESTBED.latent_dim, device="cuda")
        cpu, gpu = metric.outputs(_run(metric)), metric.outputs(_run(metric, generator=cuda_generator))
        np.testing.assert_array_equal(cpu["labels"], gpu["labels"])
        assert abs(cpu["estimate"] - gpu["estimate"]) <= metric.dtype_rtol * abs(cpu["estimate"])


def _batches(state: StreamingState, seed: int, count: int) -> list:
    rng = np.random.default_rng(seed)
    return [state.batch(rng) for _ in range(count)]


def _fed(state: StreamingState, batches: list):
    current = state.empty()
    for batch in batches:
        current = state.update(current, batch)
    return current


def _same(state: StreamingState, a, b) -> None:
    """Integer fields equal exactly; float sums equal up to the rounding of a different summation order."""
    left, right = state.state_dict(a), state.state_dict(b)
    assert left.keys() == right.keys()
    for key in left:
        x, y = np.asarray(left[key]), np.asarray(right[key])
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=0, err_msg=key)
        else:
            np.testing.assert_array_equal(x, y, err_msg=key)


@pytest.mark.parametrize("state", STREAMING_STATES, ids=str)
class TestStreamingStates:
    @given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, 6), min_size=1, max_size=4))
    def test_any_split_equals_the_one_shot_computation(self, state: StreamingState, seed: int, cuts: list) -> None:
        batches = _batches(state, seed, 6)
        bounds = sorted({0, 6, *cuts})
        shards = [_fed(state, batches[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
        merged = state.empty()
        for shard in shards:
            merged = state.merge(merged, shard)
        np.testing.assert_allclose(state.compute(merged), state.one_shot(batches), rtol=1e-12, atol=0)

    @given(seed=st.integers(0, 2**32 - 1))
    def test_merge_is_associative_commutative_with_identity(self, state: StreamingState, seed: int) -> None:
        a, b, c = (_fed(state, _batches(state, seed + k, 2)) for k in range(3))
        _same(state, state.merge(state.merge(a, b), c), state.merge(a, state.merge(b, c)))
        _same(state, state.merge(a, b), state.merge(b, a))
        _same(state, state.merge(a, state.empty()), a)
        _same(state, state.merge(state.empty(), a), a)

    def test_merge_leaves_inputs_unchanged_and_compute_is_idempotent(self, state: StreamingState) -> None:
        a, b = _fed(state, _batches(state, 1, 2)), _fed(state, _batches(state, 2, 2))
        before = (pickle.dumps(state.state_dict(a)), pickle.dumps(state.state_dict(b)))
        merged = state.merge(a, b)
        assert (pickle.dumps(state.state_dict(a)), pickle.dumps(state.state_dict(b))) == before
        np.testing.assert_array_equal(state.compute(merged), state.compute(merged))

    def test_state_dict_and_pickle_round_trips(self, state: StreamingState) -> None:
        a = _fed(state, _batches(state, 4, 3))
        _same(state, state.from_state_dict(state.state_dict(a)), a)
        _same(state, pickle.loads(pickle.dumps(a)), a)
        np.testing.assert_array_equal(state.compute(pickle.loads(pickle.dumps(a))), state.compute(a))


# ----------------------------------------------------------------------------- models that are not functions


def _not_functions() -> dict[str, tuple[object, object, str]]:
    """(generator, classifier, expected cause) for models whose answer for a latent is not a function of it."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        linear = torch.nn.Linear(2, 3)
        dropout = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3)).train()
        batchnorm = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3)).train()
        no_stats = torch.nn.Sequential(
            torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8, track_running_stats=False), torch.nn.Linear(8, 3)
        )
        g_dropout = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5)).train()
        g_batchnorm = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).train()
    identity = torch.nn.Identity()
    random, batch = "different outputs on two calls", "depends on the other latents of its batch"
    return {
        "classifier with dropout, in train mode inside a lambda": (identity, lambda x: dropout(x), random),
        "label classifier with dropout inside a lambda": (identity, lambda x: dropout(x).argmax(1), random),
        "classifier with BatchNorm, in train mode inside a lambda": (identity, lambda x: batchnorm(x), batch),
        "classifier with BatchNorm without running statistics (eval mode)": (identity, no_stats, batch),
        "generator with dropout, in train mode inside a lambda": (lambda z: g_dropout(z), linear, random),
        "generator with BatchNorm, in train mode inside a lambda": (lambda z: g_batchnorm(z), linear, batch),
    }


NOT_FUNCTIONS = _not_functions()


def _counting(model: object, seen: list[int]) -> object:
    def counted(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        return model(x)

    return counted


ENTRY_POINTS = {
    "class_radius": lambda g, c, **kw: genloose_module().class_radius(g, c, **kw),
    "evaluate": lambda g, c, **kw: genloose_module().evaluate(g, c, **kw),
    "compare": lambda g, c, **kw: genloose_module().compare(g, g, classifier=c, **kw),
}


def genloose_module():
    import genloose

    return genloose


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("model", NOT_FUNCTIONS)
def test_models_that_are_not_functions_are_refused_before_the_search_naming_the_cause(entry: str, model: str) -> None:
    generator, classifier, cause = NOT_FUNCTIONS[model]
    seen: list[int] = []
    kwargs = {"latent_dim": 2, "num_samples": 500, "num_classes": 3, "progress": False}
    with pytest.raises(genloose.NonDeterministicModelError, match=cause) as info:
        ENTRY_POINTS[entry](generator, _counting(classifier, seen), **kwargs)
    assert "model.eval()" in str(info.value)
    assert sum(seen) <= 3 * 128  # the probe's three blocks: no point was labelled, let alone searched
