"""Tests for genloose.metrics.radius.search: class_radius against exact testbeds, invariances and bad input.

Statistical checks are seeded; a 4-standard-error band has a false-failure rate of about 6e-5 per check.
"""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest
import torch

import genloose
from genloose import (
    Classifier,
    Generator,
    InvalidArgumentError,
    ModelOutputError,
    NonDeterministicModelError,
    SearchConfig,
    SearchFailureWarning,
    UndefinedMetricWarning,
    class_radius,
)
from genloose.metrics.radius import search
from genloose.testing.assertions import (
    assert_estimate_close,
    assert_radii_are_upper_bounds,
    assert_radii_at_least_exact,
    assert_radii_close_to_exact,
)
from genloose.testing.testbeds import all_testbeds, grid_voronoi, halfspace, sectors, spheres


def _run(testbed, config: SearchConfig | None = None, **kwargs):
    kwargs.setdefault("num_samples", 60)
    kwargs.setdefault("seed", 1)
    return class_radius(
        testbed.generator, testbed.classifier, latent_dim=testbed.latent_dim, progress=False, config=config, **kwargs
    )


def _check_verified(result, testbed) -> None:
    assert_radii_are_upper_bounds(result, testbed.generator, testbed.classifier)  # in the recorded float32
    assert_radii_at_least_exact(result, testbed, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("latent_dim", [2, 8])
@pytest.mark.parametrize("index", range(8))
def test_white_box_is_exact_per_point_on_every_testbed(latent_dim: int, index: int) -> None:
    testbed = all_testbeds(latent_dim)[index]
    result = _run(testbed)
    assert result.access == "white-box"
    assert result.num_censored == 0
    _check_verified(result, testbed)
    # per-point accuracy: bisection tolerance 1e-4, hardening 1e-5, float32 rounding near small radii
    assert_radii_close_to_exact(result, testbed, rtol=2e-3, atol=1e-5)
    assert result.radii.mean() / testbed.exact_radius(result.latents).mean() < 1.001


@pytest.mark.parametrize(
    "testbed",
    [halfspace(6, offset=0.3, seed=2), sectors(6, 5), spheres(6, math.sqrt(6)), grid_voronoi(6, seed=2)],
    ids=lambda tb: tb.name,
)
def test_black_box_is_a_verified_upper_bound_within_three_percent(testbed) -> None:
    result = _run(testbed, access="black-box", num_samples=40)
    assert result.access == "black-box"
    assert result.metadata["backward_queries"] == 0
    _check_verified(result, testbed)
    ratio = result.radii.mean() / testbed.exact_radius(result.latents).mean()
    assert 1.0 <= ratio < 1.03


def test_auto_uses_labels_only_for_a_label_classifier() -> None:
    testbed = sectors(4, 3)
    labels_only = Classifier(lambda x: testbed.classifier(x).argmax(1), num_classes=3)
    result = class_radius(testbed.generator, labels_only, latent_dim=4, num_samples=20, progress=False)
    assert result.access == "black-box"
    assert_radii_at_least_exact(result, testbed, rtol=1e-5, atol=1e-6)


def test_auto_uses_labels_only_for_a_numpy_generator() -> None:
    testbed = halfspace(3, seed=0)
    gen = Generator(lambda z: z, latent_dim=3, backend="numpy")
    result = class_radius(gen, testbed.classifier, num_samples=10, progress=False)
    assert result.access == "black-box"


def test_white_box_request_on_a_label_classifier_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="access='white-box' needs"):
        class_radius(
            torch.nn.Identity(),
            Classifier(lambda x: (x[:, 0] > 0).long(), num_classes=2),
            latent_dim=2,
            num_samples=4,
            access="white-box",
            progress=False,
        )


def test_mean_agrees_with_the_exact_class_radius_within_monte_carlo_error() -> None:
    testbed = halfspace(8, offset=0.0, seed=3)
    result = _run(testbed, num_samples=400, seed=11)
    assert_estimate_close(result.estimate, testbed.exact_mean_radius(), num_stderr=4.0)
    assert result.estimate.n == 400
    assert result.estimate.contains(result.radii.mean())


