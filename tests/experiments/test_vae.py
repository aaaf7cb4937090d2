"""Tests of genloose.experiments.vae: the Section 4 reproduction, end to end on tiny settings."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from genloose._errors import InvalidArgumentError
from genloose.experiments.vae import (
    FIGURE_FILES,
    METRICS_FILE,
    _measure,
    _paired_difference,
    run_vae_experiment,
)

_COLUMNS = [
    "model",
    "latent_dim",
    "num_samples",
    "seed",
    "weights",
    "class_radius",
    "class_radius_stderr",
    "class_radius_ci_low",
    "class_radius_ci_high",
    "censored",
    "collision_entropy",
    "collision_entropy_stderr",
    "collision_entropy_ci_low",
    "collision_entropy_ci_high",
    "collision_probability",
    "max_class_probability",
    "num_observed_classes",
    "fawzi_cap",
    "theorem_3_1_bound",
    "theorem_3_1_applies",
    "reconstruction_error",
    "reconstruction_error_stderr",
    "reconstruction_error_ci_low",
    "reconstruction_error_ci_high",
    "radius_difference_vs_vae",
    "radius_difference_vs_vae_stderr",
    "radius_difference_vs_vae_ci_low",
    "radius_difference_vs_vae_ci_high",
    "classifier_test_accuracy",
]


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models: one intra-op thread is faster, and far faster on a shared, loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _g(q: float) -> float:
    """Theorem 3.1's formula, written out independently."""
    x = math.log(1.0 / q)
    return math.log(4 * math.pi * x) / math.sqrt(2 * x)


def _fawzi(p: np.ndarray) -> float:
    p = p[p > 0]
    t = norm.ppf(p)
    return float(np.sum(norm.pdf(t) + p * t))


# --------------------------------------------------------------------------------------------
# The metric plumbing against an exact answer


_A = float(norm.ppf(0.3))


class _HalfSpace(torch.nn.Module):
    """Two classes split by the hyperplane z_1 = a, with a = Phi^-1(0.3): p = (0.3, 0.7),
    r(z) = |z_1 - a|, E r = 2 phi(a) + a (2 Phi(a) - 1), which is also the Fawzi cap (tight)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        first = images[:, 0] - _A
        return torch.stack([-first, first], dim=1)


def test_measure_recovers_the_half_space_answer() -> None:
    model = SimpleNamespace(decoder=torch.nn.Identity())
    row, radii = _measure(model, _HalfSpace(), 3, 400, 0, False)  # type: ignore[arg-type]
    exact_radius = 2 * norm.pdf(_A) + _A * (2 * 0.3 - 1)
    assert abs(row["class_radius"] - exact_radius) <= 4 * row["class_radius_stderr"]
    assert row["censored"] == 0
    assert radii.shape == (400,)
    exact_entropy = -math.log(0.3**2 + 0.7**2)
    assert abs(row["collision_entropy"] - exact_entropy) <= 4 * row["collision_entropy_stderr"]
    assert row["collision_probability"] == pytest.approx(math.exp(-row["collision_entropy"]))
    assert row["num_observed_classes"] == 2
    p_max = row["max_class_probability"]
    assert abs(p_max - 0.7) <= 4 * math.sqrt(0.21 / 400)
    # the cap at the sample and seeding-pool frequencies (the report's and the search's): near the exact E r
    exact_cap = _fawzi(np.array([0.3, 0.7]))
    slope = abs(2 * 0.3 - 1) / norm.pdf(norm.ppf(0.3))  # dU/dp for two classes; at least 400 labels
    assert abs(row["fawzi_cap"] - exact_cap) <= 4 * slope * math.sqrt(0.21 / 400)
    assert math.isnan(row["theorem_3_1_bound"])  # as in the report: no bound where the hypothesis fails
    assert row["theorem_3_1_applies"] is False  # max p = 0.7 > 1/5


def test_paired_difference_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(50)
    other = base + rng.normal(0.1, 0.05, size=50)
    other[3] = math.inf  # censored in one model: the pair is left out
    result = _paired_difference(base, other)
    kept = np.delete(other - base, 3)
    assert result["radius_difference_vs_vae"] == pytest.approx(kept.mean())
    se = kept.std(ddof=1) / math.sqrt(49)
    assert result["radius_difference_vs_vae_stderr"] == pytest.approx(se)
    assert result["radius_difference_vs_vae_ci_low"] == pytest.approx(kept.mean() - 1.959964 * se, rel=1e-6)
    assert all(math.isnan(v) for v in _paired_difference(base, None).values())


# --------------------------------------------------------------------------------------------
# End to end, bundled weights, tiny settings


def test_end_to_end_writes_figures_and_table(tmp_path: Path) -> None:
    frame = run_vae_experiment(tmp_path, num_samples=6, latent_dims=(2,), grid_points=12, progress=False)
    assert list(frame.columns) == _COLUMNS
    assert list(frame["model"]) == ["VAE", "LC-VAE"]
    assert list(frame["latent_dim"]) == [2, 2]
    assert (frame["weights"] == "bundled").all()
    assert frame["class_radius"].between(0, np.inf).all()
    # no class radius exceeds the universal cap beyond its error
    assert (frame["class_radius_ci_low"] <= frame["fawzi_cap"]).all()
    assert frame["classifier_test_accuracy"].iloc[0] > 0.95
    assert math.isnan(frame["radius_difference_vs_vae"].iloc[0])
    assert math.isfinite(frame["radius_difference_vs_vae"].iloc[1])
    for name in FIGURE_FILES.values():
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(tmp_path / METRICS_FILE)
    pd.testing.assert_frame_equal(table, frame, check_dtype=False)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_refuses_to_overwrite_before_doing_any_work(tmp_path: Path) -> None:
    (tmp_path / METRICS_FILE).write_text("keep me")
    with pytest.raises(InvalidArgumentError, match="overwrite=True"):
        run_vae_experiment(tmp_path, num_samples=6)
    assert (tmp_path / METRICS_FILE).read_text() == "keep me"
    assert not (tmp_path / FIGURE_FILES["4.1"]).exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 1}, "num_samples must be an integer >= 2"),
        ({"latent_dims": (3,)}, "latent_dims must be a sequence of latent dimensions"),
        ({"latent_dims": ()}, "latent_dims must be a non-empty sequence"),
        ({"latent_dims": "2"}, "latent_dims must be a sequence"),
        ({"retrain": "no"}, "retrain must be a bool"),
        ({"grid_points": 1}, "grid_points must be an integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_argument_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        run_vae_experiment(**kwargs)


def test_out_dir_must_not_be_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    path.write_text("")
    with pytest.raises(InvalidArgumentError, match="out_dir must be a directory"):
        run_vae_experiment(path, num_samples=6)
