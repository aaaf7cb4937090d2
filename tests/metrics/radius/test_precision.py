"""The class radius to a requested precision (multilevel Monte Carlo over search budgets)."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats

import genloose
from genloose import testing
from genloose.metrics.radius import precision as precision_module
from genloose.metrics.radius.precision import run_to_precision


def _with_precision(testbed, precision, *, pilot_points=32, max_points=100_000, **kwargs):
    config = genloose.SearchConfig(precision_pilot_points=pilot_points, precision_max_points=max_points)
    return genloose.class_radius(
        testbed.generator,
        testbed.classifier,
        latent_dim=testbed.latent_dim,
        precision=precision,
        config=config,
        progress=False,
        **kwargs,
    )


def _stub(radius_at):
    """A range search whose point i has radius ``radius_at[budget](i)`` (each point costs ``budget`` calls)."""
    log: list[tuple[int, int, int | None]] = []

    def search(start: int, count: int, budget: int | None):
        log.append((start, count, budget))
        radii = np.asarray(radius_at[budget](np.arange(start, start + count)), dtype=np.float64)
        queries = np.full(count, budget or 960, dtype=np.int64)
        metadata = {"budget_per_point": 960, "forward_queries": int(queries.sum()) + 5, "backward_queries": 0}
        return SimpleNamespace(radii=radii, queries=queries, pool_queries=5, metadata=metadata)

    return search, log


def _hash_uniform(index: np.ndarray, salt: int) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per index, whichever range asks for it."""
    return np.array([np.random.default_rng([salt, int(i)]).random() for i in index])


def _run(search, precision, *, max_points=10_000, pilot_points=16):
    return run_to_precision(
        search, precision=precision, confidence=0.95, max_points=max_points, pilot_points=pilot_points
    )


BUDGETS = (None, 30, 60, 120, 240)


def test_when_every_budget_finds_the_same_radius_all_but_the_pilot_go_to_the_cheapest_level():
    search, log = _stub({b: (lambda i: 1.0 + _hash_uniform(i, 1)) for b in BUDGETS})
    estimate, summary, full = _run(search, 0.01)
    assert summary.level_budgets.tolist() == [30, 960]
    # a difference that is 0 on every point still gets its minimum share of the cheapest level's points
    assert summary.level_points[1] == math.ceil(precision_module.MIN_LEVEL_SHARE * summary.level_points[0])
    assert summary.level_variances[1] == 0.0
    assert summary.met
    assert summary.reached <= 0.01
    # the differences vanish: the estimate is the plain mean of the cheapest level's points (the pilot, and the
    # ranges searched at 30 alone, not as the coarse half of a difference)
    full_starts = {start for start, _, budget in log if budget is None}
    ranges = [(0, 16)] + [(s, n) for s, n, b in log if b == 30 and s not in full_starts]
    points = np.concatenate([np.arange(s, s + n) for s, n in ranges])
    assert points.size == summary.level_points[0]
    assert estimate.value == pytest.approx(float(np.mean(1.0 + _hash_uniform(points, 1))), rel=1e-12)
    assert sum(r.radii.size for r in full) == summary.level_points[1]  # the top level's points, pilot included


def test_when_coarse_searches_say_nothing_the_run_is_plain_sampling():
    radius = {b: (lambda i, b=b: 1.0 + _hash_uniform(i, b)) for b in BUDGETS[1:]}
    radius[None] = lambda i: 1.0 + _hash_uniform(i, 7)
    search, _ = _stub(radius)
    estimate, summary, full = _run(search, 0.05)
    assert summary.level_budgets.tolist() == [960]
    assert summary.met
    n = int(summary.level_points[0])
    assert estimate.value == pytest.approx(float(np.mean(1.0 + _hash_uniform(np.arange(n), 7))), rel=1e-12)
    assert sum(r.radii.size for r in full) == n


