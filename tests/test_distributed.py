"""Tests of genloose.distributed and of evaluate() under torch.distributed (gloo, 2 processes on CPU)."""

from __future__ import annotations

import os
import pickle
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import genloose
from genloose import SearchConfig, evaluate
from genloose._errors import InvalidArgumentError, ModelOutputError
from genloose.accumulators import RadiusAccumulator
from genloose.distributed import (
    all_gather_objects,
    all_reduce_state,
    check_same,
    merge_radius_results,
    rank_and_world_size,
    run_collectively,
    shard_range,
)
from genloose.testing import sectors

POOL_16 = SearchConfig(pool_size=16)  # a small seeding pool
POOL_64 = SearchConfig(pool_size=64)  # a small seeding pool

WORLD_SIZE = 2
NUM_SAMPLES = 101  # not divisible by the world size
SEED = 7


def _testbed():
    return sectors(3, 6)  # exact: six sectors in a plane of R^3


class _FailsOnRankOne(torch.nn.Module):
    """A generator that returns NaN on rank 1 only (to test error propagation between ranks)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_rank() == 1:
            return torch.full_like(z, float("nan"))
        return z


# ----------------------------------------------------------------------------------------------
# one process
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("world_size", [1, 2, 3, 7, 10])
@pytest.mark.parametrize("num_samples", [10, 11, 101])
def test_shard_range_partitions_the_indices(num_samples: int, world_size: int) -> None:
    ranges = [shard_range(num_samples, rank=r, world_size=world_size) for r in range(world_size)]
    covered = np.concatenate([np.arange(a, b) for a, b in ranges])
    np.testing.assert_array_equal(covered, np.arange(num_samples))  # each index once, in order
    sizes = [b - a for a, b in ranges]
    assert max(sizes) - min(sizes) <= 1
    assert min(sizes) >= 1


def test_shard_range_rejects_fewer_samples_than_ranks() -> None:
    with pytest.raises(InvalidArgumentError, match="num_samples smaller than the world size"):
        shard_range(3, rank=0, world_size=4)
    with pytest.raises(InvalidArgumentError, match="rank"):
        shard_range(10, rank=4, world_size=4)


def test_helpers_without_a_process_group() -> None:
    assert rank_and_world_size() == (0, 1)
    assert all_gather_objects(3) == [3]
    assert run_collectively(lambda: "x") == ["x"]
    acc = RadiusAccumulator()
    acc.update([1.0, 2.0])
    assert RadiusAccumulator.from_state_dict(all_reduce_state(acc.state_dict())) == acc
    with pytest.raises(InvalidArgumentError, match="seed must be the same on every rank"):
        check_same([{"seed": 0}, {"seed": 1}])


def test_merged_shards_equal_the_one_process_result() -> None:
    tb = _testbed()

    def run(n: int, offset: int):
        return genloose.class_radius(
            tb.generator,
            tb.classifier,
            latent_dim=3,
            num_samples=n,
            sample_offset=offset,
            seed=SEED,
            config=POOL_64,
            progress=False,
        )

    whole = run(40, 0)
    merged = merge_radius_results([run(14, 0), run(13, 14), run(13, 27)], confidence=0.95)
    arrays = ("latents", "radii", "witnesses", "labels", "witness_labels", "censored", "queries")
    arrays += ("class_counts_with_pool",)
    for name in arrays:
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name), err_msg=name)
    assert merged.estimate == whole.estimate
    assert merged.fawzi_cap == whole.fawzi_cap
    assert merged.fawzi_cap_stderr == whole.fawzi_cap_stderr
    assert merged.exceeds_cap == whole.exceeds_cap
    assert merged.access == whole.access
    assert merged.seed == whole.seed
    assert merged.pool_queries == whole.pool_queries
    assert merged.total_queries == whole.total_queries


# ----------------------------------------------------------------------------------------------
# two processes
# ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _capture(fn):
    try:
        return ("ok", fn())
    except Exception as error:
        return ("error", type(error).__name__, str(error))


def _worker(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ["TQDM_DISABLE"] = "1"
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    tb = _testbed()
    out: dict[str, object] = {}
    try:
        assert rank_and_world_size() == (rank, WORLD_SIZE)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = evaluate(
                tb.generator,
                tb.classifier,
                latent_dim=3,
                num_samples=NUM_SAMPLES,
                seed=SEED,
                config=POOL_64,
                batch_size=16 + 8 * rank,  # batch sizes may differ between ranks
            )
        out["report"] = report.to_dict()
        out["json"] = report.to_json()
        out["result"] = report.radius_result
        out["warnings"] = [str(w.message) for w in caught]
        # a rank's own share: the samples it saw differ from the other rank's
        start, stop = shard_range(NUM_SAMPLES, rank=rank, world_size=WORLD_SIZE)
        out["shard"] = (start, stop)
        # accumulators reduced over ranks equal the global accumulators
        acc = RadiusAccumulator()
        acc.update(report.radius_result.radii[start:stop])
        out["reduced"] = all_reduce_state(acc.state_dict())
        # errors: too few samples, arguments that differ, a model failing on one rank only
        out["too_few"] = _capture(lambda: evaluate(tb.generator, tb.classifier, latent_dim=3, num_samples=1))
        out["different_seed"] = _capture(
            lambda: evaluate(tb.generator, tb.classifier, latent_dim=3, num_samples=20, seed=rank, config=POOL_16)
        )
        out["bad_argument_on_one_rank"] = _capture(
            lambda: evaluate(
                tb.generator, tb.classifier, latent_dim=3, num_samples=20, seed=-1 if rank else 0, config=POOL_16
            )
        )
        out["model_fails_on_one_rank"] = _capture(
            lambda: evaluate(_FailsOnRankOne(), tb.classifier, latent_dim=3, num_samples=20, config=POOL_16)
        )
        # a collective still works afterwards: nobody is left waiting
        out["after"] = all_gather_objects(rank)
    finally:
        with open(Path(out_dir) / f"rank{rank}.pkl", "wb") as handle:
            pickle.dump(out, handle)
        dist.destroy_process_group()


@pytest.mark.ddp
def test_two_process_report_equals_the_one_process_report(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    outs = []
    for rank in range(WORLD_SIZE):
        with open(tmp_path / f"rank{rank}.pkl", "rb") as handle:
            outs.append(pickle.load(handle))

    tb = _testbed()
    single = evaluate(
        tb.generator, tb.classifier, latent_dim=3, num_samples=NUM_SAMPLES, seed=SEED, config=POOL_64, progress=False
    )
    expected = single.to_dict()
    for rank, out in enumerate(outs):
        got = dict(out["report"])
        assert got.pop("world_size") == WORLD_SIZE
        expected_no_world = {k: v for k, v in expected.items() if k != "world_size"}
        assert got.keys() == expected_no_world.keys()
        for key, value in expected_no_world.items():
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(got[key]), (rank, key)
            else:
                assert got[key] == value, (rank, key, got[key], value)
        result = out["result"]
        for name in ("latents", "radii", "witnesses", "labels", "censored", "queries", "class_counts_with_pool"):
            np.testing.assert_array_equal(getattr(result, name), getattr(single.radius_result, name), err_msg=name)

    # a report from the distributed run reads back exactly, and compares with the one-process report
    for out in outs:
        back = genloose.Report.from_json(out["json"])
        assert back.to_json() == out["json"]
        assert back.metadata.world_size == WORLD_SIZE
        assert back.radius_result.metadata == out["result"].metadata
        for name in ("latents", "radii", "witnesses", "labels", "censored", "queries", "class_counts_with_pool"):
            np.testing.assert_array_equal(getattr(back.radius_result, name), getattr(single.radius_result, name))
        assert genloose.compare(back, single).paired

    # the ranks evaluated disjoint, contiguous shares of the sample, covering it
    (a0, b0), (a1, b1) = outs[0]["shard"], outs[1]["shard"]
    assert (a0, b0, a1, b1) == (0, 51, 51, 101)
    assert not np.allclose(single.radius_result.latents[a0:b0][:50], single.radius_result.latents[a1:b1][:50])

    # warnings appear on rank 0 only
    assert outs[1]["warnings"] == []

    # the accumulators reduced over the ranks equal the one-process accumulator
    total = RadiusAccumulator()
    total.update(single.radius_result.radii)
    for out in outs:
        assert out["reduced"]["count"] == total.state_dict()["count"]
        assert out["reduced"]["sum"] == pytest.approx(total.state_dict()["sum"], rel=1e-12)

    # errors are raised on every rank, with a clear message, and nobody hangs
    for out in outs:
        status, kind, message = out["too_few"]
        assert (status, kind) == ("error", "InvalidArgumentError")
        assert "num_samples" in message
        status, kind, message = out["different_seed"]
        assert (status, kind) == ("error", "InvalidArgumentError")
        assert "seed must be the same on every rank" in message
        status, kind, message = out["bad_argument_on_one_rank"]
        assert (status, kind) == ("error", "InvalidArgumentError")
        assert "seed must be an integer >= 0" in message
        status, kind, message = out["model_fails_on_one_rank"]
        assert (status, kind) == ("error", ModelOutputError.__name__)
        assert "NaN" in message
        assert out["after"] == [0, 1]
    assert outs[0]["model_fails_on_one_rank"][2].startswith("on rank 1:")
