"""Tests of genloose.evaluate and the Report's values (genloose/_evaluate.py, genloose/report.py); the exports are
tested in tests/test_report_export.py."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
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
    BoundEstimate,
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

N = 300  # the sample size of the ten_sectors and two_shells fixtures (tests/conftest.py)


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
    assert report.diagnostics.cap_respected is None  # no finite estimate and an infinite cap: nothing to check
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
    # the 200 labels and the labelling's function check (a few probe rows) come on top of the run's calls
    assert summary.total_calls + 200 <= report.diagnostics.total_queries <= summary.total_calls + 200 + 64
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


def test_the_cap_check_is_reported_as_not_made_where_it_does_not_apply() -> None:
    from genloose.report import build_report

    options = {"latent_dim": 2, "progress": False}
    given = genloose.class_radius(torch.nn.Identity(), _two_halves, latents=np.ones((5, 2)), **options)
    sampled = genloose.class_radius(torch.nn.Identity(), _two_halves, num_samples=5, **options)
    build = {"confidence": 0.95, "num_classes": 2, "world_size": 1, "device": "cpu", "dtype": "float32"}
    not_checked = build_report(given, **build)
    assert not_checked.diagnostics.cap_respected is None
    assert "not checked" in not_checked.summary()
    assert math.isnan(not_checked.to_frame().set_index("quantity").loc["cap_respected", "value"])
    assert genloose.Report.from_json(not_checked.to_json()).diagnostics.cap_respected is None
    assert build_report(sampled, **build).diagnostics.cap_respected is True


def test_with_precision_the_sample_is_labelled_before_the_search_so_a_broken_model_stops_it_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import genloose._evaluate as evaluate_module

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the multilevel search ran before the sample was labelled")

    monkeypatch.setattr(evaluate_module, "class_radius_to_precision", must_not_run)
    calls = {"n": 0}

    def nan_after_the_probe(z: torch.Tensor) -> torch.Tensor:  # fine on the probe's first calls, then NaN
        calls["n"] += 1
        return z if calls["n"] <= 3 else torch.full_like(z, math.nan)

    with pytest.raises(genloose.ModelOutputError):
        genloose.evaluate(
            nan_after_the_probe, _two_halves, latent_dim=2, num_samples=5000, precision=0.1, seed=0, progress=False
        )