def test_ranges_are_disjoint_after_the_pilot_and_every_call_is_counted():
    search, log = _stub({b: (lambda i, b=b: 1.0 + _hash_uniform(i, 1) + 1.0 / (b or 960)) for b in BUDGETS})
    _, summary, _ = _run(search, 0.01)
    ranges = sorted({(start, count) for start, count, _ in log})
    assert ranges[0] == (0, 16)
    for (a, n), (b, _) in itertools.pairwise(ranges):
        assert a + n <= b
    assert summary.total_calls == sum(count * (budget or 960) for _, count, budget in log) + 5 * len(log)
    assert summary.pool_calls == 5 * len(log)


def test_the_point_cap_stops_the_run_with_a_warning_and_reports_what_was_reached():
    search, _ = _stub({b: (lambda i: _hash_uniform(i, 3)) for b in BUDGETS})
    with pytest.warns(genloose.GenlooseWarning, match="precision_max_points=50"):
        _, summary, _ = _run(search, 0.001, max_points=50)
    assert not summary.met
    assert summary.reached > 0.001
    assert summary.num_points == 50


@pytest.fixture(scope="module")
def sectors():
    return testing.sectors(3, 5)


def test_estimate_on_an_exact_testbed_is_within_its_error(sectors):
    result = _with_precision(sectors, 0.05, seed=3)
    exact = sectors.exact_mean_radius()
    assert result.precision.met
    assert result.precision.reached <= 0.05
    # 4 standard errors: a correct estimator fails this for one seed in 16000; the search's own error is 1e-4
    assert abs(result.estimate.value - exact) <= 4 * result.estimate.stderr + 1e-4 * exact
    # the per-point arrays are the full-budget points, each a verified upper bound (to float32 labelling)
    assert (result.radii >= sectors.exact_radius(result.latents) - 1e-6).all()
    assert result.total_queries == result.precision.total_calls > result.queries.sum()


@pytest.mark.slow
def test_interval_covers_the_exact_mean_at_the_nominal_rate(sectors):
    exact = sectors.exact_mean_radius()
    replications = 60
    covered = sum(
        bool(r.estimate.ci_low <= exact <= r.estimate.ci_high)
        for r in (_with_precision(sectors, 0.15, seed=100 + s, pilot_points=16) for s in range(replications))
    )
    # at a true coverage of 0.95, fewer covered than this happens with probability below 1e-3
    assert covered >= stats.binom.ppf(1e-3, replications, 0.95)


def test_result_does_not_depend_on_the_batch_size(sectors):
    runs = [_with_precision(sectors, 0.2, seed=1, batch_size=b, pilot_points=8) for b in (7, 256)]
    assert runs[0].estimate == runs[1].estimate
    assert runs[0].total_queries == runs[1].total_queries
    assert (runs[0].radii == runs[1].radii).all()


def test_result_round_trips_through_json(sectors):
    from genloose._serialize import decode_object, encode_object

    result = _with_precision(sectors, 0.2, seed=2, pilot_points=8)
    back = decode_object("RadiusResult", encode_object(result))
    assert back.estimate == result.estimate
    assert back.precision.to_frame().equals(result.precision.to_frame())
    assert back.total_queries == result.total_queries


@pytest.mark.parametrize("precision", [0, 1, -0.1, math.nan, math.inf, True, "0.1"])
def test_bad_precision_is_refused_by_name(precision):
    with pytest.raises(genloose.InvalidArgumentError, match="precision"):
        genloose.class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, precision=precision)


@pytest.mark.parametrize(
    "kwargs", [{"num_samples": 10}, {"latents": np.zeros((3, 2))}, {"num_samples": 10, "sample_offset": 3}]
)
def test_precision_with_a_fixed_sample_is_refused(kwargs):
    with pytest.raises(genloose.InvalidArgumentError, match="precision"):
        genloose.class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, precision=0.1, **kwargs)


