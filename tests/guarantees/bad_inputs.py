"""Malformed-input strategies and the registry of public functions the bad-input suite covers.

Each :class:`Case` calls one public function with valid arguments, except one argument replaced by a malformed
value drawn from a strategy. The suite asserts the call fails with genloose's own exception naming that argument.
Adding a public function to the suite is one ``Case`` line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from hypothesis import strategies as st

import genloose
from genloose import experiments, metrics, reference_models, testing, theory
from genloose._serialize import SCHEMA_VERSION

# ----------------------------------------------------------------------------- malformed values by kind

NOT_NUMERIC = st.one_of(st.text(max_size=3), st.just(object()), st.just({"a": 1}), st.just(b"x"))
NON_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])


def bad_integers(min_value: int) -> st.SearchStrategy[Any]:
    """Integers below ``min_value``, non-integral floats, NaN, booleans, strings."""
    return st.one_of(
        st.integers(max_value=min_value - 1),
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not float(x).is_integer()),
        st.booleans(),
        NOT_NUMERIC,
    )


def bad_open_unit() -> st.SearchStrategy[Any]:
    """Values outside (0, 1), non-finite values, booleans, strings."""
    return st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), NON_FINITE, st.booleans(), NOT_NUMERIC)


def bad_nonnegative_reals() -> st.SearchStrategy[Any]:
    return st.one_of(st.floats(max_value=-1e-300), st.just(float("nan")), st.booleans(), NOT_NUMERIC)


BAD_LABEL_BATCHES = st.one_of(  # an empty batch is a valid (identity) update of a streaming state
    st.lists(st.floats(allow_nan=True).filter(lambda x: not float(x).is_integer()), min_size=2, max_size=6),
    st.lists(st.integers(max_value=-1), min_size=1, max_size=6).map(lambda xs: [*xs, 0]),
    st.lists(st.booleans(), min_size=2, max_size=6).map(np.array),
    st.just(np.zeros((2, 3), dtype=np.int64)),
    st.just(np.array([0, 2**63, 2**64 - 1], dtype=np.uint64)),  # would wrap negative as int64
    NOT_NUMERIC,
)
BAD_LABELS = st.one_of(BAD_LABEL_BATCHES, st.just([]))
# where one count is held per class (the streaming counters), a label of 10**12 would allocate terabytes
BAD_COUNTED_LABELS = st.one_of(BAD_LABEL_BATCHES, st.integers(2**24, 2**62).map(lambda label: [0, label]))


def bad_num_classes(min_value: int = 1) -> st.SearchStrategy[Any]:
    """As :func:`bad_integers`, and numbers of classes too many to hold one count per class."""
    return st.one_of(bad_integers(min_value), st.integers(2**24 + 1, 2**80))


def bad_sizes(min_value: int) -> st.SearchStrategy[Any]:
    """As :func:`bad_integers`, and sizes no machine's memory holds (10**15 latents and up)."""
    return st.one_of(bad_integers(min_value), st.integers(10**15, 10**30))


BAD_DISTRIBUTIONS = st.one_of(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6).filter(lambda p: abs(sum(p) - 1) > 1e-6),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5).map(lambda p: [-0.5, *p]),
    st.just([float("nan"), 1.0]),
    st.just([]),
    st.just([[[0.5, 0.5]]]),
    NOT_NUMERIC,
)


BAD_COUNTS = st.one_of(
    st.lists(st.integers(max_value=-1), min_size=1, max_size=4).map(lambda xs: [*xs, 3]),
    st.just(np.full(3, 2**62, dtype=np.int64)),  # the total overflows int64
    st.just(np.array([2**63, 1], dtype=np.uint64)),  # wraps negative as int64
    st.integers(2**53 + 1, 2**63 - 1).map(lambda c: [c, 1]),  # beyond float64's exact integers
    st.just([1.5, 2.0]),
    st.just([[1, 2]]),
    st.just([]),
    NOT_NUMERIC,
)
BAD_PROBABILITY = st.one_of(
    st.floats(max_value=-1e-9), st.floats(min_value=1.000001), st.just(float("nan")), NOT_NUMERIC
)
BAD_COLLISION_PROBABILITY = st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.000001), NOT_NUMERIC)
_COLLISION_STATE = genloose.CollisionAccumulator(3).state_dict()  # its options; each bad state below sets sums


