"""Figures of a :class:`~genloose.Report`, a :class:`~genloose.RadiusResult` and a :class:`~genloose.Comparison`.

Every function draws on axes it is given, or on a new pyplot figure, and returns ``(fig, ax)`` like
torchmetrics' ``.plot()``. matplotlib is imported only when a figure is drawn. Nothing here calls a model:
the figures are built from the stored per-point results, so a report read back with
:meth:`~genloose.Report.from_json` plots exactly like the original.

Degenerate reports give a documented figure, not an error: when every point is censored the radius panels
say so in their middle (no curve, no bar); with a single class the Fawzi cap is infinite and the panel
writes ``inf (one class)`` instead of a point; a bound whose hypothesis fails is written as
``hypothesis fails`` instead of a point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import check_choice, describe
from genloose.estimate import normal_quantile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from genloose._compare import Comparison
    from genloose.metrics.radius.result import RadiusResult
    from genloose.report import Report

__all__ = ["plot_comparison", "plot_radius_result", "plot_report"]

RADIUS_LABEL = "witness distance r(z) (upper bound)"
NO_RADIUS = "no finite radius: all {n} points censored"
_COLORS = ("C0", "C1")


def _new_axes(ax: Any, count: int, name: str = "ax") -> tuple[Figure, Any]:
    """The figure and axes to draw on: ``ax`` checked (one Axes, or ``count`` of them), or new ones."""
    from matplotlib.axes import Axes

    if ax is None:
        import matplotlib.pyplot as plt

        if count == 1:
            fig, new = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
            return fig, new
        cols = 2 if count == 4 else count
        rows = count // cols
        fig, grid = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.9 * rows), layout="constrained")
        return fig, np.asarray(grid).reshape(-1)
    if count == 1:
        if not isinstance(ax, Axes):
            raise InvalidArgumentError(f"{name} must be a matplotlib Axes or None; got {describe(ax)}")
        return ax.figure, ax
    items = list(np.asarray(ax, dtype=object).reshape(-1)) if isinstance(ax, (Sequence, np.ndarray)) else None
    if items is None or len(items) != count or not all(isinstance(a, Axes) for a in items):
        raise InvalidArgumentError(
            f"{name} must be None or a sequence of {count} matplotlib Axes (e.g. from plt.subplots(2, 2)); "
            f"got {describe(ax)}"
        )
    return items[0].figure, np.asarray(items, dtype=object)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, wrap=True)


def _radius_panel(ax: Axes, result: RadiusResult, *, kind: str, color: str = "C0", label: str | None = None) -> None:
    finite = np.sort(result.radii[~result.censored])
    estimate = result.estimate
    level = f"{100 * estimate.confidence:g}%"
    if finite.size == 0:
        _note(ax, NO_RADIUS.format(n=result.num_samples))
    else:
        prefix = f"{label}: " if label else ""
        if kind == "ecdf":
            fraction = np.arange(1, finite.size + 1) / finite.size
            ax.step(finite, fraction, where="post", color=color, label=f"{prefix}ECDF ({finite.size} points)")
            ax.set_ylabel("fraction of points with r ≤ x")
            ax.set_ylim(0.0, 1.02)
        else:
            bins = max(5, min(50, int(math.sqrt(finite.size))))
            ax.hist(finite, bins=bins, color=color, alpha=0.5, label=f"{prefix}histogram ({finite.size} points)")
            ax.set_ylabel("points")
        ax.axvline(estimate.value, color=color, linestyle="--", label=f"{prefix}mean {estimate.value:.4g}")
        if math.isfinite(estimate.ci_low) and math.isfinite(estimate.ci_high):
            ax.axvspan(estimate.ci_low, estimate.ci_high, color=color, alpha=0.15, label=f"{prefix}{level} CI")
        ax.legend(fontsize=7, loc="lower right" if kind == "ecdf" else "upper right")
    ax.set_xlabel(RADIUS_LABEL)
    censored = f", {result.num_censored} censored" if result.num_censored else ""
    ax.set_title(f"per-point radii (n={result.num_samples}{censored})", fontsize=10)


def _per_class_panel(ax: Axes, result: RadiusResult, confidence: float) -> None:
    frame = result.per_class_frame()
    finite = result.radii[~result.censored]
    if finite.size == 0:
        _note(ax, NO_RADIUS.format(n=result.num_samples))
    else:
        z = normal_quantile(confidence)
        means, halves = [], []
        for label in frame["label"]:
            values = result.radii[(result.labels == label) & ~result.censored]
            means.append(float(values.mean()) if values.size else math.nan)
            halves.append(z * float(values.std(ddof=1)) / math.sqrt(values.size) if values.size > 1 else math.nan)
        positions = np.arange(len(frame))
        ax.bar(positions, np.nan_to_num(means), yerr=halves, capsize=3, color="C0", alpha=0.7)
        for position, mean in zip(positions, means, strict=True):
            if math.isnan(mean):  # a class whose points are all censored: no bar, say why
                ax.text(position, 0.0, "all\ncensored", ha="center", va="bottom", fontsize=7, color="C3")
        ax.set_xticks(positions, [str(int(k)) for k in frame["label"]])
        ax.axhline(result.estimate.value, color="k", linestyle="--", linewidth=1, label="overall mean")
        ax.legend(fontsize=7)
    ax.set_xlabel("class c(g(z))")
    ax.set_ylabel("mean radius")
    ax.set_title(f"mean radius per class ({100 * confidence:g}% CI)", fontsize=10)


def _class_panel(ax: Axes, counts: np.ndarray, *, width: float = 0.8, offset: float = 0.0, **kwargs: Any) -> None:
    total = max(1, int(counts.sum()))
    positions = np.arange(counts.size)
    ax.bar(positions + offset, counts / total, width=width, **kwargs)
    ax.set_xticks(positions, [str(k) for k in positions])
    ax.set_xlabel("class")
    ax.set_ylabel("sample frequency p̂_k")


def _bounds_panel(ax: Axes, report: Report) -> None:
    from genloose.report import BoundEstimate

    b = report.bounds
    rows = [
        ("class radius", report.class_radius),
        ("Fawzi cap", b.fawzi_cap),
        ("Theorem 3.1\ng(‖p‖²)", b.theorem_3_1_bound),
        ("Theorem 3.2\ng(1/K)", b.theorem_3_2_bound),
    ]
    finite = [e.value for _, e in rows if math.isfinite(e.value)]
    right = max(finite) * 1.15 if finite else 1.0
    labels = []
    for i, (name, estimate) in enumerate(rows):
        y = len(rows) - 1 - i
        status = ""
        if isinstance(estimate, BoundEstimate) and name != "Fawzi cap":
            status = "\nhypothesis holds" if estimate.hypothesis_holds else "\nhypothesis fails"
        labels.append(name + status)
        if isinstance(estimate, BoundEstimate) and not estimate.hypothesis_holds:
            ax.text(0.02 * right, y, "n/a: hypothesis fails", va="center", fontsize=8, color="C3")
            continue
        if math.isinf(estimate.value):
            ax.text(0.02 * right, y, "inf (one class: no boundary)", va="center", fontsize=8)
            continue
        if math.isnan(estimate.value):
            text = NO_RADIUS.format(n=report.metadata.num_samples) if i == 0 else "nan"
            ax.text(0.02 * right, y, text, va="center", fontsize=8)
            continue
        has_interval = math.isfinite(estimate.ci_low) and math.isfinite(estimate.ci_high)
        error = [[estimate.value - estimate.ci_low], [estimate.ci_high - estimate.value]] if has_interval else None
        ax.errorbar([estimate.value], [y], xerr=error, fmt="o", color="C0" if i == 0 else "C2", capsize=3)
    ax.set_yticks(range(len(rows)), list(reversed(labels)), fontsize=8)
    ax.set_xlim(0.0, right)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("latent distance")
    ax.set_title(f"estimate and bounds ({100 * report.confidence:g}% CI)", fontsize=10)


def plot_radius_result(
    result: RadiusResult, ax: Axes | None = None, *, kind: Literal["ecdf", "hist"] = "ecdf"
) -> tuple[Figure, Axes]:
    """Draw the distribution of per-point radii with the mean and its interval (see
    :meth:`genloose.RadiusResult.plot`)."""
    kind = check_choice("kind", kind, ("ecdf", "hist"))
    fig, axes = _new_axes(ax, 1)
    _radius_panel(axes, result, kind=kind)
    return fig, axes


def plot_report(report: Report, ax: Any = None, *, kind: Literal["ecdf", "hist"] = "ecdf") -> tuple[Figure, Any]:
    """Draw the four panels of a report (see :meth:`genloose.Report.plot`)."""
    kind = check_choice("kind", kind, ("ecdf", "hist"))
    fig, axes = _new_axes(ax, 4)
    result = report.radius_result
    _radius_panel(axes[0], result, kind=kind)
    _per_class_panel(axes[1], result, report.confidence)
    _class_panel(axes[2], report.class_counts, color="C0", alpha=0.7)
    k = report.diagnostics.num_observed_classes
    axes[2].axhline(0.2, color="C3", linestyle=":", linewidth=1, label="1/5 (hypothesis of Theorem 3.1)")
    axes[2].legend(fontsize=7)
    axes[2].set_title(
        f"class distribution ({k} observed, max p̂ = {report.diagnostics.max_class_probability:.3g})", fontsize=10
    )
    _bounds_panel(axes[3], report)
    return fig, axes


def plot_comparison(comparison: Comparison, ax: Any = None) -> tuple[Figure, Any]:
    """Draw two reports side by side (see :meth:`genloose.Comparison.plot`)."""
    fig, axes = _new_axes(ax, 3)
    reports = (comparison.report_a, comparison.report_b)
    for name, report, color in zip(comparison.names, reports, _COLORS, strict=True):
        _radius_panel(axes[0], report.radius_result, kind="ecdf", color=color, label=name)
    axes[0].set_title("per-point radii", fontsize=10)
    width = max(reports[0].class_counts.size, reports[1].class_counts.size)
    for i, (name, report, color) in enumerate(zip(comparison.names, reports, _COLORS, strict=True)):
        counts = np.zeros(width, dtype=np.int64)
        counts[: report.class_counts.size] = report.class_counts
        _class_panel(axes[1], counts, width=0.4, offset=-0.2 + 0.4 * i, color=color, alpha=0.8, label=name)
    axes[1].legend(fontsize=7)
    axes[1].set_title("class distributions", fontsize=10)
    quantities = (("class_radius", "class radius"), ("collision_entropy", "collision entropy (nats)"))
    positions = np.arange(len(quantities))
    for i, (name, report, color) in enumerate(zip(comparison.names, reports, _COLORS, strict=True)):
        for j, (quantity, _) in enumerate(quantities):
            e = getattr(report, quantity)
            if not math.isfinite(e.value):
                continue
            finite = math.isfinite(e.ci_low) and math.isfinite(e.ci_high)
            error = [[e.value - e.ci_low], [e.ci_high - e.value]] if finite else None
            ax_label = name if j == 0 else None
            axes[2].errorbar(
                [j - 0.1 + 0.2 * i], [e.value], yerr=error, fmt="o", color=color, capsize=3, label=ax_label
            )
    verdicts = comparison.verdicts()
    axes[2].set_xticks(positions, [f"{label}\nmore diverse: {verdicts[q]}" for q, label in quantities], fontsize=8)
    axes[2].legend(fontsize=7)
    kind = "paired" if comparison.paired else "independent samples"
    axes[2].set_title(f"estimates ({100 * comparison.report_a.confidence:g}% CI, {kind})", fontsize=10)
    return fig, axes