def test_sample_offset_with_precision_is_refused():
    with pytest.raises(genloose.InvalidArgumentError, match="sample_offset"):
        genloose.class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, precision=0.1, sample_offset=3)


@pytest.mark.parametrize(
    ("field", "value"),
    [("precision_pilot_points", 4), ("precision_max_points", 0), ("precision_pilot_points", 200)],
)
def test_bad_precision_sizes_are_refused_by_name(field, value):
    kwargs = {"precision_max_points": 100, field: value}
    with pytest.raises(genloose.InvalidArgumentError, match=field):
        genloose.SearchConfig(**kwargs)


def test_the_pool_is_labelled_once_per_run_and_sharing_it_changes_no_number(sectors, monkeypatch):
    shared = _with_precision(sectors, 0.2, seed=5, pilot_points=8)
    monkeypatch.setattr(precision_module, "SHARE_POOL", False)
    alone = _with_precision(sectors, 0.2, seed=5, pilot_points=8)
    assert shared.estimate == alone.estimate
    assert (shared.radii == alone.radii).all()
    assert shared.precision.pool_calls == 2048  # the default pool, labelled once
    assert alone.precision.pool_calls > shared.precision.pool_calls
    assert alone.total_queries - shared.total_queries == alone.precision.pool_calls - 2048


def test_a_model_with_one_class_gives_an_undefined_estimate_as_without_precision():
    def one_class(x):
        return torch.stack([torch.ones_like(x[:, 0]), torch.zeros_like(x[:, 0])], 1)

    with pytest.warns(genloose.UndefinedMetricWarning):
        result = genloose.class_radius(torch.nn.Identity(), one_class, latent_dim=2, precision=0.1, progress=False)
    assert math.isnan(result.estimate.value)
    assert not result.precision.met
    assert math.isnan(result.precision.reached)


def test_a_point_without_a_witness_stops_the_run_with_a_clear_error():
    # point 3 has no witness within the cheapest budget; the others are fine
    def radius(i, budget):
        r = 1.0 + _hash_uniform(i, 1)
        return np.where((i == 3) & (budget == 30), np.inf, r)

    search, _ = _stub({b: (lambda i, b=b: radius(i, b)) for b in BUDGETS})
    with pytest.raises(genloose.GenlooseError, match="1 of 16 points have none within a budget of 30"):
        _run(search, 0.05)


def test_the_equivalent_sample_size_of_one_level_is_its_size():
    samples = [np.random.default_rng(0).normal(size=40)]
    assert precision_module._equivalent_sample_size(samples) == 40


def test_the_equivalent_sample_size_is_one_plus_the_welch_satterthwaite_df():
    rng = np.random.default_rng(1)
    coarse, fine = rng.normal(0.0, 1.0, size=800), rng.normal(0.0, 0.5, size=40)
    share_coarse, share_fine = coarse.var(ddof=1) / 800, fine.var(ddof=1) / 40
    df = (share_coarse + share_fine) ** 2 / (share_coarse**2 / 799 + share_fine**2 / 39)
    n = precision_module._equivalent_sample_size([coarse, fine])
    assert n == 1 + math.floor(df)
    # a few points at the full budget carry much of the variance: far fewer than the 800 of the largest level
    assert 40 <= n < 400


def test_a_precision_estimate_reports_its_equivalent_sample_size_not_its_largest_level():
    search, _ = _stub({b: (lambda i, b=b: 1.0 + _hash_uniform(i, 5) + _hash_uniform(i, b or 7) / 8) for b in BUDGETS})
    estimate, summary, _ = _run(search, 0.02)
    assert len(summary.level_points) > 1  # the stub's cheap levels are worth using
    assert estimate.n < int(summary.level_points.max())