def test_estimate_stays_below_the_universal_cap_and_cap_matches_theory() -> None:
    testbed = sectors(4, 2)  # two classes split by a hyperplane: the cap is tight, sqrt(2/pi)
    result = _run(testbed, num_samples=200)
    assert not result.exceeds_cap
    p_hat = result.class_counts_with_pool / result.class_counts_with_pool.sum()
    assert result.fawzi_cap == pytest.approx(genloose.theory.fawzi_bound(p_hat))
    assert result.fawzi_cap == pytest.approx(math.sqrt(2 / math.pi), abs=0.01)


def test_a_failed_search_is_flagged_against_the_cap() -> None:
    testbed = halfspace(64, seed=0)  # a pool seed alone overestimates ~5-10x at d = 64
    with pytest.warns(SearchFailureWarning, match="exceeds the universal cap"):
        result = _run(testbed, SearchConfig(num_seeds=1, max_queries=20), access="black-box", num_samples=30)
    assert result.exceeds_cap
    _check_verified(result, testbed)  # still valid upper bounds, just poor ones


class TestInvariances:
    def test_bit_identical_for_any_batch_size(self) -> None:
        testbed = spheres(5, [1.5, 2.5])
        a, b = (_run(testbed, batch_size=size, num_samples=30) for size in (7, 256))
        np.testing.assert_array_equal(a.radii, b.radii)
        np.testing.assert_array_equal(a.witnesses, b.witnesses)
        np.testing.assert_array_equal(a.queries, b.queries)

    @pytest.mark.parametrize("access", ["white-box", "black-box"])
    def test_shards_equal_the_whole(self, access: str) -> None:
        testbed = sectors(4, 3)
        whole = _run(testbed, num_samples=30, access=access)
        first = _run(testbed, num_samples=12, access=access)
        rest = _run(testbed, num_samples=18, sample_offset=12, access=access)
        np.testing.assert_array_equal(np.concatenate([first.radii, rest.radii]), whole.radii)
        np.testing.assert_array_equal(np.concatenate([first.latents, rest.latents]), whole.latents)

    def test_same_seed_same_result_and_other_seed_other_points(self) -> None:
        testbed = halfspace(3, seed=1)
        a, b, c = _run(testbed, seed=5), _run(testbed, seed=5), _run(testbed, seed=6)
        np.testing.assert_array_equal(a.radii, b.radii)
        assert not np.array_equal(a.latents, c.latents)

    def test_given_latents_are_used_as_given(self) -> None:
        testbed = halfspace(3, seed=1)
        points = np.random.default_rng(0).standard_normal((9, 3))
        result = class_radius(testbed.generator, testbed.classifier, latents=points, progress=False)
        np.testing.assert_allclose(result.latents, points, rtol=1e-7)  # float32 copies of the points
        assert result.seed is None
        assert result.latent_dim == 3
        as_lists = class_radius(testbed.generator, testbed.classifier, latents=points.tolist(), progress=False)
        np.testing.assert_array_equal(as_lists.radii, result.radii)

    def test_global_rng_and_model_modes_are_untouched(self) -> None:
        net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5))
        net.train()
        torch_state = torch.get_rng_state()
        numpy_state = np.random.get_state()[1].copy()
        class_radius(net, lambda x: x, latent_dim=3, num_samples=8, progress=False)
        assert torch.equal(torch.get_rng_state(), torch_state)
        assert np.array_equal(np.random.get_state()[1], numpy_state)
        assert net.training

    def test_float64_models(self) -> None:
        testbed = sectors(3, 4)
        gen = Generator(testbed.generator, latent_dim=3, dtype=torch.float64)
        result = class_radius(gen, testbed.classifier, num_samples=20, progress=False)
        assert result.metadata["dtype"] == "float64"
        assert_radii_close_to_exact(result, testbed, rtol=2e-4)