def bad_latents(latent_dim: int) -> st.SearchStrategy[Any]:
    """Wrong shapes, non-finite entries, empty batches, non-numeric input."""
    return st.one_of(
        st.integers(1, 4).map(lambda n: np.zeros((n, latent_dim + 1))),
        st.integers(1, 4).map(lambda n: np.zeros(n)),
        st.integers(1, 4).map(lambda n: np.full((n, latent_dim), np.nan)),
        st.just(np.zeros((0, latent_dim))),
        st.floats(4e38, 1e300).map(lambda x: np.full((2, latent_dim), x)),  # finite, but beyond float32
        NOT_NUMERIC,
    )


# ----------------------------------------------------------------------------- misbehaving models


def _raises(x: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("boom")


BAD_GENERATORS = st.sampled_from(
    [
        _raises,
        lambda z: [1, 2, 3],  # wrong type
        lambda z: z[:1],  # wrong number of rows
        lambda z: z * float("nan"),  # NaN samples
        3,  # not callable
        lambda z: z.to("meta"),  # a tensor without data
        lambda z: z.to_sparse(),  # a sparse tensor
        torch.nn.Linear(2, 2, device="meta"),  # parameters without data
    ]
)
BAD_CLASSIFIERS = st.sampled_from(
    [
        _raises,
        lambda x: "labels",  # wrong type
        lambda x: x[:1],  # wrong number of rows
        lambda x: x.sum(1),  # float labels
        lambda x: -torch.ones(x.shape[0], dtype=torch.long),  # negative labels
        lambda x: x / 0.0,  # infinite scores
        None,  # not callable
        lambda x: x.to_sparse(),  # sparse scores
        lambda x: x.to("meta"),  # scores without data
        torch.nn.Linear(2, 3, device="meta"),  # parameters without data
    ]
)

# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Case:
    """One public function: how to call it validly, and malformed values for each argument."""

    name: str
    function: Callable[..., Any]
    valid: dict[str, Any]
    bad: dict[str, st.SearchStrategy[Any]]
    message_names: dict[str, str] = field(default_factory=dict)  # argument -> the name its error uses
    baseline: bool = True  # False where a valid call needs real files or minutes of training (tested elsewhere)

    def call(self, **overrides: Any) -> Any:
        return self.function(**{**self.valid, **overrides})

    def __str__(self) -> str:
        return self.name


BED = testing.sectors(2, 3)
_RADIUS_VALID = {
    "generator": BED.generator,
    "classifier": BED.classifier,
    "latent_dim": 2,
    "num_samples": 4,
    "config": genloose.SearchConfig(pool_size=16),
    "progress": False,
}
#: What ``config=`` must refuse: anything but a SearchConfig or None (a dict of fields included).
BAD_CONFIGS = st.one_of(NOT_NUMERIC, st.just({"pool_size": 16}), st.just(genloose.SearchConfig))
_MODEL_ERROR = "model"  # a misbehaving model is named as "generator" or "classifier" in the message

CASES: list[Case] = [
    # theory
    Case("theory.fawzi_bound", theory.fawzi_bound, {"p": [0.5, 0.5]}, {"p": BAD_DISTRIBUTIONS}),
    Case(
        "theory.theorem_3_1_bound",
        theory.theorem_3_1_bound,
        {"collision_probability": 0.1},
        {"collision_probability": st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0001), NOT_NUMERIC)},
    ),
    Case("theory.theorem_3_2_bound", theory.theorem_3_2_bound, {"num_classes": 10}, {"num_classes": bad_integers(1)}),
    Case(
        "theory.collision_entropy_upper_bound",
        theory.collision_entropy_upper_bound,
        {"class_radius": 0.5},
        {"class_radius": bad_nonnegative_reals()},
    ),
    # collision metrics
    *[
        Case(
            f"metrics.{fn.__name__}",
            fn,
            {"labels": [0, 1, 1, 2]},
            {"labels": BAD_LABELS, "confidence": bad_open_unit(), "num_classes": bad_num_classes()},
        )
        for fn in (
            metrics.collision_probability,
            metrics.collision_entropy,
            metrics.effective_number_of_classes,
        )
    ],
    Case(
        "metrics.renyi_entropy",
        metrics.renyi_entropy,
        {"labels": [0, 1, 1, 2], "order": 2},
        {"labels": BAD_LABELS, "order": st.one_of(st.floats(max_value=-1e-9), st.just(float("nan")), NOT_NUMERIC)},
    ),
    *[
        Case(
            f"metrics.{fn.__name__}",
            fn,
            {"counts": [3, 1, 2]},
            {"counts": BAD_COUNTS, "confidence": bad_open_unit(), "method": st.sampled_from(["mle", "", 3])},
        )
        for fn in (
            metrics.collision_probability_from_counts,
            metrics.collision_entropy_from_counts,
            metrics.effective_number_of_classes_from_counts,
        )
    ],
    Case(
        "metrics.renyi_entropy_from_counts",
        metrics.renyi_entropy_from_counts,
        {"counts": [3, 1, 2], "order": 1},
        {"counts": BAD_COUNTS, "order": st.one_of(st.floats(max_value=-1e-9), NOT_NUMERIC)},
    ),
    Case(
        "metrics.CollisionCounter",
        lambda **kw: metrics.CollisionCounter(kw["num_classes"]).update(kw["labels"]),
        {"num_classes": 3, "labels": [0, 2, 1]},
        {"num_classes": bad_num_classes(), "labels": BAD_COUNTED_LABELS},
    ),
    Case(
        "metrics.CollisionCounter(None)",
        lambda **kw: metrics.CollisionCounter().update(kw["labels"]),
        {"labels": [0, 2, 1]},
        {"labels": BAD_COUNTED_LABELS},
    ),
    Case(
        "metrics.sample_latents",
        metrics.sample_latents,
        {"seed": 0, "latent_dim": 2, "stop": 5},
        {"seed": bad_integers(0), "latent_dim": bad_integers(1), "stop": bad_sizes(0)},
    ),
    # theory: scalar/array functions of one numeric argument
    *[
        Case(f"theory.{fn.__name__}", fn, {argument: good}, {argument: bad})
        for fn, argument, good, bad in (
            (theory.normal_pdf, "x", 0.3, NOT_NUMERIC),
            (theory.normal_logpdf, "x", 0.3, NOT_NUMERIC),
            (theory.normal_cdf, "x", 0.3, NOT_NUMERIC),
            (theory.normal_logcdf, "x", 0.3, NOT_NUMERIC),
            (theory.normal_mean_excess, "x", 0.3, NOT_NUMERIC),
            (theory.normal_integrated_cdf, "x", 0.3, NOT_NUMERIC),
            (theory.normal_ppf, "probability", 0.3, BAD_PROBABILITY),
            (theory.normal_upper_quantile, "probability", 0.3, BAD_PROBABILITY),
            (theory.fawzi_term, "probability", 0.3, BAD_PROBABILITY),
            (theory.g, "collision_probability", 0.1, BAD_COLLISION_PROBABILITY),
            (theory.g_prime, "collision_probability", 0.1, BAD_COLLISION_PROBABILITY),
            (theory.g_double_prime, "collision_probability", 0.1, BAD_COLLISION_PROBABILITY),
            (theory.lemma_b6_numerator, "entropy", 1.0, bad_nonnegative_reals()),
            (theory.g_entropy_prime, "entropy", 1.0, bad_nonnegative_reals()),
            (theory.collision_probability_lower_bound, "class_radius", 0.5, bad_nonnegative_reals()),
            (theory.fawzi_bound_uniform, "num_classes", 10, bad_integers(1)),
            # real K > 1 by design: Theorem B.1's proof applies the lemma at K = 1/p_i
            (theory.lemma_b2_quantile_bound, "num_classes", 10, st.one_of(st.floats(max_value=1.0), NOT_NUMERIC)),
            (theory.lemma_b5_paper_upper_bound, "max_probability", 0.1, BAD_PROBABILITY),
            (theory.lemma_b1_bound, "p", [0.5, 0.5], BAD_DISTRIBUTIONS),
            (theory.theorem_3_1_proof_chain, "p", [0.2] * 5, BAD_DISTRIBUTIONS),
        )
    ],
    Case(
        "theory.collision_probability_range",
        theory.collision_probability_range,
        {"num_classes": 10, "max_probability": 0.2},
        {"num_classes": bad_integers(1), "max_probability": BAD_PROBABILITY},
    ),
    Case(
        "theory.theorem_3_3_bound",
        theory.theorem_3_3_bound,
        {"num_classes": 10, "h": 0.2, "variant": "exact"},
        {"num_classes": bad_integers(1), "variant": st.sampled_from(["loose", "", 1])},
    ),
    # the class-radius estimator
    Case(
        "class_radius",
        genloose.class_radius,
        _RADIUS_VALID,
        {
            "num_samples": bad_sizes(1),
            "config": BAD_CONFIGS,
            "num_classes": bad_num_classes(),
            "seed": bad_integers(0),
            "confidence": bad_open_unit(),
            "batch_size": bad_integers(1),
            "latent_dim": bad_integers(1),
            "generator": BAD_GENERATORS,
            "classifier": BAD_CLASSIFIERS,
        },
        message_names={"generator": "generator", "classifier": "classifier"},
    ),
    Case(
        "class_radius(latents=...)",
        lambda **kw: genloose.class_radius(**kw),
        {**{k: v for k, v in _RADIUS_VALID.items() if k != "num_samples"}, "latents": np.zeros((3, 2))},
        {"latents": bad_latents(2)},
    ),
    Case(
        "class_radius(precision=...)",
        lambda **kw: genloose.class_radius(**kw),
        {**{k: v for k, v in _RADIUS_VALID.items() if k != "num_samples"}, "precision": 0.5},
        {"precision": bad_open_unit()},
    ),
    Case(
        "SearchConfig",
        genloose.SearchConfig,
        {},
        {
            "pool_size": bad_sizes(0),
            "num_seeds": bad_integers(1),
            "max_queries": bad_integers(1),
            "rtol": st.one_of(st.floats(max_value=9.9e-13), st.floats(min_value=0.50001), NON_FINITE, NOT_NUMERIC),
            "refine_steps": bad_integers(0),
            "attack_steps": bad_integers(0),
            "top_k": bad_integers(0),
            "blackbox_steps": bad_integers(0),
            "blackbox_explore_steps": bad_integers(0),
            "blackbox_probes": bad_integers(2),
            "max_radius": st.one_of(st.floats(max_value=0.0), NON_FINITE, st.booleans(), NOT_NUMERIC),
            "lipschitz": st.one_of(st.floats(max_value=0.0), NON_FINITE, st.booleans(), NOT_NUMERIC),
            "on_unverified": st.one_of(st.sampled_from(["", "ignore", "Raise"]), NOT_NUMERIC),
            "precision_max_points": bad_integers(1),
            "precision_pilot_points": bad_integers(8),
        },
    ),
    Case(
        "SearchConfig.from_dict",
        lambda **kw: genloose.SearchConfig.from_dict(kw["data"]),
        {"data": {"rtol": 1e-3}},
        {"data": st.one_of(st.just({"rtool": 1e-3}), st.just({"rtol": "small"}), st.just([("rtol", 1e-3)]))},
        message_names={"data": "SearchConfig"},
    ),
    # adapters
    Case(
        "Generator",
        genloose.Generator,
        {"fn": torch.nn.Identity(), "latent_dim": 2},
        {
            "latent_dim": bad_integers(1),
            "batch_size": bad_integers(1),
            "fn": st.sampled_from([3, None, "g", torch.nn.Linear(2, 2, device="meta")]),
        },
        message_names={"fn": "generator"},
    ),
    Case(
        "Classifier",
        genloose.Classifier,
        {"fn": lambda x: x},
        {
            "num_classes": bad_num_classes(),
            "batch_size": bad_integers(1),
            "fn": st.sampled_from([3, None, "c", torch.nn.Linear(2, 2, device="meta")]),
        },
        message_names={"fn": "classifier"},
    ),
    # testing factories
    Case("testing.halfspace", testing.halfspace, {"latent_dim": 3}, {"latent_dim": bad_integers(1)}),
    Case(
        "testing.sectors",
        testing.sectors,
        {"latent_dim": 3, "num_classes": 4},
        {"latent_dim": bad_integers(2), "num_classes": bad_integers(2)},
    ),
    Case(
        "testing.spheres",
        testing.spheres,
        {"latent_dim": 3, "radii": [1.0, 2.0]},
        {"latent_dim": bad_integers(1), "radii": st.one_of(st.just([2.0, 1.0]), st.just([-1.0]), NOT_NUMERIC)},
    ),
    Case("testing.grid_voronoi", testing.grid_voronoi, {"latent_dim": 3}, {"latent_dim": bad_integers(2)}),
]