def test_image_distances_are_measured_only_for_the_full_budget_points_that_are_kept(sectors, monkeypatch):
    from genloose.metrics.radius.labeler import LatentLabeler

    measured: list[int] = []
    original = LatentLabeler.image_distances

    def counting(self, latents, others):
        measured.append(latents.shape[0])
        return original(self, latents, others)

    monkeypatch.setattr(LatentLabeler, "image_distances", counting)
    result = _with_precision(sectors, 0.1, seed=2)
    assert result.precision.level_points.sum() > result.radii.size  # coarse levels searched more points
    assert sum(measured) == int((~result.censored).sum())
    assert np.isfinite(result.image_distances[~result.censored]).all()


def _stub_proxy(value_at, calls_per_point=7):
    """A proxy whose value at point i is ``value_at(i)``, costing ``calls_per_point`` calls per point."""
    log: list[tuple[int, int]] = []

    def proxy(start: int, count: int):
        log.append((start, count))
        return np.asarray(value_at(np.arange(start, start + count)), dtype=np.float64), calls_per_point * count

    return proxy, log


def _tracked(i, budget=None):
    """A radius that a proxy ``(r - 0.25) / 2`` tracks up to a small budget-dependent wobble."""
    return 1.0 + _hash_uniform(i, 11) + _hash_uniform(i, 20 + (budget or 0)) / 200


def test_a_proxy_that_tracks_the_radius_is_the_cheapest_level_scaled_by_its_pilot_slope():
    search, log = _stub({b: (lambda i, b=b: _tracked(i, b)) for b in BUDGETS})
    proxy, proxy_log = _stub_proxy(lambda i: (1.0 + _hash_uniform(i, 11) - 0.25) / 2)
    estimate, summary, _ = run_to_precision(
        search, precision=0.005, confidence=0.95, max_points=100_000, pilot_points=16, proxy=lambda _: proxy
    )
    assert summary.level_budgets[0] == precision_module.PROXY
    # b: the least-squares slope, on the pilot, of the next level's radii on the proxy (about 2)
    pilot_proxy = (1.0 + _hash_uniform(np.arange(16), 11) - 0.25) / 2
    nxt = summary.level_budgets[1]
    pilot_radii = _tracked(np.arange(16), None if nxt == 960 else int(nxt))
    assert summary.proxy_scale == pytest.approx(np.polyfit(pilot_proxy, pilot_radii, 1)[0], rel=1e-9)
    assert summary.proxy_power == 1.0  # the radius is affine in the proxy: its square root would fit worse
    assert summary.to_frame()["term"][0] == f"{summary.proxy_scale:.4g}·proxy"
    assert summary.to_frame()["term"][1].endswith(f" - {summary.proxy_scale:.4g}·proxy")
    # every proxy call is counted with the searches'
    searched = sum(count * (budget or 960) for _, count, budget in log) + 5 * len(log)
    assert summary.total_calls == searched + 7 * sum(count for _, count in proxy_log)
    # most points only get the proxy, and the estimate is the sum of the level means
    assert summary.level_points[0] > 10 * summary.level_points[1]
    assert estimate.value == pytest.approx(float(summary.level_means.sum()), rel=1e-12)
    assert summary.met


def test_a_radius_that_grows_as_the_square_root_of_the_proxy_gets_the_root_rung():
    search, _ = _stub({b: (lambda i, b=b: _tracked(i, b)) for b in BUDGETS})
    proxy, _ = _stub_proxy(lambda i: ((1.0 + _hash_uniform(i, 11) - 0.25) / 2) ** 2)
    _, summary, _ = run_to_precision(
        search, precision=0.005, confidence=0.95, max_points=100_000, pilot_points=16, proxy=lambda _: proxy
    )
    assert summary.level_budgets[0] == 0
    assert summary.proxy_power == 0.5
    pilot_root = (1.0 + _hash_uniform(np.arange(16), 11) - 0.25) / 2
    nxt = summary.level_budgets[1]
    pilot_radii = _tracked(np.arange(16), None if nxt == 960 else int(nxt))
    assert summary.proxy_scale == pytest.approx(np.polyfit(pilot_root, pilot_radii, 1)[0], rel=1e-9)
    assert summary.to_frame()["term"][0] == f"{summary.proxy_scale:.4g}·proxy^0.5"


