"""Exact numbers of a small report, a sharded merge and the accumulators, pinned bit for bit.

A refactor must leave every estimate, bound and check below unchanged; only a deliberate change of
behaviour updates a pin, in its own commit that says why. Floats are compared through ``float.hex``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from genloose import evaluate
from genloose.accumulators import CollisionAccumulator, RadiusAccumulator
from genloose.distributed import merge_radius_results
from genloose.metrics.radius import SearchConfig, class_radius


def _hex(value: Any) -> str:
    value = float(value)
    return "nan" if math.isnan(value) else value.hex()


def _estimate(prefix: str, estimate: Any) -> dict[str, Any]:
    out = {f"{prefix}.{field}": _hex(getattr(estimate, field)) for field in ("value", "stderr", "ci_low", "ci_high")}
    out[f"{prefix}.n"] = int(estimate.n)
    if hasattr(estimate, "hypothesis_holds"):
        out[f"{prefix}.hypothesis_holds"] = bool(estimate.hypothesis_holds)
    return out


def _eight_classes(x: torch.Tensor) -> torch.Tensor:
    return x[:, :8]  # eight argmax cones: max p about 1/8, so every theorem's hypothesis can hold


def fingerprint_report() -> dict[str, Any]:
    """Every estimate, bound and diagnostic of a small seeded report."""
    report = evaluate(torch.nn.Identity(), _eight_classes, latent_dim=8, num_samples=60, seed=3, progress=False)
    out: dict[str, Any] = {}
    for name, estimate in report.estimates().items():
        out.update(_estimate(name, estimate))
    d = report.diagnostics
    out.update(
        num_censored=int(d.num_censored),
        total_queries=int(d.total_queries),
        max_class_probability=_hex(d.max_class_probability),
        cap_respected=d.cap_respected,
        class_counts=[int(c) for c in report.class_counts],
        search_fawzi_cap=_hex(report.radius_result.fawzi_cap),
        search_fawzi_cap_stderr=_hex(report.radius_result.fawzi_cap_stderr),
        search_exceeds_cap=bool(report.radius_result.exceeds_cap),
    )
    return out


def fingerprint_merge() -> dict[str, Any]:
    """The aggregates of two shards merged, with certified lower bounds."""

    def run(n: int, offset: int) -> Any:
        return class_radius(
            torch.nn.Identity(),
            _eight_classes,
            latent_dim=8,
            num_samples=n,
            sample_offset=offset,
            seed=5,
            config=SearchConfig(pool_size=64, lipschitz=1.5),
            progress=False,
        )

    merged = merge_radius_results([run(7, 0), run(5, 7)], confidence=0.9)
    out = _estimate("estimate", merged.estimate)
    out.update(_estimate("lower_estimate", merged.lower_estimate))
    out.update(
        fawzi_cap=_hex(merged.fawzi_cap),
        fawzi_cap_stderr=_hex(merged.fawzi_cap_stderr),
        exceeds_cap=bool(merged.exceeds_cap),
    )
    return out


def fingerprint_accumulators() -> dict[str, Any]:
    """The streaming estimates of fixed radii and labels."""
    rng = np.random.default_rng(11)
    radius = RadiusAccumulator(confidence=0.9)
    radius.update(rng.exponential(size=17))
    radius.update(np.array([0.25, np.inf, 2.0]))
    collision = CollisionAccumulator(confidence=0.9)
    collision.update(rng.integers(0, 7, size=40))
    out = _estimate("radius", radius.compute())
    out.update(_estimate("collision_probability", collision.compute()))
    out.update(_estimate("collision_entropy", collision.collision_entropy()))
    out.update(_estimate("effective_number_of_classes", collision.effective_number_of_classes()))
    return out


PINNED: dict[str, dict[str, Any]] = {
    "accumulators": {
        "collision_entropy.ci_high": "0x1.115f4a1f063d4p+1",
        "collision_entropy.ci_low": "0x1.8dea6e4a9df86p+0",
        "collision_entropy.n": 40,
        "collision_entropy.stderr": "0x1.04fe54694aa86p-3",
        "collision_entropy.value": "0x1.ec4ffc1c45c74p+0",
        "collision_probability.ci_high": "0x1.b0cb1fe2d2eaap-3",
        "collision_probability.ci_low": "0x1.e3fb232b26dfdp-4",
        "collision_probability.n": 40,
        "collision_probability.stderr": "0x1.31295ec200a56p-6",
        "collision_probability.value": "0x1.2b52b52b52b53p-3",
        "effective_number_of_classes.ci_high": "0x1.0ed20f48f4533p+3",
        "effective_number_of_classes.ci_low": "0x1.2ed9e5a01d3e7p+2",
        "effective_number_of_classes.n": 40,
        "effective_number_of_classes.stderr": "0x1.be6fab55c9cf2p-1",
        "effective_number_of_classes.value": "0x1.b5e50d79435e5p+2",
        "radius.ci_high": "0x1.496d6845ec5e2p+0",
        "radius.ci_low": "0x1.0ca33d59963b7p-1",
        "radius.n": 19,
        "radius.stderr": "0x1.da7865033b5d1p-3",
        "radius.value": "0x1.cfbf06f2b77bdp-1",
    },
    "merge": {
        "estimate.ci_high": "0x1.63ab0dfe4f876p-1",
        "estimate.ci_low": "0x1.c7b29be3d62d8p-3",
        "estimate.n": 12,
        "estimate.stderr": "0x1.25f085b65db53p-3",
        "estimate.value": "0x1.d597b4f74512cp-2",
        "exceeds_cap": False,
        "fawzi_cap": "0x1.030a9c62fd1fdp-1",
        "fawzi_cap_stderr": "0x1.a9985d5f18ec6p-8",
        "lower_estimate.ci_high": "0x1.da3964d69627ep-2",
        "lower_estimate.ci_low": "0x1.2fcc5f7640c19p-3",
        "lower_estimate.n": 12,
        "lower_estimate.stderr": "0x1.87eb5e4324498p-4",
        "lower_estimate.value": "0x1.390fca48db445p-2",
    },
    "report": {
        "cap_respected": True,
        "class_counts": [12, 6, 10, 8, 2, 5, 7, 10],
        "class_radius.ci_high": "0x1.f11267676ec41p-2",
        "class_radius.ci_low": "0x1.3b243eb52c98bp-2",
        "class_radius.n": 60,
        "class_radius.stderr": "0x1.734b0cf480320p-5",
        "class_radius.value": "0x1.961b530e4dae6p-2",
        "collision_entropy.ci_high": "0x1.142979efd9487p+1",
        "collision_entropy.ci_low": "0x1.d3c32f2b6af82p+0",
        "collision_entropy.n": 60,
        "collision_entropy.stderr": "0x1.f697dda0ba9aep-5",
        "collision_entropy.value": "0x1.04a60a0ab4390p+1",
        "collision_entropy_upper_bound.ci_high": "0x1.7a791a22ce0d1p+8",
        "collision_entropy_upper_bound.ci_low": "0x1.bd58ce45f7687p+6",
        "collision_entropy_upper_bound.hypothesis_holds": True,
        "collision_entropy_upper_bound.n": 60,
        "collision_entropy_upper_bound.stderr": "0x1.db0bd3b634021p+5",
        "collision_entropy_upper_bound.value": "0x1.8243b9f9a2a2ep+7",
        "collision_probability.ci_high": "0x1.4972fa4617003p-3",
        "collision_probability.ci_low": "0x1.d98bf0a6dd911p-4",
        "collision_probability.n": 60,
        "collision_probability.stderr": "0x1.065ee63f142e2p-7",
        "collision_probability.value": "0x1.0b4806f13f596p-3",
        "effective_number_of_classes.ci_high": "0x1.14c9b68bd5044p+3",
        "effective_number_of_classes.ci_low": "0x1.8dda1d811d070p+2",
        "effective_number_of_classes.n": 60,
        "effective_number_of_classes.stderr": "0x1.e1613f7e842f0p-2",
        "effective_number_of_classes.value": "0x1.ea63bd81a98f0p+2",
        # added with the quantity (g is the identity here, so it equals the class radius)
        "image_distance.ci_high": "0x1.f11267676ec41p-2",
        "image_distance.ci_low": "0x1.3b243eb52c98bp-2",
        "image_distance.n": 60,
        "image_distance.stderr": "0x1.734b0cf480320p-5",
        "image_distance.value": "0x1.961b530e4dae6p-2",
        "fawzi_cap.ci_high": "0x1.fd0de561c4567p-2",
        "fawzi_cap.ci_low": "0x1.fc3ad28817a73p-2",
        "fawzi_cap.hypothesis_holds": True,
        "fawzi_cap.n": 2108,
        "fawzi_cap.stderr": "0x1.aec53b25d37a9p-13",
        "fawzi_cap.value": "0x1.fca45bf4edfedp-2",
        "max_class_probability": "0x1.999999999999ap-3",
        "num_censored": 0,
        "search_exceeds_cap": False,
        "search_fawzi_cap": "0x1.fca45bf4edfedp-2",
        "search_fawzi_cap_stderr": "0x1.aec53b25d37a9p-13",
        "theorem_3_1_bound.ci_high": "0x1.a3aab0e6a110ep+0",
        "theorem_3_1_bound.ci_low": "0x1.96afaf5d5df0fp+0",
        "theorem_3_1_bound.hypothesis_holds": True,
        "theorem_3_1_bound.n": 60,
        "theorem_3_1_bound.stderr": "0x1.2fd6c934fc6c7p-7",
        "theorem_3_1_bound.value": "0x1.9b47b207e3bcbp+0",
        "theorem_3_2_bound.ci_high": "nan",
        "theorem_3_2_bound.ci_low": "nan",
        "theorem_3_2_bound.hypothesis_holds": True,
        "theorem_3_2_bound.n": 60,
        "theorem_3_2_bound.stderr": "nan",
        "theorem_3_2_bound.value": "0x1.999fae7ed1bf9p+0",
        "total_queries": 58928,
    },
}


def _check(name: str, actual: dict[str, Any]) -> None:
    expected = PINNED[name]
    assert sorted(actual) == sorted(expected)
    changed = {key: (actual[key], expected[key]) for key in expected if actual[key] != expected[key]}
    assert not changed, f"{name}: numbers changed (actual, pinned): {changed}"


def test_report_numbers_are_pinned() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numbers = fingerprint_report()
    _check("report", numbers)
    # one Fawzi cap: the report's is the search's (sample and seeding-pool counts), error included
    assert numbers["fawzi_cap.value"] == numbers["search_fawzi_cap"]
    assert numbers["fawzi_cap.stderr"] == numbers["search_fawzi_cap_stderr"]


def test_merge_numbers_are_pinned() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check("merge", fingerprint_merge())


def test_accumulator_numbers_are_pinned() -> None:
    _check("accumulators", fingerprint_accumulators())