_REPORT = genloose.evaluate(**_RADIUS_VALID)


_BAD_SAVED_REPORTS = st.one_of(
    NOT_NUMERIC,
    st.just('{"loss": 0.1}'),  # another program's JSON
    st.just(_REPORT.to_json()[:300]),  # truncated
    st.just(_REPORT.to_json().replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 99')),  # newer
)
_BAD_PLOT_ARGUMENTS = {"ax": NOT_NUMERIC, "kind": st.one_of(st.text(max_size=3), st.just(None))}


def _plot(obj: Any, **kwargs: Any) -> Any:
    import matplotlib.pyplot as plt

    try:
        return obj.plot(**kwargs)
    finally:
        plt.close("all")


def _accumulate(accumulator: Any, batch: Any) -> Any:
    accumulator.update(batch)
    return accumulator


CASES += [
    Case(
        "evaluate",
        genloose.evaluate,
        _RADIUS_VALID,
        {
            "num_samples": bad_sizes(2),
            "config": BAD_CONFIGS,
            "num_classes": bad_num_classes(),
            "seed": bad_integers(0),
            "confidence": bad_open_unit(),
            "precision": bad_open_unit(),
            "latent_dim": bad_integers(1),
            "generator": BAD_GENERATORS,
            "classifier": BAD_CLASSIFIERS,
        },
        message_names={"generator": "generator", "classifier": "classifier"},
    ),
    Case(
        "compare",
        genloose.compare,
        {"a": _REPORT, "b": _REPORT},
        {"b": st.one_of(NOT_NUMERIC, st.just([1, 2])), "alpha": bad_open_unit()},
    ),
    Case(
        "Report.from_json",
        lambda **kw: genloose.Report.from_json(kw["source"]),
        {"source": _REPORT.to_json()},
        {"source": _BAD_SAVED_REPORTS},
    ),
    Case(
        "Comparison.from_json",
        lambda **kw: genloose.Comparison.from_json(kw["source"]),
        {"source": genloose.compare(_REPORT, _REPORT).to_json()},
        {"source": _BAD_SAVED_REPORTS},
    ),
    Case("Report.plot", lambda **kw: _plot(_REPORT, **kw), {"ax": None, "kind": "ecdf"}, _BAD_PLOT_ARGUMENTS),
    Case(
        "RadiusResult.plot",
        lambda **kw: _plot(_REPORT.radius_result, **kw),
        {"ax": None, "kind": "hist"},
        _BAD_PLOT_ARGUMENTS,
    ),
    Case(
        "reports_to_frame",
        genloose.reports_to_frame,
        {"reports": [_REPORT], "names": ["a"]},
        {"reports": st.one_of(NOT_NUMERIC, st.just([]), st.just([1, 2])), "names": st.just(["a", "b"])},
    ),
    Case(
        "merge_states",
        lambda **kw: genloose.merge_states(kw["first"], kw["second"]),
        {
            "first": genloose.CollisionAccumulator(3).state_dict(),
            "second": genloose.CollisionAccumulator(3).state_dict(),
        },
        {
            "second": st.one_of(
                st.integers(),
                st.text(max_size=2),
                st.just([1, 2]),
                st.just({**_COLLISION_STATE, "counts": np.array([-1, 5, 2]), "n": np.array(6)}),  # negative
                st.just({**_COLLISION_STATE, "counts": np.array([1, 5, 2]), "n": np.array(7)}),  # n != sum
                # not num_classes entries
                st.just({**_COLLISION_STATE, "num_classes": 4, "counts": np.array([1, 5, 2]), "n": np.array(8)}),
            )
        },
        message_names={"second": "states"},
    ),
    Case(
        "merge_states(RadiusAccumulator)",
        lambda **kw: genloose.merge_states(kw["first"], kw["second"]),
        {"first": genloose.RadiusAccumulator().state_dict(), "second": genloose.RadiusAccumulator().state_dict()},
        {
            "second": st.sampled_from(
                [
                    {**genloose.RadiusAccumulator().state_dict(), "count": np.array(-3)},
                    {**genloose.RadiusAccumulator().state_dict(), "sum": np.array(np.nan)},
                    {**genloose.RadiusAccumulator().state_dict(), "sum_sq": np.array(np.inf)},
                    {**genloose.RadiusAccumulator().state_dict(), "sum": np.array(-1.0)},
                ]
            )
        },
        message_names={"second": "states"},
    ),
    Case(
        "Estimate.from_normal",
        genloose.Estimate.from_normal,
        {"value": 1.0, "stderr": 0.5, "n": 10, "confidence": 0.95, "method": "mean"},
        {
            "stderr": st.one_of(st.floats(max_value=-1e-300), st.just(-math.inf), NOT_NUMERIC),
            "value": NOT_NUMERIC,
            "n": bad_integers(0),
            "confidence": bad_open_unit(),
        },
    ),
    Case(
        "RadiusAccumulator",
        lambda **kw: _accumulate(genloose.RadiusAccumulator(kw["confidence"]), kw["radii"]),
        {"confidence": 0.95, "radii": [0.5, 1.0]},
        {
            "confidence": bad_open_unit(),
            "radii": st.one_of(
                st.just([-1.0, 0.5]),
                st.just([[0.5]]),
                st.just([float("nan")]),
                st.floats(1e155, 1e308).map(lambda r: [r, 1.0]),  # squares overflow the state's float64 sum
                NOT_NUMERIC,
            ),
        },
    ),
    Case(
        "CollisionAccumulator",
        lambda **kw: _accumulate(genloose.CollisionAccumulator(kw["num_classes"]), kw["labels"]),
        {"num_classes": 3, "labels": [0, 2, 1]},
        {"num_classes": bad_num_classes(), "labels": BAD_COUNTED_LABELS},
    ),
]

_STRINGS = st.one_of(
    st.text(max_size=4).filter(lambda x: x not in {"vae", "lc-vae", "train", "test", "all"}), st.integers()
)
_NOT_A_TENSOR = st.one_of(NOT_NUMERIC, st.just([1.0, 2.0]))
_NOT_A_PATH = st.one_of(st.integers(), st.just(object()), st.just(3.5))

CASES += [
    Case("reference_models.grid_means", reference_models.grid_means, {"n": 2}, {"n": bad_integers(0)}),
    Case(
        "reference_models.sample_grid",
        reference_models.sample_grid,
        {"num_samples": 5},
        {"num_samples": bad_integers(0)},
    ),
    Case(
        "reference_models.NearestMeanClassifier",
        reference_models.NearestMeanClassifier,
        {"n": 2},
        {"n": bad_integers(0)},
    ),
    Case(
        "reference_models.GridGenerator",
        reference_models.GridGenerator,
        {"latent_dim": 2},
        {"latent_dim": bad_integers(1), "hidden_width": bad_integers(1), "depth": bad_integers(1)},
    ),
    Case(
        "reference_models.GridDiscriminator",
        reference_models.GridDiscriminator,
        {"hidden_width": 8, "depth": 2, "pack": 1},
        {"hidden_width": bad_integers(1), "depth": bad_integers(1), "pack": bad_integers(1)},
    ),
    Case("reference_models.GANConfig", reference_models.GANConfig, {}, {"steps": bad_integers(0)}),
    Case(
        "reference_models.train_gan",
        reference_models.train_gan,
        {"config": reference_models.GANConfig(steps=1), "seed": 0},
        {"config": _NOT_A_TENSOR, "seed": bad_integers(0)},
    ),
    Case("reference_models.load_grid_gan", reference_models.load_grid_gan, {"name": "w12d1"}, {"name": _STRINGS}),
    Case("reference_models.load_grid_family", reference_models.load_grid_family, {}, {"weights_dir": _NOT_A_PATH}),
    Case(
        "reference_models.retrain_family",
        reference_models.retrain_family,
        {"names": ["w12d1"]},
        {"names": st.lists(_STRINGS, min_size=1, max_size=2)},
        message_names={"names": "name"},
        baseline=False,
    ),
    Case("reference_models.VAE", reference_models.VAE, {"latent_dim": 2}, {"latent_dim": bad_integers(1)}),
    Case("reference_models.VAEConfig", reference_models.VAEConfig, {}, {"epochs": bad_integers(1)}),
    Case(
        "reference_models.train_vae",
        reference_models.train_vae,
        {"images": torch.zeros(4, 1, 28, 28)},
        {"images": _NOT_A_TENSOR},
        baseline=False,
    ),
    Case(
        "reference_models.lipschitz_penalty",
        reference_models.lipschitz_penalty,
        {"codes": torch.zeros(4, 2), "images": torch.rand(4, 1, 28, 28)},
        {"codes": st.one_of(st.just(torch.zeros(3, 2)), _NOT_A_TENSOR)},
    ),
    Case("reference_models.DigitClassifier", reference_models.DigitClassifier, {}, {"seed": bad_integers(0)}),
    Case(
        "reference_models.train_digit_classifier",
        reference_models.train_digit_classifier,
        {"images": torch.zeros(4, 1, 28, 28), "labels": torch.zeros(4, dtype=torch.long)},
        {"images": _NOT_A_TENSOR},
        baseline=False,
    ),
    Case("reference_models.load_vae", reference_models.load_vae, {}, {"kind": _STRINGS, "latent_dim": bad_integers(1)}),
    Case(
        "reference_models.load_digit_classifier",
        reference_models.load_digit_classifier,
        {},
        {"weights_dir": _NOT_A_PATH},
    ),
    Case("reference_models.load_digits_28", reference_models.load_digits_28, {}, {"split": _STRINGS}),
    Case(
        "reference_models.read_idx",
        reference_models.read_idx,
        {"path": "unused"},
        {"path": _NOT_A_PATH},
        baseline=False,
    ),
    Case(
        "reference_models.load_mnist_idx",
        reference_models.load_mnist_idx,
        {"images_path": "x", "labels_path": "y"},
        {"images_path": _NOT_A_PATH},
        baseline=False,
    ),
    Case(
        "reference_models.DigitDCGANGenerator",
        reference_models.DigitDCGANGenerator,
        {"latent_dim": 8},
        {"latent_dim": bad_integers(1), "seed": bad_integers(0)},
    ),
    Case(
        "reference_models.DigitCNN",
        reference_models.DigitCNN,
        {},
        {
            "seed": bad_integers(0),
            "dropout": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0), NOT_NUMERIC),
        },
    ),
    Case(
        "reference_models.DCGANConfig", reference_models.DCGANConfig, {}, {"epochs": bad_integers(1), "loss": _STRINGS}
    ),
    Case("reference_models.DigitCNNConfig", reference_models.DigitCNNConfig, {}, {"epochs": bad_integers(1)}),
    Case(
        "reference_models.train_digit_dcgan",
        reference_models.train_digit_dcgan,
        {
            "latent_dim": 2,
            "config": reference_models.DCGANConfig(epochs=1, batch_size=2),
            "images": torch.zeros(2, 1, 28, 28),
            "progress": False,
        },
        {"latent_dim": bad_integers(1), "seed": bad_integers(0), "images": _NOT_A_TENSOR},
    ),
    Case(
        "reference_models.train_digit_cnn",
        reference_models.train_digit_cnn,
        {
            "images": torch.zeros(4, 1, 28, 28),
            "labels": torch.zeros(4, dtype=torch.long),
            "config": reference_models.DigitCNNConfig(epochs=1),
            "progress": False,
        },
        {"images": _NOT_A_TENSOR, "config": _NOT_A_TENSOR},
    ),
    Case(
        "reference_models.load_digit_dcgan",
        reference_models.load_digit_dcgan,
        {"latent_dim": 64},
        {
            "latent_dim": st.one_of(st.integers().filter(lambda x: x not in (64, 128)), bad_integers(1)),
            "weights_dir": _NOT_A_PATH,
        },
    ),
    Case("reference_models.load_digit_cnn", reference_models.load_digit_cnn, {}, {"weights_dir": _NOT_A_PATH}),
    Case(
        "reference_models.generated_class_frequencies",
        reference_models.generated_class_frequencies,
        {
            "generator": reference_models.DigitDCGANGenerator(4),
            "classifier": reference_models.DigitCNN(),
            "num_samples": 4,
        },
        {"num_samples": bad_integers(1), "seed": bad_integers(0), "classifier": NOT_NUMERIC},
    ),
    Case(
        "reference_models.retrain_image_models",
        reference_models.retrain_image_models,
        {"names": ["digit_cnn"]},
        {"names": st.lists(_STRINGS, min_size=1, max_size=2), "out_dir": _NOT_A_PATH},
        message_names={"names": "name"},
        baseline=False,
    ),
    Case(
        "experiments.run_grid_experiment",
        experiments.run_grid_experiment,
        {"names": ["w12d1"], "progress": False},
        {"num_samples": bad_integers(2), "seed": bad_integers(0)},
        baseline=False,
    ),
    Case(
        "experiments.run_vae_experiment",
        experiments.run_vae_experiment,
        {"progress": False},
        {"num_samples": bad_integers(2)},
        baseline=False,
    ),
    Case(
        "experiments.reproduce_grid",
        experiments.reproduce_grid,
        {"out_dir": None},
        {"out_dir": _NOT_A_PATH},
        baseline=False,
    ),
    Case(
        "experiments.grid_rank_correlation",
        experiments.grid_rank_correlation,
        {"frame": pd.DataFrame({"support_size": [1, 2, 3], "class_radius": [3.0, 2.0, 1.0]})},
        {"frame": st.one_of(NOT_NUMERIC, st.just(pd.DataFrame({"a": [1]})))},
    ),
]

