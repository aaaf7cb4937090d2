"""The registry the guarantee harness runs over: adding a metric to the harness is one entry here.

A :class:`ModelMetric` computes something from a generator and a classifier for a (seed, N); the harness checks
batch-size invariance, determinism, RNG isolation, pickling and dtypes on it. A :class:`StreamingState` is a
mergeable accumulator; the harness checks the merge laws, splits and serialisation on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import genloose
from genloose.testing import sectors

TESTBED = sectors(4, 3)


@dataclass(frozen=True)
class ModelMetric:
    """A metric computed from (generator, classifier, seed, num_samples, batch_size)."""

    name: str
    compute: Callable[..., Any]  # (generator, classifier, *, latent_dim, num_samples, seed, batch_size) -> result
    outputs: Callable[[Any], dict[str, Any]]  # the values that must agree between runs
    dtype_rtol: float  # documented float32-vs-float64 tolerance on outputs

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class StreamingState:
    """A mergeable streaming state fed with batches of some data."""

    name: str
    empty: Callable[[], Any]
    update: Callable[[Any, Any], Any]  # returns the updated state (may be the same object)
    merge: Callable[[Any, Any], Any]  # returns a new state
    compute: Callable[[Any], Any]
    state_dict: Callable[[Any], dict[str, Any]]
    from_state_dict: Callable[[dict[str, Any]], Any]
    batch: Callable[[np.random.Generator], Any]  # draws one batch of data
    one_shot: Callable[[Sequence[Any]], Any]  # the same computation on the union of batches

    def __str__(self) -> str:
        return self.name


def _radius(access: str) -> Callable[..., Any]:
    def compute(generator: Any, classifier: Any, **kwargs: Any) -> Any:
        return genloose.class_radius(generator, classifier, access=access, progress=False, **kwargs)

    return compute


def _radius_outputs(result: Any) -> dict[str, Any]:
    return {
        "radii": result.radii,
        "witnesses": result.witnesses,
        "labels": result.labels,
        "queries": result.queries,
        "estimate": result.estimate.value,
    }


MODEL_METRICS: list[ModelMetric] = [
    ModelMetric("class_radius[white-box]", _radius("white-box"), _radius_outputs, dtype_rtol=1e-3),
    ModelMetric("class_radius[black-box]", _radius("black-box"), _radius_outputs, dtype_rtol=3e-2),
]


def _estimate_values(estimate: Any) -> tuple[float, ...]:
    return (estimate.value, estimate.stderr, estimate.ci_low, estimate.ci_high, estimate.n)


def _updated(state: Any, batch: Any) -> Any:
    state.update(batch)
    return state


def _accumulated(state: Any, batches: Any) -> Any:
    state.update(np.concatenate(list(batches)))
    return state


def _labels(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 5, size=int(rng.integers(0, 12)))


def _radii(rng: np.random.Generator) -> np.ndarray:
    radii = rng.exponential(size=int(rng.integers(1, 6)))
    radii[rng.random(radii.size) < 0.1] = np.inf  # censored points
    return radii


def _evaluate(generator: Any, classifier: Any, **kwargs: Any) -> Any:
    return genloose.evaluate(generator, classifier, progress=False, **kwargs)


def _report_outputs(report: Any) -> dict[str, Any]:
    return {
        **_radius_outputs(report.radius_result),
        "collision_probability": _estimate_values(report.collision_probability),
        "collision_entropy": _estimate_values(report.collision_entropy),
    }


MODEL_METRICS.append(ModelMetric("evaluate", _evaluate, _report_outputs, dtype_rtol=1e-3))

STREAMING_STATES: list[StreamingState] = [
    StreamingState(
        "RadiusAccumulator",
        empty=genloose.RadiusAccumulator,
        update=_updated,
        merge=lambda a, b: a.merge(b),
        compute=lambda s: _estimate_values(s.compute()),
        state_dict=lambda s: s.state_dict(),
        from_state_dict=genloose.RadiusAccumulator.from_state_dict,
        batch=_radii,
        one_shot=lambda batches: _estimate_values(_accumulated(genloose.RadiusAccumulator(), batches).compute()),
    ),
    StreamingState(
        "CollisionCounter",
        empty=genloose.metrics.CollisionCounter,
        update=_updated,
        merge=lambda a, b: a.merge(b),
        compute=lambda s: _estimate_values(s.compute()),
        state_dict=lambda s: s.state_dict(),
        from_state_dict=genloose.metrics.CollisionCounter.from_state_dict,
        batch=_labels,
        one_shot=lambda batches: _estimate_values(
            genloose.metrics.collision_probability_from_counts(
                np.bincount(np.concatenate([np.zeros(0, dtype=np.int64), *batches]), minlength=1)
            )
        ),
    ),
]


def torch_dtype_generator(dtype: torch.dtype) -> genloose.Generator:
    """The registry's testbed generator evaluated in ``dtype``."""
    return genloose.Generator(TESTBED.generator, latent_dim=TESTBED.latent_dim, dtype=dtype)
