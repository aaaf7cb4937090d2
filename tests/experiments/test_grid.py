"""End-to-end tests of the Figure 3.1 reproduction on tiny settings."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genloose._errors import InvalidArgumentError, UndefinedMetricWarning
from genloose.experiments.grid import (
    ENTROPY_FIGURE_FILE,
    FIGURE_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    grid_rank_correlation,
    reproduce_grid,
    run_grid_experiment,
)
from genloose.reference_models import grid_family
from genloose.reference_models.gan import GANConfig

EXPECTED_COLUMNS = [
    "name",
    "g_width",
    "g_depth",
    "train_steps",
    "train_seed",
    "support_size",
    "modes_captured",
    "high_quality_fraction",
    "class_radius",
    "class_radius_stderr",
    "class_radius_ci_low",
    "class_radius_ci_high",
    "num_censored",
    "radius_exceeds_fawzi_cap",
    "collision_probability",
    "collision_probability_stderr",
    "collision_probability_ci_low",
    "collision_probability_ci_high",
    "collision_entropy",
    "collision_entropy_stderr",
    "collision_entropy_ci_low",
    "collision_entropy_ci_high",
    "num_observed_classes",
    "max_class_probability",
    "theorem_3_1_applies",
    "theorem_3_1_bound",
    "fawzi_cap",
    "num_samples",
    "mode_samples",
]
NAMES = ["w32d1", "w12d1"]  # small generators: a fast search


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("grid")
    frame = run_grid_experiment(out, names=NAMES, num_samples=60, mode_samples=400, seed=1, progress=False)
    return frame, out


def test_writes_csv_png_and_summary(outputs: tuple[pd.DataFrame, Path]) -> None:
    frame, out = outputs
    assert list(frame.columns) == EXPECTED_COLUMNS
    assert frame["name"].tolist() == NAMES
    written = pd.read_csv(out / METRICS_FILE)
    assert list(written.columns) == EXPECTED_COLUMNS
    pd.testing.assert_frame_equal(written, frame, check_dtype=False, atol=1e-12)
    for name in (FIGURE_FILE, ENTROPY_FIGURE_FILE):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["settings"]["num_samples"] == 60
    assert summary["spearman_support_size_vs_class_radius"]["n"] == 2
    assert summary["spearman_collision_entropy_vs_class_radius"]["rho"] is None  # n = 2 < 3
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_row_contents_are_consistent(outputs: tuple[pd.DataFrame, Path]) -> None:
    frame, _ = outputs
    for _, row in frame.iterrows():
        assert row["class_radius_ci_low"] <= row["class_radius"] <= row["class_radius_ci_high"]
        assert row["class_radius"] > 0
        assert row["collision_entropy"] == pytest.approx(-math.log(row["collision_probability"]))
        assert 0 < row["max_class_probability"] <= 1
        assert row["theorem_3_1_applies"] == (row["max_class_probability"] <= 0.2)
        assert math.isnan(row["theorem_3_1_bound"]) != row["theorem_3_1_applies"]
        assert row["fawzi_cap"] > 0
        assert row["num_samples"] == 60
        assert row["mode_samples"] == 400
    full, collapsed = frame.iloc[0], frame.iloc[1]
    # The bundled wide-support GAN and the collapsed one differ as the manifest says.
    assert full["support_size"] > collapsed["support_size"]
    assert full["collision_entropy"] > collapsed["collision_entropy"]


def test_mode_metrics_match_the_manifest_at_seed_zero() -> None:
    frame = run_grid_experiment(names=["w12d1"], num_samples=20, progress=False)
    recorded = grid_family.load_grid_gan("w12d1").metrics
    assert frame.loc[0, "modes_captured"] == recorded["modes_captured"]
    assert frame.loc[0, "support_size"] == recorded["support_size"]


def test_refuses_to_overwrite_before_doing_any_work(
    outputs: tuple[pd.DataFrame, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = outputs
    before = (out / METRICS_FILE).read_bytes()

    def fail_if_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("models were loaded although the outputs exist")

    monkeypatch.setattr(grid_family, "load_grid_gan", fail_if_called)
    with pytest.raises(InvalidArgumentError, match="overwrite"):
        run_grid_experiment(out, names=NAMES[:1], num_samples=10, progress=False)
    assert (out / METRICS_FILE).read_bytes() == before


def test_overwrite_replaces_outputs(tmp_path: Path) -> None:
    run_grid_experiment(tmp_path, names=["w12d1"], num_samples=10, mode_samples=50, progress=False)
    frame = run_grid_experiment(
        tmp_path, names=["w16d1"], num_samples=10, mode_samples=50, progress=False, overwrite=True
    )
    assert pd.read_csv(tmp_path / METRICS_FILE)["name"].tolist() == ["w16d1"]
    assert frame.attrs["spearman_n"] == 1
    assert math.isnan(frame.attrs["spearman_rho"])


def test_retrain_path_uses_the_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = GANConfig(g_width=6, g_depth=1, d_width=8, d_depth=1, steps=10, batch_size=32)
    monkeypatch.setattr(
        grid_family,
        "GRID_FAMILY",
        (
            grid_family.GridGANRecipe("tiny-a", tiny, 0, "tiny"),
            grid_family.GridGANRecipe("tiny-b", replace(tiny, g_width=4), 1, "tiny"),
        ),
    )
    frame = run_grid_experiment(tmp_path, retrain=True, num_samples=20, mode_samples=50, progress=False)
    assert frame["name"].tolist() == ["tiny-a", "tiny-b"]
    assert (tmp_path / "weights" / "grid_tiny-a.safetensors").is_file()
    assert (tmp_path / FIGURE_FILE).is_file()


def test_progress_false_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    run_grid_experiment(names=["w12d1"], num_samples=10, mode_samples=50, progress=False)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": ["nope"]}, "name must be"),
        ({"names": "w12d1"}, "names must be"),
        ({"names": []}, "names must be"),
        ({"num_samples": 1}, "num_samples"),
        ({"mode_samples": 0}, "mode_samples"),
        ({"seed": -1}, "seed"),
        ({"confidence": 1.0}, "confidence"),
        ({"retrain": 1}, "retrain"),
        ({"retrain": True, "weights_dir": "x"}, "weights_dir"),
        ({"out_dir": 3}, "out_dir"),
    ],
)
def test_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        run_grid_experiment(**{"progress": False, **kwargs})


def test_rank_correlation_known_answers() -> None:
    decreasing = pd.DataFrame({"support_size": [25, 16, 9, 2], "class_radius": [0.1, 0.2, 0.4, 0.8]})
    rho, pvalue, n = grid_rank_correlation(decreasing)
    assert rho == pytest.approx(-1.0)
    assert n == 4
    assert 0.0 <= pvalue <= 1.0
    # Ties use average ranks, as in scipy; NaN radii are left out.
    frame = pd.DataFrame({"support_size": [1, 2, 3, 4, 5], "class_radius": [0.5, 0.4, np.nan, 0.4, 0.1]})
    rho, _, n = grid_rank_correlation(frame)
    ranks_x = np.array([1, 2, 3, 4])
    ranks_y = np.array([4, 2.5, 2.5, 1])
    expected = np.corrcoef(ranks_x, ranks_y)[0, 1]
    assert n == 4
    assert rho == pytest.approx(expected)
    assert math.isnan(grid_rank_correlation(decreasing.iloc[:2])[0])
    with pytest.raises(InvalidArgumentError, match="frame must be"):
        grid_rank_correlation(pd.DataFrame({"support_size": [1]}))
    other = pd.DataFrame({"collision_entropy": [3.0, 2.0, np.inf, 1.0], "class_radius": [0.1, 0.3, 0.9, 0.2]})
    rho, _, n = grid_rank_correlation(other, x="collision_entropy")
    assert n == 3
    assert rho == pytest.approx(-0.5)


def test_reproduce_grid_prints_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    # the three cheapest bundled members stand in for the family
    monkeypatch.setattr(
        grid_family, "GRID_FAMILY", tuple(grid_family.get_recipe(name) for name in ("w32d1", "w16d1", "w12d1"))
    )
    stream = io.StringIO()
    assert reproduce_grid(tmp_path, num_samples=40, progress=False, stream=stream) == 0
    text = stream.getvalue()
    assert "Spearman rank correlation (support size vs class radius): rho = " in text
    assert text.count("\n") >= len(grid_family.GRID_FAMILY) + 3
    assert len(pd.read_csv(tmp_path / METRICS_FILE)) == len(grid_family.GRID_FAMILY)
    with pytest.raises(InvalidArgumentError, match="out_dir"):
        reproduce_grid(None)  # type: ignore[arg-type]


def test_no_collision_in_a_tiny_sample_gives_an_infinite_entropy(tmp_path: Path) -> None:
    # 3 latents of w32d1 (seed 0) fall in 3 different classes: the collision probability
    # estimate is 0, the entropy +inf (documented, with a warning), and Theorem 3.1 is not applied.
    with pytest.warns(UndefinedMetricWarning, match="no two samples share a class"):
        frame = run_grid_experiment(tmp_path, names=["w32d1"], num_samples=3, mode_samples=50, progress=False)
    row = frame.iloc[0]
    assert row["collision_probability"] == 0.0
    assert math.isinf(row["collision_entropy"])
    assert not row["theorem_3_1_applies"]
    assert math.isnan(row["theorem_3_1_bound"])
    assert (tmp_path / ENTROPY_FIGURE_FILE).is_file()
