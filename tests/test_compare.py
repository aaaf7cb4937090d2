"""Tests of genloose.compare: calibration under the null, power, and inconsistent inputs.

The calibration tests build reports from exact testbeds (exact per-point radii and labels, through the same
``build_report`` that ``evaluate`` uses) so that hundreds of replications run in a second; an end-to-end
version through ``evaluate`` is marked slow. Each replication count and seed is fixed, and the rejection
counts are checked with an exact binomial test at level 0.01 against alpha: a correct implementation
fails it with probability 1%, for a given choice of seeds (which is then fixed).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binomtest

from genloose import SearchConfig, evaluate
from genloose._compare import COMPARISON_DTYPES, Comparison, compare
from genloose._errors import InvalidArgumentError
from genloose.estimate import Estimate
from genloose.metrics.radius.result import RadiusResult
from genloose.metrics.radius.sampling import sample_latents
from genloose.report import Report, build_report
from genloose.testing import halfspace, sectors, spheres

POOL_64 = SearchConfig(pool_size=64)  # a small seeding pool

ALPHA = 0.05
BINOMIAL_LEVEL = 0.01


def exact_report(tb, *, seed: int, n: int, confidence: float = 0.95) -> Report:
    """A report with the exact radii and labels of ``tb`` at the seeded latents (no search)."""
    z = sample_latents(seed, tb.latent_dim, n)
    radii = tb.exact_radius(z)
    labels = tb.label(z)
    counts = np.bincount(labels, minlength=tb.num_classes).astype(np.int64)
    estimate = Estimate.from_normal(
        float(radii.mean()), float(radii.std(ddof=1) / math.sqrt(n)), n=n, confidence=confidence, method="exact"
    )
    result = RadiusResult(
        latents=z,
        radii=radii,
        witnesses=tb.nearest_boundary_point(z),
        labels=labels,
        witness_labels=np.zeros(n, dtype=np.int64),
        censored=np.zeros(n, dtype=bool),
        queries=np.zeros(n, dtype=np.int64),
        pool_queries=0,
        estimate=estimate,
        access="white-box",
        seed=seed,
        class_counts_with_pool=counts,
        fawzi_cap=math.inf,
        fawzi_cap_stderr=math.nan,
        exceeds_cap=False,
        censoring="excluded",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_report(
            result, confidence=confidence, num_classes=tb.num_classes, world_size=1, device="cpu", dtype="float64"
        )


def _rejections(comparisons: list[Comparison], quantity: str) -> int:
    return sum(getattr(c, quantity).p_value < ALPHA for c in comparisons)


def _assert_nominal(count: int, trials: int) -> None:
    result = binomtest(count, trials, ALPHA)
    assert result.pvalue > BINOMIAL_LEVEL, f"{count}/{trials} rejections at alpha={ALPHA}: p={result.pvalue:.2g}"


# ----------------------------------------------------------------------------------------------
# calibration under the null
# ----------------------------------------------------------------------------------------------


def test_independent_tests_have_the_nominal_false_positive_rate() -> None:
    """Two identical models, independent seeds: each test rejects in about alpha of the replications."""
    tb = spheres(2, [0.6, 1.8])  # three classes, p = (0.165, 0.637, 0.198)
    trials, n = 300, 600
    comparisons = [
        compare(exact_report(tb, seed=2 * i + 1000, n=n), exact_report(tb, seed=2 * i + 1001, n=n))
        for i in range(trials)
    ]
    assert not any(c.paired for c in comparisons)
    for quantity in ("class_radius", "collision_probability"):
        _assert_nominal(_rejections(comparisons, quantity), trials)
    # entropy and effective number share the collision probability's test
    for c in comparisons:
        assert c.collision_entropy.p_value == c.collision_probability.p_value
        assert c.effective_number_of_classes.p_value == c.collision_probability.p_value
    # the reported interval of the difference covers the true difference (0) at the nominal rate
    for quantity in ("class_radius", "collision_probability", "collision_entropy", "effective_number_of_classes"):
        misses = sum(not getattr(c, quantity).difference.contains(0.0) for c in comparisons)
        _assert_nominal(misses, trials)


def test_paired_tests_have_the_nominal_false_positive_rate() -> None:
    """Two different models with the same radius and class distributions, on the same latents.

    Half-spaces at the same offset with normals e0 and (e0 + e1)/sqrt(2): per-point radii and labels differ
    and are correlated, their distributions are equal.
    """
    d, offset = 3, 0.4
    a = halfspace(d, offset=offset, normal=[1.0, 0.0, 0.0])
    b = halfspace(d, offset=offset, normal=[math.sqrt(0.5), math.sqrt(0.5), 0.0])
    trials, n = 300, 600
    comparisons = [compare(exact_report(a, seed=i, n=n), exact_report(b, seed=i, n=n)) for i in range(trials)]
    assert all(c.paired for c in comparisons)
    for quantity in ("class_radius", "collision_probability"):
        _assert_nominal(_rejections(comparisons, quantity), trials)
    # the paired standard errors are those of the differences across replications (within sampling error:
    # the SD of 400 values has relative error ~3.5%; allow 4 of those)
    for quantity in ("class_radius", "collision_probability", "collision_entropy"):
        differences = np.array([getattr(c, quantity).difference.value for c in comparisons])
        mean_se = float(np.sqrt(np.mean([getattr(c, quantity).difference.stderr ** 2 for c in comparisons])))
        assert mean_se == pytest.approx(differences.std(ddof=1), rel=0.14), quantity
    # pairing matters: the independent-samples standard error would be far off for correlated models
    c = comparisons[0]
    independent_se = math.hypot(c.report_a.class_radius.stderr, c.report_b.class_radius.stderr)
    assert c.class_radius.difference.stderr < 0.9 * independent_se


@pytest.mark.slow
def test_end_to_end_false_positive_rate_through_evaluate() -> None:
    """As above, with the real search (GENLOOSE_SLOW=1; about two minutes)."""
    tb = spheres(2, [0.6, 1.8])
    trials, n = 300, 300
    comparisons = []
    for i in range(trials):
        reports = [
            evaluate(tb.generator, tb.classifier, latent_dim=2, num_samples=n, seed=s, config=POOL_64, progress=False)
            for s in (2 * i + 5000, 2 * i + 5001)
        ]
        comparisons.append(compare(*reports))
    for quantity in ("class_radius", "collision_probability"):
        _assert_nominal(_rejections(comparisons, quantity), trials)


# ----------------------------------------------------------------------------------------------
# power and verdicts
# ----------------------------------------------------------------------------------------------


def test_detects_a_looser_model_and_names_it() -> None:
    """Shifting the latents makes one class dominate and its region looser: less diverse by every measure."""
    tb = halfspace(2, normal=[1.0, 0.0])
    shift = torch.tensor([1.0, 0.0])
    result = compare(
        tb.generator,
        lambda z: tb.generator(z) + shift.to(z.dtype),
        classifier=tb.classifier,
        latent_dim=2,
        num_samples=200,
        seed=0,
        names=("centred", "shifted"),
        progress=False,
    )
    assert result.paired
    verdicts = result.verdicts()
    assert verdicts == dict.fromkeys(verdicts, "centred")
    assert result.class_radius.difference.value < 0
    assert result.collision_probability.difference.value < 0
    assert result.collision_entropy.difference.value > 0
    # the paired difference's interval covers the exact difference of the class radii
    exact = tb.exact_mean_radius() - halfspace(2, offset=1.0, normal=[1.0, 0.0]).exact_mean_radius()
    assert result.class_radius.difference.contains(exact)
    swapped = compare(result.report_b, result.report_a, names=("shifted", "centred"))
    assert swapped.class_radius.more_diverse == "centred"
    assert swapped.class_radius.p_value == pytest.approx(result.class_radius.p_value)


def test_same_report_twice_is_inconclusive() -> None:
    report = exact_report(sectors(3, 6), seed=1, n=100)
    result = compare(report, report)
    assert result.paired
    for q in result.quantities().values():
        assert q.difference.value == 0.0
        assert q.p_value == 1.0
        assert q.more_diverse == "inconclusive"


def test_frame_and_dict_have_fixed_schemas() -> None:
    tb = sectors(3, 6)
    result = compare(exact_report(tb, seed=1, n=80), exact_report(tb, seed=2, n=90), names=("x", "y"))
    frame = result.to_frame()
    expected = pd.DataFrame({k: pd.Series([], dtype=v) for k, v in COMPARISON_DTYPES.items()})
    pd.testing.assert_frame_equal(frame.iloc[:0].reset_index(drop=True), expected)
    assert frame["quantity"].tolist() == [
        "class_radius",
        "collision_probability",
        "collision_entropy",
        "effective_number_of_classes",
    ]
    assert set(frame["more_diverse"]) <= {"x", "y", "inconclusive"}
    assert (frame["model_a"] == "x").all()
    assert not frame["paired"].any()
    data = result.to_dict()
    assert data["class_radius_difference"] == result.class_radius.difference.value
    assert data["model_b"] == "y"
    assert data["alpha"] == ALPHA
    text = repr(result)
    assert text.startswith("genloose Comparison: x vs y, independent samples")
    assert "collision_probability" in text


def test_welch_test_against_scipy() -> None:
    """The independent radius test is Welch's t-test on the per-point radii."""
    from scipy.stats import ttest_ind

    tb = sectors(3, 6)
    a, b = exact_report(tb, seed=11, n=60), exact_report(halfspace(3), seed=12, n=90)
    b = _with(b, num_classes=6)
    result = compare(a, b)
    expected = ttest_ind(a.radius_result.radii, b.radius_result.radii, equal_var=False)
    assert result.class_radius.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.class_radius.statistic == pytest.approx(expected.statistic, rel=1e-9)