def test_lipschitz_lower_bound_brackets_the_radius() -> None:
    # scores (z1, -z1) are sqrt(2)-Lipschitz: the margin bound 2|z1| / (sqrt(2) sqrt(2)) = |z1| is exact
    result = class_radius(
        torch.nn.Identity(),
        lambda x: torch.stack([x[:, 0], -x[:, 0]], 1),
        latent_dim=4,
        num_samples=50,
        config=SearchConfig(lipschitz=math.sqrt(2)),
        progress=False,
    )
    exact = np.abs(result.latents[:, 0])
    np.testing.assert_allclose(result.lower_bounds, exact, rtol=1e-5)
    assert (result.lower_bounds <= result.radii).all()
    assert result.lower_estimate.value <= result.estimate.value
    assert "lower_bound" in result.to_frame().columns


def test_points_still_improving_at_the_end_of_their_budget_are_reported() -> None:
    # 150 calls cut the search short on the 25-class grid at d = 16 (measured: every point still improving and
    # 8% above exact); the default budget converges (within 1e-6 of exact, nothing flagged)
    testbed = grid_voronoi(16, seed=2)
    with pytest.warns(SearchFailureWarning, match=r"points were still improving"):
        short = _run(testbed, SearchConfig(max_queries=150), num_samples=30)
    assert short.num_still_improving > 15
    assert short.to_frame()["still_improving"].sum() == short.num_still_improving
    loose = short.radii / testbed.exact_radius(short.latents) - 1
    assert loose[short.still_improving].mean() > 0.01
    full = _run(testbed, num_samples=30)
    assert full.num_still_improving == 0
    assert (full.radii / testbed.exact_radius(full.latents)).mean() < 1 + 1e-4


def test_result_frame_and_repr() -> None:
    result = _run(sectors(3, 3), num_samples=10)
    frame = result.to_frame()
    columns = ["point", "label", "witness_label", "radius", "censored", "queries", "still_improving", "image_distance"]
    assert list(frame.columns) == columns
    assert frame.dtypes.to_dict() == {
        "point": np.int64,
        "label": np.int64,
        "witness_label": np.int64,
        "radius": np.float64,
        "censored": bool,
        "queries": np.int64,
        "still_improving": bool,
        "image_distance": np.float64,
    }
    assert "class radius <=" in repr(result)
    assert result.total_queries == result.queries.sum() + result.pool_queries


