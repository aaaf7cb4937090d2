"""Tests of the figures (genloose/_plot.py): Report.plot, RadiusResult.plot, Comparison.plot.

Each figure is drawn with the Agg backend, saved to a PNG, and its content is checked: the number of axes,
their labels and titles, the number of bars, the drawn points, and the notes written on degenerate reports.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from genloose import compare, evaluate
from genloose._errors import InvalidArgumentError
from genloose._plot import NO_RADIUS, RADIUS_LABEL
from genloose.report import Report, build_report


def _sectors(k: int):
    angles = torch.arange(k, dtype=torch.float32) * (2 * math.pi / k)
    directions = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    return lambda x: x[:, :2] @ directions.T


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(torch.nn.Identity(), _sectors(10), latent_dim=3, num_samples=120, seed=0, progress=False)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_report_plot_draws_four_labelled_panels(report: Report, tmp_path: Path) -> None:
    fig, axes = report.plot()
    path = tmp_path / "report.png"
    fig.savefig(path, dpi=40)
    assert path.stat().st_size > 1000
    assert len(axes) == 4
    assert all(a.figure is fig for a in axes)
    radius, per_class, classes, bounds = axes
    assert radius.get_xlabel() == RADIUS_LABEL
    assert radius.get_title() == "per-point radii (n=120)"
    # the ECDF ends at 1 and runs over the finite radii; the mean is the dashed vertical line
    ecdf = radius.lines[0]
    assert ecdf.get_ydata()[-1] == pytest.approx(1.0)
    assert np.max(ecdf.get_xdata()) == pytest.approx(report.radius_result.radii.max())
    assert radius.lines[1].get_xdata()[0] == pytest.approx(report.class_radius.value)
    observed = report.diagnostics.num_observed_classes
    assert len(per_class.patches) == observed
    heights = [p.get_height() for p in per_class.patches]
    expected = report.radius_result.per_class_frame()["mean_radius"].to_numpy()
    np.testing.assert_allclose(heights, expected)
    assert len(classes.patches) == report.class_counts.size
    np.testing.assert_allclose([p.get_height() for p in classes.patches], report.class_probabilities)
    assert classes.get_ylabel() == "sample frequency p̂_k"
    labels = [t.get_text() for t in bounds.get_yticklabels()]
    assert labels[-1] == "class radius"  # top row
    assert "Theorem 3.1\ng(‖p‖²)\nhypothesis holds" in labels  # max p̂ < 1/5 for ten sectors
    # one point per row: radius, cap, two bounds
    points = [line.get_xdata()[0] for line in bounds.lines if len(line.get_xdata()) == 1]
    assert report.class_radius.value in points
    assert report.bounds.fawzi_cap.value in points


def test_report_plot_marks_a_failed_hypothesis() -> None:
    two = evaluate(
        torch.nn.Identity(), _sectors(2), latent_dim=2, num_samples=60, seed=0, progress=False
    )  # p = (1/2, 1/2): Theorem 3.1 and 3.2 fail
    _, axes = two.plot()
    labels = [t.get_text() for t in axes[3].get_yticklabels()]
    assert "Theorem 3.1\ng(‖p‖²)\nhypothesis fails" in labels
    assert _texts(axes[3]).count("n/a: hypothesis fails") == 2


def test_report_plot_on_given_axes_and_histogram(report: Report) -> None:
    fig, grid = plt.subplots(2, 2)
    out_fig, out_axes = report.plot(ax=grid, kind="hist")
    assert out_fig is fig
    assert list(out_axes) == list(grid.reshape(-1))
    assert grid[0, 0].get_ylabel() == "points"
    finite = int((~report.radius_result.censored).sum())
    assert sum(p.get_height() for p in grid[0, 0].containers[0]) == finite


def test_radius_result_plot_on_one_axes(report: Report) -> None:
    fig, ax = plt.subplots()
    out_fig, out_ax = report.radius_result.plot(ax=ax)
    assert (out_fig, out_ax) == (fig, ax)
    assert ax.get_xlabel() == RADIUS_LABEL
    assert any("95% CI" in t.get_text() for t in ax.get_legend().get_texts())


@pytest.mark.parametrize(
    ("ax", "match"),
    [
        ("axes", r"ax must be None or a sequence of 4 matplotlib Axes"),
        ([1, 2, 3, 4], r"ax must be None or a sequence of 4 matplotlib Axes"),
    ],
)
def test_report_plot_rejects_bad_axes(report: Report, ax, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        report.plot(ax=ax)
    _, three = plt.subplots(1, 3)
    with pytest.raises(InvalidArgumentError, match=r"sequence of 4 .* got ndarray"):
        report.plot(ax=three)


def test_plot_rejects_bad_kind_and_axes(report: Report) -> None:
    with pytest.raises(InvalidArgumentError, match="kind"):
        report.plot(kind="violin")
    with pytest.raises(InvalidArgumentError, match=r"ax must be a matplotlib Axes or None; got \[1\] \(list\)"):
        report.radius_result.plot(ax=[1])


def test_single_class_report_plots_with_notes_not_errors(single_class_report, tmp_path: Path) -> None:
    single = single_class_report
    fig, axes = single.plot()
    fig.savefig(tmp_path / "single.png", dpi=40)
    note = NO_RADIUS.format(n=20)
    assert _texts(axes[0]) == [note]
    assert not axes[0].lines
    assert _texts(axes[1]) == [note]
    assert not axes[1].patches
    assert len(axes[2].patches) == 3
    assert [p.get_height() for p in axes[2].patches] == [1.0, 0.0, 0.0]
    assert "inf (one class: no boundary)" in _texts(axes[3])
    assert note in _texts(axes[3])


def test_every_point_censored_with_two_classes(report: Report) -> None:
    result = report.radius_result
    n = result.num_samples
    censored = replace(
        result,
        radii=np.full(n, np.inf),
        censored=np.ones(n, dtype=bool),
        estimate=replace(result.estimate, value=math.nan, ci_low=math.nan, ci_high=math.nan, n=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rebuilt = build_report(censored, confidence=0.95, num_classes=10, world_size=1, device="cpu", dtype="f32")
    _, axes = rebuilt.plot()
    assert _texts(axes[0]) == [NO_RADIUS.format(n=n)]
    assert axes[0].get_title() == f"per-point radii (n={n}, {n} censored)"
    assert len(axes[2].patches) == 10  # the class distribution is still drawn


def test_a_class_with_every_point_censored_is_marked(report: Report) -> None:
    result = report.radius_result
    first = result.labels == result.labels.min()
    partly = replace(result, radii=np.where(first, np.inf, result.radii), censored=result.censored | first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rebuilt = build_report(partly, confidence=0.95, num_classes=10, world_size=1, device="cpu", dtype="f32")
    ax = rebuilt.plot()[1][1]
    assert ax.patches[0].get_height() == 0.0
    assert [t.get_text() for t in ax.texts] == ["all\ncensored"]
    assert ax.patches[1].get_height() > 0


def test_comparison_plot_side_by_side(tmp_path: Path) -> None:
    shift = torch.tensor([1.0, 0.0])
    a = evaluate(torch.nn.Identity(), _sectors(4), latent_dim=2, num_samples=80, seed=1, progress=False)
    b = evaluate(lambda z: z + shift, _sectors(4), latent_dim=2, num_samples=80, seed=2, progress=False)
    comparison = compare(a, b, names=("plain", "shifted"))
    fig, axes = comparison.plot()
    fig.savefig(tmp_path / "comparison.png", dpi=40)
    assert len(axes) == 3
    assert len(axes[0].lines) == 4  # an ECDF and a mean line per model
    assert len(axes[1].patches) == 2 * 4  # four classes, two models
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["plain", "shifted"]
    ticks = [t.get_text() for t in axes[2].get_xticklabels()]
    verdicts = comparison.verdicts()
    assert ticks == [
        f"class radius\nmore diverse: {verdicts['class_radius']}",
        f"collision entropy (nats)\nmore diverse: {verdicts['collision_entropy']}",
    ]
    assert "independent samples" in axes[2].get_title()
    with pytest.raises(InvalidArgumentError, match="sequence of 3 matplotlib Axes"):
        comparison.plot(ax=plt.subplots(2, 2)[1])
