"""Tests of genloose.integrations.torchmetrics: the torchmetrics metrics equal the library's estimators exactly.

ClassRadius against :func:`genloose.class_radius` and :class:`genloose.RadiusAccumulator` on the same batches,
CollisionProbability against :mod:`genloose.metrics.collision` on the same labels; merges of metric objects,
``state_dict`` round trips, ``reset``, the plot, bad input, and torchmetrics' own synchronisation over two
``gloo`` processes on CPU. Skipped as a whole when torchmetrics is not installed (the ``torchmetrics`` extra).
"""

from __future__ import annotations

import os
import pickle
import socket
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
import torch

torchmetrics = pytest.importorskip("torchmetrics")

import genloose  # noqa: E402  (after the skip: the module below needs torchmetrics)
from genloose import CollisionAccumulator, InvalidArgumentError, RadiusAccumulator, SearchConfig  # noqa: E402
from genloose.integrations.torchmetrics import ClassRadius, CollisionProbability  # noqa: E402
from genloose.metrics import collision_probability  # noqa: E402
from genloose.testing import sectors  # noqa: E402
from tests.test_docs import DOCS, _code_blocks, _run_page  # noqa: E402

matplotlib.use("Agg")

D, K = 3, 5
POOL = 64
SEED = 3
WORLD_SIZE = 2
SPAWN_TIMEOUT_S = 120.0  # generous for two cold processes on a busy 2-core machine; the test fails, never hangs


def _bed():
    return sectors(D, K)  # exact: K angular sectors in a plane of R^3, white-box