class TestBadInput:
    @staticmethod
    def _nan_at(marker: float):
        """A generator that returns NaN exactly where a latent's first coordinate equals ``marker``."""

        def gen(z: torch.Tensor) -> torch.Tensor:
            return torch.where(z[:, :1] == marker, torch.nan, z)

        return gen

    @pytest.mark.parametrize(("n", "bad", "block"), [(400, 300, "1 of 32"), (5, 4, "1 of 5"), (130, 129, "1 of 2")])
    def test_generator_nan_at_a_sampled_latent_names_its_index(self, n: int, bad: int, block: str) -> None:
        # the index is the latent's index in result.latents, whatever the chunk and block it falls in, and the
        # count is of real rows only (padding repeats the block's last row, which must not be counted again)
        latents = np.random.default_rng(0).standard_normal((n, 2))
        latents[bad, 0] = 7.0
        with pytest.raises(ModelOutputError, match=rf"NaN or Inf for {block} latents \(first at latent index {bad}\)"):
            class_radius(self._nan_at(7.0), lambda x: x, latents=latents, batch_size=256, progress=False)

    def test_classifier_nan_at_a_sampled_latent_names_its_index(self) -> None:
        latents = np.random.default_rng(0).standard_normal((40, 2))
        latents[33, 0] = 7.0
        message = r"NaN or Inf scores for 1 of 8 samples \(first at latent index 33\)"  # 40 = 32 + 8 rows
        with pytest.raises(ModelOutputError, match=message):
            class_radius(torch.nn.Identity(), self._nan_at(7.0), latents=latents, progress=False)

    def test_generator_nan_away_from_the_samples_is_reported_as_a_search_probe(self) -> None:
        def gen(z: torch.Tensor) -> torch.Tensor:  # finite on the samples, NaN far out where the search goes
            return torch.where(z[:, :1].abs() > 4.5, torch.nan, z)

        latents = np.random.default_rng(0).uniform(-1.0, 1.0, (20, 2))
        with pytest.raises(ModelOutputError, match=r"of a batch of search probes, not one of the sampled latents"):
            class_radius(gen, lambda x: x * 0.0, latents=latents, config=SearchConfig(pool_size=0), progress=False)

    def test_generator_nan_in_the_seeding_pool_is_reported_as_such(self) -> None:
        def gen(z: torch.Tensor) -> torch.Tensor:
            return torch.where(z[:, :1].abs() > 2.5, torch.nan, z)

        latents = np.random.default_rng(0).uniform(-1.0, 1.0, (20, 2))
        with pytest.raises(ModelOutputError, match=r"first at seeding-pool point \d+\)"):
            class_radius(gen, lambda x: x, latents=latents, progress=False)

    def test_classifier_with_wrong_shape(self) -> None:
        with pytest.raises(ModelOutputError, match="classifier must return labels of shape"):
            class_radius(torch.nn.Identity(), lambda x: x[:1], latent_dim=2, num_samples=5, progress=False)

    def test_labels_outside_range(self) -> None:
        clf = Classifier(lambda x: (x[:, 0] > 0).long() * 7, num_classes=3)
        with pytest.raises(ModelOutputError, match=r"outside \[0, 3\)"):
            class_radius(torch.nn.Identity(), clf, latent_dim=2, num_samples=5, progress=False)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"num_samples": 0}, "num_samples must be an integer >= 1"),
            ({"num_samples": -3}, "num_samples must be an integer >= 1"),
            ({}, "exactly one of latents, num_samples and precision"),
            ({"num_samples": 3, "latents": np.zeros((3, 2))}, "exactly one of latents, num_samples and precision"),
            ({"latents": np.zeros((3, 5))}, r"latents must have shape \(n, 2\)"),
            ({"latents": np.array([[0.0, np.nan]])}, "latents must be finite; 1 row"),
            ({"latents": "abc"}, "latents must be a float array"),
            ({"latents": [[0.0, 1.0], [2.0]]}, "latents must be a float array"),  # ragged
            ({"latents": [["a", "b"]]}, "latents must be a float array"),
            ({"num_samples": 3, "access": "grey-box"}, "access must be one of"),
            ({"num_samples": 3, "seed": -1}, "seed must be an integer >= 0"),
            ({"num_samples": 3, "confidence": 1.5}, "confidence must be a number < 1"),
            ({"num_samples": 3, "batch_size": 0}, "batch_size must be an integer >= 1"),
            ({"num_samples": 3, "config": {"rtol": 1e-3}}, "config must be a genloose.SearchConfig or None"),
            ({"num_samples": 3, "rtol": 0.0}, r"rtol is a SearchConfig field: pass config=SearchConfig\(rtol=...\)"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict, match: str) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, progress=False, **kwargs)

    def test_single_class_model_is_all_censored_with_a_nan_estimate(self) -> None:
        def one_class(x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], dtype=torch.long)

        clf = Classifier(one_class, num_classes=1)
        with pytest.warns(UndefinedMetricWarning, match="every point is censored"):
            result = class_radius(torch.nn.Identity(), clf, latent_dim=2, num_samples=6, progress=False)
        assert result.num_censored == 6
        assert math.isnan(result.estimate.value)
        assert np.isinf(result.radii).all()
        assert (result.witness_labels == -1).all()
        assert math.isinf(result.fawzi_cap)

    def test_some_censored_points_are_counted_and_excluded(self) -> None:
        # class 1 is x0 > 10: no pool point reaches it; random rays out to max_radius=5 find it from a point
        # at x0 = 9.9 but cannot from the origin, which is censored
        clf = Classifier(lambda x: (x[:, 0] > 10).long(), num_classes=2)
        points = np.array([[9.9, 0.0, 0.0], [0.0, 0.0, 0.0]])
        with pytest.warns(SearchFailureWarning, match="1 of 2 points have no witness"):
            result = class_radius(
                torch.nn.Identity(), clf, latents=points, config=SearchConfig(max_radius=5.0), progress=False
            )
        assert result.censored.tolist() == [False, True]
        assert result.radii[0] == pytest.approx(0.1, rel=0.5)
        assert "1 of 2 censored points excluded" in result.estimate.method
        assert result.estimate.n == 1
        assert result.estimate.value == result.radii[0]

    def test_non_deterministic_classifier_is_detected(self) -> None:
        noise = np.random.default_rng(0)

        def flaky(x: torch.Tensor) -> torch.Tensor:  # like dropout: each call flips a random third of the rows
            flip = torch.as_tensor(np.where(noise.random(x.shape[0]) < 1 / 3, -1.0, 1.0), dtype=x.dtype)
            return torch.stack([flip * x[:, 0], -flip * x[:, 0]], 1)

        with pytest.raises(NonDeterministicModelError, match="different outputs on two calls"):
            class_radius(torch.nn.Identity(), flaky, latent_dim=2, num_samples=8, progress=False)

    def test_a_model_that_turns_random_late_fails_re_verification(self) -> None:
        calls = {"n": 0}
        noise = np.random.default_rng(0)

        def late(x: torch.Tensor) -> torch.Tensor:  # deterministic for its first calls, random afterwards
            calls["n"] += 1
            flip = np.where(noise.random(x.shape[0]) < 1 / 3, -1.0, 1.0) if calls["n"] > 40 else 1.0
            flip = torch.as_tensor(flip, dtype=x.dtype)
            return torch.stack([flip * x[:, 0], -flip * x[:, 0]], 1)

        with pytest.raises(NonDeterministicModelError, match="failed re-verification"):
            class_radius(torch.nn.Identity(), late, latent_dim=2, num_samples=8, progress=False)

    @pytest.mark.parametrize("where", ["generator", "classifier"])
    def test_batch_statistics_are_refused_before_any_search(self, where: str) -> None:
        # BatchNorm without running statistics normalises with the batch's own: a row's label depends on its
        # neighbours, as in some published classifiers even in eval mode
        torch.manual_seed(0)
        batch_dependent = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8, track_running_stats=False), torch.nn.Linear(8, 4)
        )
        counter = {"calls": 0}

        def counted(x: torch.Tensor) -> torch.Tensor:
            counter["calls"] += 1
            return batch_dependent(x)

        gen, clf = (counted, torch.nn.Identity()) if where == "generator" else (torch.nn.Identity(), counted)
        with pytest.raises(NonDeterministicModelError, match=r"depends on the other latents of its batch.*BatchNorm"):
            class_radius(gen, clf, latent_dim=4, num_samples=30, progress=False)
        assert counter["calls"] <= 4  # the labelling of the 30 points, then the check: no search ran

    def test_dropout_left_on_inside_a_function_is_refused_before_any_search(self) -> None:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3)).train()
        with pytest.raises(NonDeterministicModelError, match="dropout or sampling"):
            class_radius(torch.nn.Identity(), lambda x: net(x), latent_dim=4, num_samples=30, progress=False)