def test_the_proxy_level_estimates_the_scaled_proxy_on_its_own_points():
    search, log = _stub({b: (lambda i, b=b: _tracked(i, b)) for b in BUDGETS})
    proxy, proxy_log = _stub_proxy(lambda i: (1.0 + _hash_uniform(i, 11) - 0.25) / 2)
    _, summary, _ = run_to_precision(
        search, precision=0.005, confidence=0.95, max_points=100_000, pilot_points=16, proxy=lambda _: proxy
    )
    searched = {start for start, _, _ in log}
    # the proxy-only ranges, with the pilot: level 0's points
    ranges = [(0, 16)] + [(s, n) for s, n in proxy_log if s not in searched]
    points = np.concatenate([np.arange(s, s + n) for s, n in ranges])
    assert points.size == summary.level_points[0]
    values = summary.proxy_scale * (1.0 + _hash_uniform(points, 11) - 0.25) / 2
    assert summary.level_means[0] == pytest.approx(float(values.mean()), rel=1e-12)


def test_a_proxy_unrelated_to_the_radius_is_not_used_and_its_pilot_calls_are_reported():
    search, _ = _stub({b: (lambda i, b=b: _tracked(i, b)) for b in BUDGETS})
    proxy, proxy_log = _stub_proxy(lambda i: _hash_uniform(i, 99))
    _, summary, _ = run_to_precision(
        search, precision=0.02, confidence=0.95, max_points=100_000, pilot_points=16, proxy=lambda _: proxy
    )
    assert precision_module.PROXY not in summary.level_budgets.tolist()
    assert math.isnan(summary.proxy_scale)
    assert math.isnan(summary.proxy_power)
    # the pilot and the proxy's own sample after it, and nothing more
    assert proxy_log == [(0, 16), (16, 16 * precision_module.PROXY_SAMPLE_FACTOR)]
    assert summary.pilot_calls >= 7 * 16 * (1 + precision_module.PROXY_SAMPLE_FACTOR)


@pytest.fixture(scope="module")
def halfspace():
    return testing.halfspace(4, offset=0.5)


def test_on_an_affine_testbed_the_proxy_is_exact_and_carries_the_estimate(halfspace):
    result = _with_precision(halfspace, 0.05, seed=4)
    summary = result.precision
    assert summary.level_budgets[0] == precision_module.PROXY
    assert summary.proxy_scale == pytest.approx(1.0, rel=1e-4)  # the linearised distance is r(z) itself
    assert summary.proxy_power == 1.0
    assert abs(summary.level_means[1]) < 1e-4  # r - proxy: the search's own error
    exact = halfspace.exact_mean_radius()
    # 4 standard errors: a correct estimator fails this for one seed in 16000; the search's own error is 1e-4
    assert abs(result.estimate.value - exact) <= 4 * result.estimate.stderr + 1e-4 * exact
    assert summary.met


def test_black_box_runs_have_no_proxy(halfspace):
    result = _with_precision(halfspace, 0.2, seed=4, access="black-box", pilot_points=8)
    assert math.isnan(result.precision.proxy_scale)
    assert precision_module.PROXY not in result.precision.level_budgets.tolist()


def test_without_the_floor_the_allocation_is_the_classic_optimum():
    variances, per_point = [4.0, 1.0], [1.0, 16.0]
    sizes = precision_module._allocation(variances, per_point, target_variance=0.01)
    # n_l = (Σ sqrt(V C)) / T · sqrt(V_l / C_l): (2 + 4) / 0.01 · (2, 1/4)
    assert sizes == pytest.approx([1200.0, 150.0], rel=1e-12)
    assert sum(v / n for v, n in zip(variances, sizes, strict=True)) == pytest.approx(0.01, rel=1e-12)