def _batches(count: int, size: int, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    return list(torch.randn(count, size, D, generator=torch.Generator().manual_seed(seed), dtype=dtype))


def _radius_metric(**options: Any) -> ClassRadius:
    bed = _bed()
    return ClassRadius(
        bed.generator, bed.classifier, **{"seed": SEED, "config": SearchConfig(pool_size=POOL), **options}
    )


def _search(batch: torch.Tensor) -> genloose.RadiusResult:
    bed = _bed()
    return genloose.class_radius(
        bed.generator, bed.classifier, latents=batch, seed=SEED, config=SearchConfig(pool_size=POOL), progress=False
    )


def _labels_only() -> tuple[torch.nn.Module, Any]:
    """Labels 1 where z_0 > 3: a point near the origin has no witness within max_radius = 1 (censored)."""
    return torch.nn.Identity(), lambda x: (x[:, 0] > 3.0).long()


def _assert_output_is(out: dict[str, torch.Tensor], est: genloose.Estimate) -> None:
    for key in ("value", "stderr", "ci_low", "ci_high"):
        assert out[key].dtype == torch.float64
        np.testing.assert_array_equal(out[key].item(), getattr(est, key), err_msg=key)  # NaN equals NaN
    assert out["n"].dtype == torch.int64
    assert int(out["n"]) == est.n


def _same_state(a: torchmetrics.Metric, b: torchmetrics.Metric) -> None:
    assert a.metric_state.keys() == b.metric_state.keys()
    for name, value in a.metric_state.items():
        assert value.dtype == b.metric_state[name].dtype, name
        assert torch.equal(value, b.metric_state[name]), (name, value, b.metric_state[name])


# ----------------------------------------------------------------------------------------------
# ClassRadius
# ----------------------------------------------------------------------------------------------


def test_class_radius_equals_the_library_on_the_same_batches() -> None:
    batches = _batches(3, 25)
    metric = _radius_metric()
    metric.update(batches[0])
    after_one = metric.estimate()
    for batch in batches[1:]:
        metric.update(batch)
    results = [_search(batch) for batch in batches]
    expected = RadiusAccumulator()
    for result in results:
        expected.update(result)
    assert metric.estimate() == expected.compute()  # the dataclass: value, stderr, interval, confidence, n, method
    out = metric.compute()
    _assert_output_is(out, expected.compute())
    assert (int(out["n"]), int(out["censored"])) == (75, 0)
    assert out["ci_low"] < _bed().exact_mean_radius() < out["ci_high"]
    # one batch: the estimate of genloose.class_radius itself, up to the order of the float64 sums (n·eps)
    assert after_one.value == pytest.approx(results[0].estimate.value, rel=1e-13)
    assert after_one.stderr == pytest.approx(results[0].estimate.stderr, rel=1e-11)
    assert after_one.n == results[0].estimate.n == 25


def test_class_radius_counts_censored_points_and_reports_them() -> None:
    generator, classifier = _labels_only()
    metric = ClassRadius(generator, classifier, num_classes=2, config=SearchConfig(pool_size=POOL, max_radius=1.0))
    near = torch.zeros(4, D, dtype=torch.float64)
    near[:, 0] = torch.tensor([2.5, 2.6, 2.7, 2.8], dtype=torch.float64)
    far = torch.zeros(3, D, dtype=torch.float64)
    with pytest.warns(genloose.SearchFailureWarning, match="3 of 7 points have no witness"):
        metric.update(torch.cat([near, far]))
    out = metric.compute()
    assert (int(out["n"]), int(out["censored"])) == (4, 3)
    assert "3 of 7 censored points excluded" in metric.estimate().method
    expected = RadiusAccumulator()
    with pytest.warns(genloose.SearchFailureWarning):
        expected.update(
            genloose.class_radius(
                generator,
                classifier,
                latents=torch.cat([near, far]),
                num_classes=2,
                config=SearchConfig(pool_size=POOL, max_radius=1.0),
                progress=False,
            )
        )
    assert metric.estimate() == expected.compute()


def test_class_radius_with_every_point_censored_is_nan_with_a_warning() -> None:
    generator, classifier = _labels_only()
    metric = ClassRadius(generator, classifier, num_classes=2, config=SearchConfig(pool_size=POOL, max_radius=1.0))
    with pytest.warns(genloose.UndefinedMetricWarning):
        metric.update(torch.zeros(3, D))
    with pytest.warns(genloose.UndefinedMetricWarning, match="every radius is censored"):
        out = metric.compute()
    assert np.isnan(out["value"].item())
    assert (int(out["n"]), int(out["censored"])) == (0, 3)
    fig, ax = metric.plot(out)
    assert [t.get_text() for t in ax.texts] == ["undefined where every point is censored (no finite radius)"]
    assert ax.get_legend() is None
    fig.clf()


def test_class_radius_leaves_inference_mode_for_the_white_box_search() -> None:
    """Lightning runs validation under torch.inference_mode; the search there equals the search outside."""
    batches = _batches(1, 30)
    outside = _radius_metric(access="white-box")
    outside.update(batches[0])
    inside = _radius_metric()  # "auto": finds the gradients although the caller is in inference mode
    with torch.inference_mode():
        inside.update(batches[0].clone())
    _same_state(inside, outside)


def test_class_radius_merge_of_two_metrics_equals_one_metric_on_all_batches() -> None:
    first, second = _batches(2, 20, seed=1)
    whole, left, right = _radius_metric(), _radius_metric(), _radius_metric()
    whole.update(first)
    whole.update(second)
    left.update(first)
    right.update(second)
    left.merge_state(right)
    # one batch each: the float sums are grouped as in one process, (0 + a) + b, so the states are equal
    _same_state(left, whole)
    assert left.estimate() == whole.estimate()
    assert left.estimate().n == 40
    with pytest.raises(InvalidArgumentError, match="incoming_state must have the options"):
        left.merge_state(_radius_metric(seed=SEED + 1))
    with pytest.raises(InvalidArgumentError, match="incoming_state must be a ClassRadius"):
        left.merge_state(CollisionProbability(K))
    with pytest.raises(InvalidArgumentError, match="must have exactly the keys"):
        left.merge_state({"count": torch.tensor(1)})
    bad = {name: value.clone() for name, value in right.metric_state.items()}
    bad["sum"] = torch.zeros(2, dtype=torch.float64)
    with pytest.raises(
        InvalidArgumentError, match=r"incoming_state\['sum'\] must be a tensor of dtype torch.float64 and shape \(\)"
    ):
        left.merge_state(bad)
    bad["sum"], bad["count"] = right.sum.clone(), right.count.float()
    with pytest.raises(InvalidArgumentError, match=r"incoming_state\['count'\] must be a tensor of dtype torch.int64"):
        left.merge_state(bad)
    _same_state(left, whole)  # a refused merge changes nothing


def test_class_radius_state_dict_round_trip_and_reset() -> None:
    metric = _radius_metric()
    for batch in _batches(2, 25, seed=2):
        metric.update(batch)
    state = metric.state_dict()
    assert set(state) == {"count", "sum", "sum_sq", "censored"}  # the sums only, never the models' weights
    restored = _radius_metric()
    restored.load_state_dict(state)
    _same_state(restored, metric)
    assert restored.estimate() == metric.estimate()
    metric.reset()
    assert int(metric.count) == int(metric.censored) == 0
    assert float(metric.sum) == float(metric.sum_sq) == 0.0
    with (
        pytest.warns(UserWarning, match="before the ``update``"),
        pytest.raises(InvalidArgumentError, match="ClassRadius must have seen at least one point"),
    ):
        metric.compute()


@pytest.mark.parametrize(
    ("latents", "match"),
    [
        (torch.zeros(D), r"latents must be a 2-D array of shape \(n, 3\)"),
        (torch.zeros(2, D, 1), r"latents must be a 2-D array"),
        (torch.zeros(4, D + 1), r"latents must be of shape \(n, 3\) \(latent_dim=3\)"),
        (torch.zeros(0, D + 1), r"latents must be of shape \(n, 3\)"),
        ("zz", r"latents must be a 2-D array"),
    ],
)
def test_class_radius_refuses_latents_of_the_wrong_shape(latents: Any, match: str) -> None:
    metric = _radius_metric(latent_dim=D)
    with pytest.raises(InvalidArgumentError, match=match):
        metric.update(latents)
    assert int(metric.count) == int(metric.censored) == 0


def test_class_radius_infers_the_latent_dim_once_and_holds_later_batches_to_it() -> None:
    metric = _radius_metric()
    metric.update(torch.zeros(0, 7))  # empty: changes nothing, fixes nothing
    assert metric.latent_dim is None
    metric.update(_batches(1, 10)[0])
    assert metric.latent_dim == D
    with pytest.raises(InvalidArgumentError, match=r"latents must be of shape \(n, 3\)"):
        metric.update(torch.zeros(4, D + 2))
    assert int(metric.count) == 10


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"latent_dim": 0}, "latent_dim must be an integer >= 1"),
        ({"access": "grey-box"}, "access must be one of"),
        ({"confidence": 1.0}, "confidence must be"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"config": {"pool_size": 0}}, "config must be a genloose.SearchConfig"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_class_radius_refuses_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        _radius_metric(**options)