def test_summary_and_per_class_breakdown_against_numpy() -> None:
    result = _run(sectors(3, 3), num_samples=40)
    summary = result.summary()
    assert summary["median"] == pytest.approx(np.median(result.radii))
    assert summary["censored_fraction"] == 0.0
    per_class = result.per_class_frame()
    assert per_class["count"].sum() == 40
    for row in per_class.itertuples():
        mine = result.radii[result.labels == row.label]
        assert row.count == mine.size
        assert row.mean_radius == pytest.approx(mine.mean())


def test_points_exactly_on_a_boundary_get_tiny_verified_radii() -> None:
    testbed = sectors(3, 2)  # the boundary is the plane z2 = 0
    points = np.array([[0.0, 0.0, 7.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 2.0]])
    result = class_radius(testbed.generator, testbed.classifier, latents=points, progress=False)
    assert (result.radii < 1e-4).all()
    assert_radii_are_upper_bounds(result, testbed.generator, testbed.classifier)
    assert_radii_are_upper_bounds(result, testbed.generator, testbed.classifier, dtype=torch.float64)


def test_black_box_tries_the_other_side_between_nested_shells() -> None:
    # chords to outer-class seeds dip through the inner shell; without trying the opposite ray every
    # black-box witness landed on the inner shell (mean ratio 1.79 at d = 64)
    testbed = spheres(32, [5.0, 5.6, 6.2])
    result = _run(testbed, access="black-box", num_samples=20, seed=0)
    _check_verified(result, testbed)
    assert result.radii.mean() / testbed.exact_radius(result.latents).mean() < 1.05