def test_a_level_held_at_the_floor_counts_toward_the_target_instead_of_overshooting_it():
    variances, per_point = [1.0, 0.001], [1.0, 1000.0]
    sizes = precision_module._allocation(variances, per_point, target_variance=1e-3)
    assert sizes[1] == pytest.approx(precision_module.MIN_LEVEL_SHARE * sizes[0], rel=1e-12)
    # the target is met exactly, with fewer calls than flooring the unconstrained optimum would spend
    assert sum(v / n for v, n in zip(variances, sizes, strict=True)) == pytest.approx(1e-3, rel=1e-12)
    scale = sum(math.sqrt(v * c) for v, c in zip(variances, per_point, strict=True)) / 1e-3
    naive = [scale * math.sqrt(variances[0] / per_point[0])]
    naive.append(max(scale * math.sqrt(variances[1] / per_point[1]), precision_module.MIN_LEVEL_SHARE * naive[0]))
    assert sum(n * c for n, c in zip(sizes, per_point, strict=True)) < sum(
        n * c for n, c in zip(naive, per_point, strict=True)
    )


@pytest.mark.parametrize("seed", range(5))
def test_the_floored_allocation_is_the_optimum_a_general_solver_finds(seed):
    from scipy import optimize

    rng = np.random.default_rng(seed)
    levels = 4
    variances = list(rng.uniform(0.0, 1.0, levels) * np.array([1.0, 0.05, 0.01, 0.001]))
    per_point = list(np.array([7.0, 60.0, 250.0, 1200.0]) * rng.uniform(0.5, 2.0, levels))
    target = 1e-4
    sizes = precision_module._allocation(variances, per_point, target_variance=target)
    share = precision_module.MIN_LEVEL_SHARE
    assert sum(v / n for v, n in zip(variances, sizes, strict=True)) == pytest.approx(target, rel=1e-9)
    assert all(n >= share * sizes[0] * (1 - 1e-9) for n in sizes[1:])
    # the same problem in log sizes (cost and variance scaled to 1) for a general constrained solver, from
    # perturbed starts: every feasible answer it finds costs at least as much
    ours = float(np.dot(sizes, per_point))
    cost = lambda x: float(np.exp(x) @ np.array(per_point)) / ours  # noqa: E731
    constraints = [{"type": "ineq", "fun": lambda x: 1.0 - float(np.sum(np.array(variances) / np.exp(x))) / target}]
    constraints += [{"type": "ineq", "fun": lambda x, i=i: x[i] - x[0] - math.log(share)} for i in range(1, levels)]
    found = []
    for _ in range(10):
        start = np.log(sizes) + rng.normal(0, 0.5, levels)
        x = optimize.minimize(
            cost, start, constraints=constraints, method="SLSQP", options={"ftol": 1e-12, "maxiter": 500}
        ).x
        if all(c["fun"](x) >= -1e-9 for c in constraints):
            found.append(cost(x))
    assert found  # the solver found allocations that respect the constraints
    assert min(found) >= 1 - 1e-6


def test_a_review_case_where_releasing_a_floored_level_is_cheaper():
    # levels: a proxy, a cheap search, the full one with a difference of 0 (held at the floor)
    sizes = precision_module._allocation([0.88, 0.05, 0.0], [7.0, 247.0, 1200.0], target_variance=1e-3)
    share = precision_module.MIN_LEVEL_SHARE
    assert sizes[2] == pytest.approx(share * sizes[0], rel=1e-12)
    assert sizes[1] > share * sizes[0]  # the cheap search's level is above the floor, not held at it
    assert 0.88 / sizes[0] + 0.05 / sizes[1] == pytest.approx(1e-3, rel=1e-9)