def test_class_radius_refuses_models_that_are_not_callable() -> None:
    with pytest.raises(InvalidArgumentError, match="generator must be a callable"):
        ClassRadius("g", _bed().classifier)
    with pytest.raises(InvalidArgumentError, match="classifier must be a callable"):
        ClassRadius(_bed().generator, None)


def test_plot_draws_each_value_with_its_interval(tmp_path: Path) -> None:
    metric = _radius_metric()
    outs = []
    for batch in _batches(3, 20, seed=4):
        metric.update(batch)
        outs.append(metric.compute())
    fig, ax = metric.plot(outs)
    assert ax.get_ylabel() == "class radius (upper estimate)"
    assert ax.get_title() == "ClassRadius"
    ((line, _caps, (bars,)),) = ax.containers  # one errorbar: the line of values, its caps and bars
    np.testing.assert_array_equal(line.get_ydata(), [float(o["value"]) for o in outs])
    segments = bars.get_segments()  # one segment per value, from ci_low to ci_high
    assert [tuple(s[:, 1]) for s in segments] == [(float(o["ci_low"]), float(o["ci_high"])) for o in outs]
    assert ax.get_legend().get_texts()[0].get_text() == "95% CI, n=60, censored=0"
    fig.savefig(tmp_path / "radius.png")
    assert (tmp_path / "radius.png").stat().st_size > 0
    fig.clf()
    # by default it plots compute() on new axes, or on the axes given
    fig2, ax2 = metric.plot()
    assert len(ax2.containers) == 1
    assert metric.plot(ax=ax2)[1] is ax2
    assert len(ax2.containers) == 2
    fig2.clf()
    with pytest.raises(InvalidArgumentError, match="ax must be a matplotlib Axes"):
        metric.plot(ax="axes")
    with pytest.raises(InvalidArgumentError, match=r"val\[0\] must be an output of compute\(\)"):
        metric.plot([{"value": torch.tensor(1.0)}])
    with pytest.raises(InvalidArgumentError, match="val must be an output of compute"):
        metric.plot([])