def test_the_cap_check_does_not_false_alarm_in_its_equality_case() -> None:
    # a half-space attains the cap: with the cap's own sampling error in the test, a correct search passes
    testbed = halfspace(16, offset=0.5, seed=1)
    flags = [_run(testbed, num_samples=100, seed=seed).exceeds_cap for seed in range(10)]
    assert not any(flags)


def test_black_box_finds_the_nearest_facet_among_many_classes_in_high_dimension() -> None:
    # pool seeds carry no direction at d = 64: before the class-direction candidates and restarts by
    # successive halving, 1-2 points in 40 ended on a farther facet of the 25-class grid (ratio 1.082)
    testbed = grid_voronoi(64, n=2, scale=2.0, seed=2)
    result = _run(testbed, access="black-box", num_samples=40, seed=0)
    _check_verified(result, testbed)
    per_point = result.radii / testbed.exact_radius(result.latents)
    assert per_point.max() < 1.1  # each point on its nearest facet (the flat-facet error here is ~1.5%)
    assert result.radii.mean() / testbed.exact_radius(result.latents).mean() < 1.03


def test_white_box_restarts_reach_boundaries_one_start_misses() -> None:
    # a random tanh MLP generator and ReLU classifier (10 classes): one DeepFool start per point refines
    # the nearest point of whichever boundary it meets first; restarts compare many boundaries. The restarts are
    # measured alone: the boundary descent (which spends the rest of the budget from the witness and from z) is
    # off, and the budget is such that the candidate stages' 40% share is the 1000 calls they had before it
    latent_dim = 64
    torch.manual_seed(4)
    gen = torch.nn.Sequential(
        torch.nn.Linear(latent_dim, 128),
        torch.nn.Tanh(),
        torch.nn.Linear(128, 128),
        torch.nn.Tanh(),
        torch.nn.Linear(128, 32),
    )
    torch.manual_seed(104)
    clf = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    kwargs = {"latent_dim": latent_dim, "num_samples": 40, "seed": 3, "progress": False}
    config = SearchConfig(attack_steps=0, max_queries=2500)
    default = class_radius(gen, clf, config=config, **kwargs)
    single = class_radius(gen, clf, config=dataclasses.replace(config, top_k=1, num_seeds=1), **kwargs)
    assert default.access == single.access == "white-box"
    assert_radii_are_upper_bounds(default, gen, clf)
    closer = (default.radii < single.radii * (1 - 1e-3)).sum()
    farther = (default.radii > single.radii * (1 + 1e-3)).sum()
    assert closer > 2 * farther  # measured: 11 points closer, 3 farther (other random streams)
    assert default.radii.mean() < single.radii.mean()
    assert (default.queries <= 2500 + 100).all()  # the budget, overrun by at most one ray search