# Public callables that take no user data worth malforming, with the reason.
EXEMPT: dict[str, str] = {
    "Estimate": "result container built by the library; its fields are not validated inputs",
    "RadiusResult": "result container built by the library",
    "Report": "result container built by genloose.evaluate",
    "Comparison": "result container built by genloose.compare",
    "CollisionProbabilityRange": "result container returned by theory.collision_probability_range",
    "ProofChain": "result container returned by theory.theorem_3_1_proof_chain",
    "QuantileBound": "result container returned by theory.lemma_b2_quantile_bound",
    "GridGAN": "container returned by reference_models.load_grid_gan",
    **{
        name: "testbed container built by its validated factory"
        for name in ("Testbed", "HalfspaceTestbed", "SectorsTestbed", "SpheresTestbed", "GridVoronoiTestbed")
    },
    **{
        name: "assertion helper: a failed check is an AssertionError by design; its argument errors are tested in "
        "tests/testing/test_assertions.py"
        for name in (
            "assert_estimate_close",
            "assert_radii_are_upper_bounds",
            "assert_radii_at_least_exact",
            "assert_radii_close_to_exact",
        )
    },
    **{
        name: "hypothesis strategy: bad arguments raise hypothesis' InvalidArgument by its convention, tested in "
        "tests/testing/test_strategies.py"
        for name in ("class_distributions", "label_arrays", "latent_batches", "testbeds")
    },
    "all_testbeds": "takes one latent_dim, checked like the factories it calls",
    "invertible_wrapper": "wraps a Testbed; argument errors tested in tests/testing/testbeds/test_base.py",
    "with_logit_scale": "wraps a Testbed; argument errors tested in tests/testing/testbeds/test_base.py",
}