# ----------------------------------------------------------------------------------------------
# CollisionProbability
# ----------------------------------------------------------------------------------------------


def _labels(n: int, *, seed: int = 0) -> torch.Tensor:
    p = torch.tensor([0.4, 0.3, 0.2, 0.05, 0.05])
    return torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", ["unbiased", "plugin"])
def test_collision_probability_equals_the_library_on_the_same_labels(method: str) -> None:
    labels = _labels(500)
    metric = CollisionProbability(K, method=method, confidence=0.9)
    accumulator = CollisionAccumulator(num_classes=K)
    for chunk in labels.split(64):
        metric.update(chunk)
        accumulator.update(chunk)
    expected = collision_probability(labels, num_classes=K, method=method, confidence=0.9)
    assert metric.estimate() == expected
    assert accumulator.compute(method=method, confidence=0.9) == expected
    _assert_output_is(metric.compute(), expected)
    assert metric.counts.tolist() == np.bincount(labels.numpy(), minlength=K).tolist()


def test_collision_probability_merge_state_dict_and_reset() -> None:
    labels = _labels(300, seed=1)
    whole, left, right = CollisionProbability(K), CollisionProbability(K), CollisionProbability(K)
    whole.update(labels)
    left.update(labels[:100])
    right.update(labels[100:])
    left.merge_state(right)
    _same_state(left, whole)
    assert left.estimate() == whole.estimate()
    state = whole.state_dict()
    assert set(state) == {"counts"}
    restored = CollisionProbability(K)
    restored.load_state_dict(state)
    assert restored.estimate() == whole.estimate()
    whole.reset()
    assert whole.counts.tolist() == [0] * K
    with (
        pytest.warns(UserWarning, match="before the ``update``"),
        pytest.raises(InvalidArgumentError, match="CollisionProbability must have seen at least one label"),
    ):
        whole.compute()
    with pytest.raises(InvalidArgumentError, match="incoming_state must have the options"):
        left.merge_state(CollisionProbability(K, method="plugin"))
    with pytest.raises(
        InvalidArgumentError, match=r"incoming_state\['counts'\] must be a tensor of dtype torch.int64 and shape \(5,\)"
    ):
        left.merge_state({"counts": torch.zeros(K + 1, dtype=torch.int64)})


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (torch.tensor([0.0, 1.0]), "labels must be integer class labels"),
        (torch.tensor([True, False]), "labels must be integer class labels"),
        (torch.tensor([[0, 1]]), "labels must be a 1-D sequence of class labels"),
        (torch.tensor([0, K]), f"labels must be < num_classes={K}"),
        (torch.tensor([-1, 0]), "labels must be non-negative"),
    ],
)
def test_collision_probability_refuses_bad_labels_and_keeps_its_state(labels: torch.Tensor, match: str) -> None:
    metric = CollisionProbability(K)
    metric.update(torch.tensor([0, 1, 1]))
    with pytest.raises(InvalidArgumentError, match=match):
        metric.update(labels)
    assert metric.counts.tolist() == [1, 2, 0, 0, 0]