@pytest.mark.gpu
@pytest.mark.parametrize("access", ["white-box", "black-box"])
def test_search_on_cuda_is_verified_and_agrees_with_cpu(access: str) -> None:
    # CUDA kernels round differently from CPU ones, so the two searches may take different paths; both must
    # give verified upper bounds within the same accuracy of the exact radii
    testbed = sectors(8, 5)
    results = {}
    for device in ("cpu", "cuda"):
        generator = genloose.Generator(testbed.generator, latent_dim=8, device=device)
        results[device] = class_radius(
            generator, testbed.classifier, num_samples=40, seed=1, access=access, progress=False
        )
        assert results[device].access == access
        assert_radii_are_upper_bounds(results[device], testbed.generator, testbed.classifier, device=device)
        assert_radii_at_least_exact(results[device], testbed, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(results["cpu"].labels, results["cuda"].labels)
    tolerance = 2e-3 if access == "white-box" else 0.03
    for result in results.values():
        assert_radii_close_to_exact(result, testbed, rtol=tolerance, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("access", ["white-box", "black-box"])
def test_models_in_other_float_dtypes_give_verified_upper_bounds(dtype: torch.dtype, access: str) -> None:
    # radii are measured from the exact values of the witness and the point, so even a half-precision model's
    # radii are verified upper bounds (a difference taken in float16 would round below the true distance)
    testbed = grid_voronoi(6, seed=2)
    generator = genloose.Generator(testbed.generator, latent_dim=6, dtype=dtype)
    result = class_radius(generator, testbed.classifier, num_samples=30, seed=1, access=access, progress=False)
    assert result.num_censored == 0
    assert result.witnesses.dtype == np.float64
    assert_radii_are_upper_bounds(result, testbed.generator, testbed.classifier, dtype=dtype)
    assert_radii_at_least_exact(result, testbed, rtol=1e-5, atol=1e-6)
    if dtype == torch.float64:
        assert_radii_close_to_exact(result, testbed, rtol=2e-3 if access == "white-box" else 0.05, atol=1e-9)


def test_image_distances_are_the_sample_space_distances_to_the_witnesses() -> None:
    # a linear generator: ||g(w) - g(z)|| = ||A (w - z)||, computed here independently in float64
    torch.manual_seed(0)
    weight = torch.randn(5, 3, dtype=torch.float64)
    generator = torch.nn.Linear(3, 5, bias=False).double()
    with torch.no_grad():
        generator.weight.copy_(weight)

    def classifier(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0], -x[:, 0], x[:, 1]], 1)

    result = genloose.class_radius(generator, classifier, latent_dim=3, num_samples=20, seed=1, progress=False)
    expected = np.linalg.norm((result.witnesses - result.latents) @ weight.numpy().T, axis=1)
    np.testing.assert_allclose(result.image_distances, expected, rtol=1e-12)
    finite = expected[~result.censored]
    assert result.image_distance.value == pytest.approx(finite.mean(), rel=1e-12)
    assert result.image_distance.n == 20


def test_image_distances_are_nan_where_censored_and_merge_across_shards() -> None:
    from genloose.distributed import merge_radius_results

    tb = sectors(3, 3)

    def run(n: int, offset: int) -> genloose.RadiusResult:
        return genloose.class_radius(
            tb.generator, tb.classifier, latent_dim=3, num_samples=n, sample_offset=offset, seed=2, progress=False
        )

    whole, merged = run(12, 0), merge_radius_results([run(5, 0), run(7, 5)], confidence=0.95)
    np.testing.assert_array_equal(merged.image_distances, whole.image_distances)


# ----------------------------------------------------------------------------- label_sample streams its latents


def _positional_classifier(x: torch.Tensor) -> torch.Tensor:
    """Labels that depend on a row's position in the model call as well as on the row: any shift of the call
    blocks against the sample (a span that is not a whole number of chunks) changes them."""
    position = torch.arange(x.shape[0], device=x.device)
    return ((x[:, 0] > 0).long() + position) % 5


