"""Tests of genloose.evaluate and the Report (genloose/evaluate.py, genloose/report.py)."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import genloose
from genloose import SearchConfig, evaluate
from genloose._errors import (
    BoundHypothesisWarning,
    InvalidArgumentError,
    ModelOutputError,
    UndefinedMetricWarning,
)
from genloose.report import (
    BOUND_QUANTITIES,
    DIAGNOSTIC_QUANTITIES,
    ESTIMATE_QUANTITIES,
    FRAME_DTYPES,
    BoundEstimate,
    Report,
    empty_frame,
    reports_to_frame,
)
from genloose.testing import sectors, spheres
from genloose.theory import (
    collision_entropy_upper_bound,
    fawzi_bound,
    theorem_3_1_bound,
    theorem_3_2_bound,
)

TINY_POOL = SearchConfig(pool_size=32)  # a small seeding pool
SMALL_POOL = SearchConfig(pool_size=64)  # a small seeding pool
POOL = SearchConfig(pool_size=256)  # the fixtures' seeding pool

N = 300


@pytest.fixture(scope="module")
def ten_sectors() -> tuple[object, Report]:
    tb = sectors(3, 10)
    return tb, evaluate(tb.generator, tb.classifier, latent_dim=3, num_samples=N, seed=3, config=POOL, progress=False)


@pytest.fixture(scope="module")
def two_shells() -> tuple[object, Report]:
    tb = spheres(2, [1.0])  # p = (1 - e^{-1/2}, e^{-1/2}): two classes, non-uniform
    return tb, evaluate(tb.generator, tb.classifier, latent_dim=2, num_samples=N, seed=4, config=POOL, progress=False)


# ----------------------------------------------------------------------------------------------
# values against exact answers
# ----------------------------------------------------------------------------------------------


def test_estimates_agree_with_the_exact_testbed(ten_sectors) -> None:
    tb, report = ten_sectors
    p = tb.class_probabilities()
    q = float(np.sum(p**2))
    # the radius is an upper estimate: exact <= mean + 4 SE, and the search error is far below the MC error
    exact_radius = tb.exact_mean_radius()
    assert abs(report.class_radius.value - exact_radius) <= 4 * report.class_radius.stderr
    assert abs(report.collision_probability.value - q) <= 4 * report.collision_probability.stderr
    assert abs(report.collision_entropy.value + math.log(q)) <= 4 * report.collision_entropy.stderr
    assert abs(report.effective_number_of_classes.value - 1 / q) <= 4 * report.effective_number_of_classes.stderr
    # per-point results are exact to the search tolerance (rtol 1e-4) and float32 rounding (~1e-6 |z|)
    z = report.radius_result.latents
    np.testing.assert_allclose(report.radius_result.radii, tb.exact_radius(z), rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(report.radius_result.labels, tb.label(z))


def test_collision_metrics_use_the_search_labels(ten_sectors) -> None:
    _, report = ten_sectors
    labels = report.radius_result.labels
    counts = np.bincount(labels, minlength=10)
    np.testing.assert_array_equal(report.class_counts, counts)
    u = float(np.sum(counts * (counts - 1)) / (N * (N - 1)))
    assert report.collision_probability.value == pytest.approx(u, rel=1e-12)
    np.testing.assert_allclose(report.class_probabilities, counts / N)
    assert report.class_radius == report.radius_result.estimate


def test_each_model_call_is_made_once() -> None:
    """evaluate() makes exactly the calls class_radius makes: the labels are reused, not recomputed."""
    tb = sectors(3, 4)
    calls = {"n": 0}

    def counting_generator(z: torch.Tensor) -> torch.Tensor:
        calls["n"] += z.shape[0]
        return tb.generator(z)

    genloose.class_radius(
        counting_generator, tb.classifier, latent_dim=3, num_samples=40, config=TINY_POOL, progress=False
    )
    alone = calls["n"]
    calls["n"] = 0
    evaluate(counting_generator, tb.classifier, latent_dim=3, num_samples=40, config=TINY_POOL, progress=False)
    assert calls["n"] == alone


def test_bounds_are_the_theory_functions_at_the_estimates(ten_sectors) -> None:
    tb, report = ten_sectors
    b = report.bounds
    q = report.collision_probability
    # the cap is at the frequencies of the sample and the seeding pool: the search's own cap, the same number
    with_pool = report.radius_result.class_counts_with_pool
    assert b.fawzi_cap.value == pytest.approx(fawzi_bound(with_pool[with_pool > 0] / with_pool.sum()), rel=1e-12)
    assert b.fawzi_cap.value == report.radius_result.fawzi_cap
    assert b.fawzi_cap.stderr == report.radius_result.fawzi_cap_stderr
    assert b.fawzi_cap.n == int(with_pool.sum())
    assert b.fawzi_cap.hypothesis_holds
    assert b.theorem_3_1_bound.hypothesis_holds  # max p̂ <= 1/5 for 10 equal classes and n = 300
    assert b.theorem_3_1_bound.value == pytest.approx(theorem_3_1_bound(q.value), rel=1e-12)
    assert b.theorem_3_1_bound.ci_low == pytest.approx(theorem_3_1_bound(q.ci_low), rel=1e-12)
    assert b.theorem_3_1_bound.ci_high == pytest.approx(theorem_3_1_bound(min(q.ci_high, 0.2)), rel=1e-12)
    assert b.theorem_3_2_bound.value == pytest.approx(theorem_3_2_bound(10), rel=1e-12)
    assert math.isnan(b.theorem_3_2_bound.ci_low)
    r = report.class_radius
    assert b.collision_entropy_upper_bound.value == pytest.approx(collision_entropy_upper_bound(r.value), rel=1e-12)
    assert b.collision_entropy_upper_bound.ci_low == pytest.approx(collision_entropy_upper_bound(r.ci_high), rel=1e-12)
    assert b.collision_entropy_upper_bound.ci_high == pytest.approx(collision_entropy_upper_bound(r.ci_low), rel=1e-12)
    # the bounds hold at the truth for this model: radius <= cap, radius <= g(q), H <= G^-1(radius)
    exact_p = tb.class_probabilities()
    assert tb.exact_mean_radius() <= fawzi_bound(exact_p)
    assert report.diagnostics.cap_respected
    assert b.theorem_3_1_bound.contains(theorem_3_1_bound(float(np.sum(exact_p**2))))


def test_failed_hypotheses_give_nan_and_a_flag_without_warnings(two_shells) -> None:
    _, report = two_shells
    b = report.bounds
    for bound in (b.theorem_3_1_bound, b.theorem_3_2_bound, b.collision_entropy_upper_bound):
        assert not bound.hypothesis_holds
        assert math.isnan(bound.value)
        assert math.isnan(bound.ci_low)
        assert math.isnan(bound.ci_high)
        assert bound.hypothesis
    assert math.isfinite(b.fawzi_cap.value)
    tb = spheres(2, [1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundHypothesisWarning)
        evaluate(tb.generator, tb.classifier, latent_dim=2, num_samples=50, config=SMALL_POOL, progress=False)


# ----------------------------------------------------------------------------------------------
# exports: frame, dict, JSON, repr
# ----------------------------------------------------------------------------------------------


def test_frame_has_the_fixed_schema(ten_sectors) -> None:
    _, report = ten_sectors
    frame = report.to_frame()
    expected_dtypes = pd.Series({k: pd.api.types.pandas_dtype(v) for k, v in FRAME_DTYPES.items()})
    pd.testing.assert_series_equal(frame.dtypes, expected_dtypes, check_names=False)
    pd.testing.assert_frame_equal(frame.iloc[:0].reset_index(drop=True), empty_frame())
    assert frame["quantity"].tolist() == [*ESTIMATE_QUANTITIES, *BOUND_QUANTITIES, *DIAGNOSTIC_QUANTITIES]
    row = frame.set_index("quantity").loc["class_radius"]
    assert row["value"] == report.class_radius.value
    assert row["n"] == report.class_radius.n
    assert (frame["seed"] == 3).all()
    assert (frame["world_size"] == 1).all()
    assert (frame["genloose_version"] == genloose.__version__).all()
    assert frame["hypothesis_holds"].isna().sum() == len(ESTIMATE_QUANTITIES) + len(DIAGNOSTIC_QUANTITIES)
    assert frame.set_index("quantity").loc["cap_respected", "value"] == 1.0
    wide = frame.pivot(index="quantity", columns="seed", values="value")
    assert wide.shape == (len(frame), 1)


def test_reports_to_frame_adds_a_model_column(ten_sectors, two_shells) -> None:
    frame = reports_to_frame([ten_sectors[1], two_shells[1]], names=["sectors", "shells"])
    pd.testing.assert_frame_equal(frame.iloc[:0].reset_index(drop=True), empty_frame(with_model=True))
    assert frame["model"].tolist()[:1] == ["sectors"]
    assert frame["model"].tolist()[-1] == "shells"
    assert len(frame) == 2 * len(ten_sectors[1].to_frame())
    assert reports_to_frame([ten_sectors[1]])["model"].unique().tolist() == ["model_0"]
    with pytest.raises(InvalidArgumentError, match="distinct"):
        reports_to_frame([ten_sectors[1], two_shells[1]], names=["x", "x"])
    with pytest.raises(InvalidArgumentError, match="one str per report"):
        reports_to_frame([ten_sectors[1]], names=["x", "y"])
    with pytest.raises(InvalidArgumentError, match="non-empty sequence"):
        reports_to_frame([])
    with pytest.raises(InvalidArgumentError, match=r"reports\[1\] must be a Report"):
        reports_to_frame([ten_sectors[1], "report"])


def test_dict_and_json_have_stable_keys(ten_sectors) -> None:
    _, report = ten_sectors
    data = report.to_dict()
    expected = []
    for name in (*ESTIMATE_QUANTITIES, *BOUND_QUANTITIES):
        expected += [f"{name}_{s}" for s in ("value", "stderr", "ci_low", "ci_high", "n", "method")]
        if name in BOUND_QUANTITIES:
            expected.append(f"{name}_hypothesis_holds")
    expected += ["confidence", *DIAGNOSTIC_QUANTITIES, "class_counts", "class_probabilities"]
    expected += [
        "seed",
        "latent_dim",
        "num_samples",
        "access",
        "world_size",
        "num_classes",
        "device",
        "dtype",
        "genloose_version",
        "torch_version",
        "python_version",
    ]
    assert list(data) == expected
    assert all(key == key.lower() and " " not in key for key in data)
    text = report.to_json()
    loaded = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert loaded["theorem_3_2_bound_ci_low"] is None  # NaN -> null
    assert loaded["class_radius_value"] == data["class_radius_value"]
    assert loaded["class_counts"] == data["class_counts"]


@pytest.mark.filterwarnings("ignore::genloose.UndefinedMetricWarning")
def test_json_encodes_infinity_as_a_string(single_class_report) -> None:
    report = single_class_report
    loaded = json.loads(report.to_json())
    assert loaded["fawzi_cap_value"] == "inf"


def test_repr_is_a_readable_table(ten_sectors, two_shells) -> None:
    text = repr(ten_sectors[1])
    assert text.startswith("genloose Report: num_samples=300, latent_dim=3, seed=3")
    for label in ("class radius", "collision probability", "collision entropy", "Fawzi cap", "Theorem 3.1"):
        assert label in text
    assert "hypothesis fails" in repr(two_shells[1])
    assert str(ten_sectors[1]) == text
    assert "<table" in ten_sectors[1]._repr_html_()


def test_summary_says_which_bounds_hold_and_which_are_vacuous(ten_sectors, two_shells) -> None:
    _, report = ten_sectors
    lines = report.summary().splitlines()
    assert len(lines) == 6
    r = report.class_radius
    assert lines[0] == (
        f"class radius <= {r.value:.4g} (95% CI {r.ci_low:.4g} to {r.ci_high:.4g}), an upper estimate from {N} "
        "points, white-box search"
    )
    assert lines[1].endswith(f"at most log K = {math.log(10):.4g} for K = 10 classes")
    assert lines[2].endswith("the radius is within it")
    assert report.bounds.theorem_3_1_bound.hypothesis_holds
    assert lines[3] == (
        f"Theorem 3.1: E r <= g(||p||²) = {report.bounds.theorem_3_1_bound.value:.4g}, hypothesis holds; vacuous "
        "(above the Fawzi cap, which always holds)"
    )
    entropy_bound = report.bounds.collision_entropy_upper_bound.value
    assert entropy_bound > math.log(10)  # hundreds of nats: says nothing about 10 classes
    assert lines[5] == (
        f"entropy bound G⁻¹(radius) = {entropy_bound:.4g} nats, hypothesis holds; vacuous (the collision entropy "
        f"never exceeds log K = {math.log(10):.4g})"
    )
    lines = two_shells[1].summary().splitlines()
    assert lines[3].startswith("Theorem 3.1: does not apply (hypothesis every p_k <= 1/5 fails: max p̂ = ")
    assert lines[4] == "Theorem 3.2: does not apply (hypothesis K >= 5 fails: K = 2 observed)"
    assert lines[5] == "entropy bound G⁻¹(radius): does not apply (Theorem 3.1's hypothesis fails)"


@pytest.mark.filterwarnings("ignore::genloose.UndefinedMetricWarning")
@pytest.mark.filterwarnings("ignore::genloose.SearchFailureWarning")
def test_summary_of_a_single_class_model(single_class_report) -> None:
    report = single_class_report
    lines = report.summary().splitlines()
    assert lines[0] == "class radius: undefined (all 20 points censored: no witness found)"
    assert lines[1].startswith("collision entropy 0 nats")  # not -0
    assert lines[2] == "Fawzi cap: infinite (one class: no boundary)"


def test_save_json_and_csv_refuse_to_overwrite(ten_sectors, tmp_path) -> None:
    _, report = ten_sectors
    report.save_json(tmp_path / "r.json")
    report.save_csv(tmp_path / "r.csv")
    with pytest.raises(InvalidArgumentError, match="must not exist"):
        report.save_json(tmp_path / "r.json")
    report.save_csv(tmp_path / "r.csv", overwrite=True)
    back = pd.read_csv(tmp_path / "r.csv")
    assert back["quantity"].tolist() == report.to_frame()["quantity"].tolist()


# ----------------------------------------------------------------------------------------------
# invariances and edge cases
# ----------------------------------------------------------------------------------------------


def test_report_does_not_depend_on_batch_size_and_leaves_rng_alone() -> None:
    tb = sectors(3, 5)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    small = evaluate(
        tb.generator, tb.classifier, latent_dim=3, num_samples=60, batch_size=7, config=SMALL_POOL, progress=False
    )
    large = evaluate(
        tb.generator, tb.classifier, latent_dim=3, num_samples=60, batch_size=64, config=SMALL_POOL, progress=False
    )
    assert small.to_dict() == large.to_dict()
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()


def test_single_class_model_is_documented_not_an_error(single_class_model) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = evaluate(**single_class_model)
    assert any(issubclass(w.category, UndefinedMetricWarning) for w in caught)
    assert math.isnan(report.class_radius.value)
    assert report.diagnostics.num_censored == 20
    assert report.collision_probability.value == 1.0
    assert report.class_counts.tolist() == [20, 0, 0]
    assert report.diagnostics.num_observed_classes == 1
    assert report.diagnostics.cap_respected  # nothing contradicts the (infinite) cap
    assert isinstance(report.bounds.fawzi_cap, BoundEstimate)


def test_bad_input_is_named() -> None:
    tb = sectors(3, 4)
    with pytest.raises(InvalidArgumentError, match="num_samples must be an integer >= 2"):
        evaluate(tb.generator, tb.classifier, latent_dim=3, num_samples=1)
    with pytest.raises(InvalidArgumentError, match="seed"):
        evaluate(tb.generator, tb.classifier, latent_dim=3, num_samples=10, seed=-1)
    with pytest.raises(InvalidArgumentError, match="confidence"):
        evaluate(tb.generator, tb.classifier, latent_dim=3, num_samples=10, confidence=1.0)
    with pytest.raises(InvalidArgumentError, match="access"):
        evaluate(tb.generator, tb.classifier, latent_dim=3, num_samples=10, access="grey-box")
    with pytest.raises(InvalidArgumentError, match="latent_dim must be given"):
        evaluate(tb.generator, tb.classifier, num_samples=10)
    with pytest.raises(InvalidArgumentError, match="generator must be callable"):
        evaluate("not a model", tb.classifier, latent_dim=3, num_samples=10)
    with pytest.raises(ModelOutputError, match="NaN"):
        evaluate(lambda z: z * float("nan"), tb.classifier, latent_dim=3, num_samples=10, progress=False)
    with pytest.raises(ModelOutputError, match="one sample per latent"):
        evaluate(lambda z: z[:-1], tb.classifier, latent_dim=3, num_samples=10, progress=False)
    with pytest.raises(ModelOutputError, match="classifier"):
        evaluate(tb.generator, lambda x: x[:, 0], latent_dim=3, num_samples=10, progress=False)


# ----------------------------------------------------------------------------------------------
# access="auto" falling back to label-only search
# ----------------------------------------------------------------------------------------------


def _fallback_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "uses label-only (black-box) search" in str(w.message)]


def test_auto_fallback_to_label_only_is_announced_once_with_reason_and_cost() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = evaluate(
            torch.nn.Identity(),
            lambda x: x[:, :3].argmax(1),
            latent_dim=3,
            num_classes=3,
            num_samples=20,
            progress=False,
        )
    assert report.metadata.access == "black-box"
    (message,) = _fallback_warnings(caught)
    assert message.startswith(
        "access='auto' uses label-only (black-box) search: the classifier's output carries no "
        "gradient with respect to the latents"
    )
    assert "up to 1450 calls of c∘g per point at d=3, about 1.5 times the gradient search (960)" in message
    assert "pass access='black-box' to choose it" in message
    assert all(issubclass(w.category, genloose.GenlooseWarning) for w in caught if str(w.message) == message)


def test_numpy_models_are_announced_before_the_search() -> None:
    numpy_classifier = genloose.Classifier(lambda x: x[:, :3], backend="numpy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(torch.nn.Identity(), numpy_classifier, latent_dim=3, num_samples=20, progress=False)
    (message,) = _fallback_warnings(caught)
    assert "the classifier is a numpy model (backend='numpy'), which cannot be differentiated" in message


@pytest.mark.parametrize("access", ["black-box", "auto"])
def test_no_fallback_warning_when_chosen_or_not_needed(access: str) -> None:
    classifier = (lambda x: x[:, :3].argmax(1)) if access == "black-box" else (lambda x: x[:, :3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(
            torch.nn.Identity(), classifier, latent_dim=3, num_classes=3, num_samples=20, access=access, progress=False
        )
    assert _fallback_warnings(caught) == []


def _two_halves(x):
    return torch.stack([x[:, 0], -x[:, 0]], 1)


def test_evaluate_with_precision_labels_the_same_sample_and_reaches_the_precision() -> None:
    plain = genloose.evaluate(torch.nn.Identity(), _two_halves, latent_dim=3, num_samples=200, seed=4, progress=False)
    report = genloose.evaluate(
        torch.nn.Identity(), _two_halves, latent_dim=3, num_samples=200, seed=4, precision=0.05, progress=False
    )
    # the collision metrics come from the same 200 labelled points, the radius from the multilevel run
    assert report.collision_probability == plain.collision_probability
    assert (report.class_counts == plain.class_counts).all()
    assert report.metadata.num_samples == 200
    summary = report.radius_result.precision
    assert summary.met
    assert report.class_radius.ci_high - report.class_radius.value <= 0.05 * report.class_radius.value
    assert report.diagnostics.total_queries == summary.total_calls + 200
    # E r = sqrt(2/pi) for two half-spaces; 4 standard errors plus the search's relative error
    assert abs(report.class_radius.value - math.sqrt(2 / math.pi)) <= 4 * report.class_radius.stderr + 1e-3
    back = genloose.Report.from_json(report.to_json())
    assert back.class_radius == report.class_radius
    assert back.radius_result.precision.to_frame().equals(summary.to_frame())


def test_reports_made_with_precision_compare_unpaired_only() -> None:
    def run(seed: int) -> genloose.Report:
        return genloose.evaluate(
            torch.nn.Identity(), _two_halves, latent_dim=2, num_samples=50, seed=seed, precision=0.2, progress=False
        )

    a, b = run(1), run(2)
    assert not genloose.compare(a, b).paired
    with pytest.raises(genloose.InvalidArgumentError, match="different seeds"):
        genloose.compare(a, run(1))


@pytest.mark.parametrize("precision", [0, 1.5, "0.1", True])
def test_evaluate_refuses_a_bad_precision_by_name(precision: Any) -> None:
    with pytest.raises(genloose.InvalidArgumentError, match="precision"):
        genloose.evaluate(torch.nn.Identity(), _two_halves, latent_dim=2, num_samples=10, precision=precision)