def test_collision_probability_of_one_label_is_nan_with_a_warning_and_empty_batches_count_nothing() -> None:
    metric = CollisionProbability(K)
    metric.update(torch.tensor([], dtype=torch.long))
    metric.update([3])
    with pytest.warns(genloose.UndefinedMetricWarning):
        out = metric.compute()
    assert np.isnan(out["value"].item())
    assert int(out["n"]) == 1
    fig, ax = metric.plot(out)
    assert [t.get_text() for t in ax.texts] == ["undefined: fewer than 2 labels"]
    fig.clf()
    for bad in ({"num_classes": 0}, {"num_classes": 3, "method": "mle"}, {"num_classes": 3, "confidence": 0}):
        with pytest.raises(InvalidArgumentError):
            CollisionProbability(**bad)


# ----------------------------------------------------------------------------------------------
# two gloo processes: torchmetrics' own sync gives the one-process answer
# ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rank_batches(rank: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Rank r's share: one batch of latents (one per rank, so the float sums are grouped as in one process)
    and batches of labels of uneven sizes (counts are exact in any grouping)."""
    latents = _batches(WORLD_SIZE, 29, seed=11)[rank]
    labels = _labels(97, seed=12)
    own, sizes = (labels[:50], [20, 30]) if rank == 0 else (labels[50:], [9, 21, 17])
    return latents, list(own.split(sizes))


def _ddp_worker(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=60),
    )
    out: dict[str, Any] = {}
    try:
        latents, label_batches = _rank_batches(rank)
        radius, collision = _radius_metric(), CollisionProbability(K)
        radius.update(latents)
        for labels in label_batches:
            collision.update(labels)
        out["radius"] = radius.compute()
        out["radius_estimate"] = radius.estimate()
        out["collision"] = collision.compute()
        out["collision_estimate"] = collision.estimate()
        out["local_count"] = int(radius.count)  # the rank's own state is restored after the sync
        out["local_counts"] = collision.counts.tolist()
    except Exception as error:  # pragma: no cover - reported by the parent
        out["error"] = repr(error)
    finally:
        with open(Path(out_dir) / f"rank{rank}.pkl", "wb") as handle:
            pickle.dump(out, handle)
        dist.destroy_process_group()


@pytest.mark.ddp
def test_two_gloo_processes_sync_to_the_one_process_answer(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    context = mp.spawn(_ddp_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=False)
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the two gloo processes did not finish within {SPAWN_TIMEOUT_S:.0f} s")
    outs = []
    for rank in range(WORLD_SIZE):
        with open(tmp_path / f"rank{rank}.pkl", "rb") as handle:
            outs.append(pickle.load(handle))
    assert [out.get("error") for out in outs] == [None, None]

    # one process, one metric, every rank's batches in rank order
    radius, collision = _radius_metric(), CollisionProbability(K)
    for rank in range(WORLD_SIZE):
        latents, label_batches = _rank_batches(rank)
        radius.update(latents)
        for labels in label_batches:
            collision.update(labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        radius_out, collision_out = radius.compute(), collision.compute()
    assert int(radius_out["n"]) == 58
    assert int(collision_out["n"]) == 97
    for rank, out in enumerate(outs):
        assert out["radius_estimate"] == radius.estimate(), rank
        assert out["collision_estimate"] == collision.estimate(), rank
        for key in radius_out:
            assert torch.equal(out["radius"][key], radius_out[key]), (rank, key)
        for key in collision_out:
            assert torch.equal(out["collision"][key], collision_out[key]), (rank, key)
        latents, label_batches = _rank_batches(rank)
        assert out["local_count"] == latents.shape[0]
        assert sum(out["local_counts"]) == sum(b.shape[0] for b in label_batches)


# ----------------------------------------------------------------------------------------------
# the documentation page
# ----------------------------------------------------------------------------------------------


def test_the_torchmetrics_page_runs_as_printed() -> None:
    page = DOCS / "torchmetrics.md"
    blocks = _code_blocks(page)
    assert len(blocks) >= 2
    _run_page(page, blocks)