def test_paired_radius_test_against_scipy() -> None:
    from scipy.stats import ttest_rel

    a = exact_report(halfspace(3, offset=0.2, normal=[1.0, 0.0, 0.0]), seed=5, n=70)
    b = exact_report(halfspace(3, offset=0.3, normal=[0.0, 1.0, 1.0]), seed=5, n=70)
    result = compare(a, b)
    expected = ttest_rel(a.radius_result.radii, b.radius_result.radii)
    assert result.class_radius.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def _with(report: Report, **metadata) -> Report:
    from dataclasses import replace

    return replace(report, metadata=replace(report.metadata, **metadata))


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------


def test_inconsistent_reports_are_refused() -> None:
    tb = sectors(3, 6)
    a = exact_report(tb, seed=1, n=50)
    b = exact_report(tb, seed=2, n=50)
    with pytest.raises(InvalidArgumentError, match="same latent_dim"):
        compare(a, exact_report(sectors(4, 6), seed=2, n=50))
    with pytest.raises(InvalidArgumentError, match="same confidence"):
        compare(a, exact_report(tb, seed=2, n=50, confidence=0.9))
    with pytest.raises(InvalidArgumentError, match="same access"):
        compare(a, _with(b, access="black-box"))
    with pytest.raises(InvalidArgumentError, match="same number of classes"):
        compare(a, exact_report(sectors(3, 5), seed=2, n=50))
    with pytest.raises(InvalidArgumentError, match="samples overlap"):
        compare(a, exact_report(tb, seed=1, n=60))
    with pytest.raises(InvalidArgumentError, match="not their latents"):
        compare(a, _with(exact_report(tb, seed=3, n=50), seed=1))
    with pytest.raises(InvalidArgumentError, match="classifier must not be given"):
        compare(a, b, classifier=tb.classifier)
    with pytest.raises(InvalidArgumentError, match="both be Reports"):
        compare(a, tb.generator)
    with pytest.raises(InvalidArgumentError, match="classifier must be given"):
        compare(tb.generator, tb.generator, latent_dim=3, num_samples=10)
    with pytest.raises(InvalidArgumentError, match="num_samples must be given"):
        compare(tb.generator, tb.generator, classifier=tb.classifier, latent_dim=3)
    with pytest.raises(InvalidArgumentError, match="alpha"):
        compare(a, b, alpha=1.5)
    with pytest.raises(InvalidArgumentError, match="names"):
        compare(a, b, names=("same", "same"))
    with pytest.raises(InvalidArgumentError, match="names"):
        compare(a, b, names=("inconclusive", "b"))