def test_the_real_proxy_counts_its_calls_and_does_not_depend_on_how_ranges_are_split(sectors):
    from genloose.metrics.radius.precision import _proxy_range
    from genloose.metrics.radius.sampling import sample_latents
    from genloose.metrics.radius.search import RunSettings

    run = RunSettings(
        seed=5,
        sample_offset=0,
        access="auto",
        batch_size=256,
        confidence=0.95,
        config=genloose.SearchConfig(),
        progress=False,
        stacklevel=2,
    )
    gen = genloose.models.as_generator(sectors.generator, latent_dim=3)
    clf = genloose.models.as_classifier(sectors.classifier)
    proxy = _proxy_range(gen, clf, run)
    whole, calls = proxy(0, 50)
    # 1 scored call and 3 gradients (each a forward and a backward evaluation) per point
    assert calls == 50 * (1 + 2 * 3)
    for k in (1, 13, 31):
        part, _ = proxy(k, 50 - k)
        assert np.array_equal(part, whole[k:])
    latents = sample_latents(5, 3, 50)
    assert np.allclose(whole, sectors.exact_radius(latents), rtol=1e-5, atol=1e-6)  # sectors: p = r


def test_a_label_only_classifier_under_auto_access_gets_no_proxy():
    labels_only = lambda x: (x[:, 0] > 0.3).long()  # noqa: E731
    result = genloose.class_radius(
        torch.nn.Identity(),
        labels_only,
        latent_dim=2,
        precision=0.2,
        progress=False,
        config=genloose.SearchConfig(precision_pilot_points=8),
    )
    assert math.isnan(result.precision.proxy_scale)
    assert result.total_queries == result.precision.total_calls


def test_points_given_only_the_proxy_are_counted_apart_from_the_points_searched(halfspace):
    summary = _with_precision(halfspace, 0.1, seed=6, pilot_points=8).precision
    assert math.isfinite(summary.proxy_scale)
    assert summary.num_proxy_only == summary.level_points[0] - summary.pilot_points > 0
    assert summary.num_searched == summary.num_points - summary.num_proxy_only
    assert summary.num_searched == summary.pilot_points + int((summary.level_points[1:] - summary.pilot_points).sum())


def test_the_report_summary_says_how_many_points_got_only_the_proxy(halfspace):
    report = genloose.evaluate(
        halfspace.generator,
        halfspace.classifier,
        latent_dim=halfspace.latent_dim,
        num_samples=500,
        precision=0.1,
        seed=6,
        progress=False,
        config=genloose.SearchConfig(precision_pilot_points=8),
    )
    run = report.radius_result.precision
    budgets = len(run.level_budgets) - 1
    assert (
        f"from {run.num_searched} points searched at {budgets} budget level(s) and {run.num_proxy_only} given only "
        "the proxy" in report.summary()
    )


def test_a_proxy_tail_the_pilot_misses_is_seen_in_the_proxy_sample_and_the_proxy_is_not_used():
    # one point in 20 after the pilot has a proxy 10^6 times too large (a vanishing gradient): the pilot's 16
    # points do not show it, the proxy's own sample of 256 points does, so no level is the proxy
    def proxy_value(i):
        base = (1.0 + _hash_uniform(i, 11) - 0.25) / 2
        return np.where((i >= 16) & (i % 20 == 7), 1e6, base)

    search, _ = _stub({b: (lambda i, b=b: _tracked(i, b)) for b in BUDGETS})
    proxy, proxy_log = _stub_proxy(proxy_value)
    estimate, summary, _ = run_to_precision(
        search, precision=0.005, confidence=0.95, max_points=100_000, pilot_points=16, proxy=lambda _: proxy
    )
    assert summary.level_budgets[0] != 0
    assert math.isnan(summary.proxy_scale)
    assert proxy_log == [(0, 16), (16, 16 * precision_module.PROXY_SAMPLE_FACTOR)]
    assert summary.met
    # the radii are 1 + U(0, 1) + a wobble: mean 1.5 + 1/400
    assert abs(estimate.value - 1.5025) <= 4 * estimate.stderr + 1e-3