def _whole_array_labels(gen: Generator, clf: Classifier, seed: int, num_samples: int, batch_size: int) -> np.ndarray:
    """label_sample as it was: all num_samples latents drawn, converted and labelled at once."""
    labeler = search.LatentLabeler(gen, clf)
    with labeler.session():
        z = labeler.to_latents(search.draw_latents(seed, gen.latent_dim, num_samples))
        return search._label_in_chunks(labeler, z, batch_size, "latent index").cpu().numpy()


class TestLabelSample:
    @pytest.mark.parametrize("batch_size", [1, 7, 100, 256, 1500])
    def test_streamed_labels_are_bit_identical_to_the_whole_array(self, batch_size: int) -> None:
        gen = Generator(torch.nn.Identity(), latent_dim=3, batch_size=48)
        clf = Classifier(_positional_classifier, num_classes=5)
        n = 3001  # not a multiple of any span or block
        labels, queries = search.label_sample(gen, clf, seed=3, num_samples=n, batch_size=batch_size)
        expected = _whole_array_labels(gen, clf, 3, n, batch_size)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, expected)
        assert queries == n + 3 * search.FUNCTION_PROBE_ROWS  # the sample, and the probe's three evaluations

    @pytest.mark.parametrize("batch_size", [100, 256, 1500])
    def test_latents_are_drawn_one_span_at_a_time(self, batch_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
        drawn: list[int] = []
        draw = search.draw_latents

        def recording(seed: int, latent_dim: int, stop: int, *, start: int = 0, **kwargs: object) -> np.ndarray:
            drawn.append(stop - start)
            return draw(seed, latent_dim, stop, start=start, **kwargs)

        monkeypatch.setattr(search, "draw_latents", recording)
        n = 5000  # more than any span here: drawing the whole sample would ask for 5000 rows at once
        span = search.label_span(batch_size)
        assert span % batch_size == 0
        assert search.BLOCK_SIZE <= span < search.BLOCK_SIZE + batch_size
        gen, clf = Generator(torch.nn.Identity(), latent_dim=2), Classifier(lambda x: x, num_classes=2)
        search.label_sample(gen, clf, seed=0, num_samples=n, batch_size=batch_size)
        assert max(drawn) == span
        assert sum(drawn) == n + search.FUNCTION_PROBE_ROWS  # every latent once, and the probe's head

    def test_a_model_breaking_on_the_sample_fails_on_the_first_span_in_little_memory(self) -> None:
        calls = 0

        def breaks_after_the_probe(z: torch.Tensor) -> torch.Tensor:
            nonlocal calls
            calls += 1
            return z if calls <= 3 else z * math.nan  # the probe's three calls pass, the first labelling call fails

        n = 10**7
        gen = Generator(breaks_after_the_probe, latent_dim=2)
        tracemalloc.start()
        try:
            with pytest.raises(ModelOutputError, match="generator returned NaN"):
                search.label_sample(gen, Classifier(lambda x: x, num_classes=2), seed=0, num_samples=n, batch_size=256)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert calls == 4
        # the int64 labels (8 n bytes, reserved) and one span; the whole sample in float64 alone is 16 n bytes more
        assert peak < 8 * n + 2**20

    def test_a_failure_deep_in_the_sample_names_the_latent_index(self) -> None:
        bad = 2500  # in the third span of 1024 rows, at row 452 of a chunk of 256
        marker = float(search.draw_latents(0, 2, bad + 1)[bad, 0])

        def gen(z: torch.Tensor) -> torch.Tensor:
            return torch.where(z[:, :1] == torch.tensor(marker, dtype=z.dtype), torch.nan, z)

        with pytest.raises(ModelOutputError, match=rf"first at latent index {bad}\)"):
            search.label_sample(
                Generator(gen, latent_dim=2, dtype=torch.float64),
                Classifier(lambda x: x, num_classes=2),
                seed=0,
                num_samples=4000,
                batch_size=256,
            )