def test_the_printout_says_which_comparison_is_valid() -> None:
    """Different seeds: the unpaired tests, and how to get the paired ones; the same latents: the paired tests."""
    tb = sectors(3, 6)
    a, b = exact_report(tb, seed=1, n=50), exact_report(tb, seed=2, n=50)
    independent = compare(a, b).__repr__().splitlines()[1]
    assert independent == (
        "seeds 1 and 2 differ: independent samples, so the unpaired tests apply (Welch, z); for the more powerful "
        "paired tests evaluate both with the same seed and num_samples"
    )
    assert compare(a, a).__repr__().splitlines()[1] == (
        "same seed 1 and num_samples 50: the same latents, so the paired tests apply"
    )
    assert compare(a, _with(b, seed=None)).__repr__().splitlines()[1].startswith("a seed is unknown: independent")


def test_different_latent_dimensions_say_what_remains_comparable() -> None:
    a = exact_report(sectors(3, 6), seed=1, n=50)
    b = exact_report(sectors(4, 6), seed=2, n=50)
    with pytest.raises(InvalidArgumentError) as caught:
        compare(a, b)
    message = str(caught.value)
    assert message.startswith("a and b must have the same latent_dim to be compared; got 3 and 4")
    assert "radii of different dimensions are not comparable" in message
    assert "compare a.collision_entropy and b.collision_entropy" in message
