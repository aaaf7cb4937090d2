"""Section 3.1 of the paper: Figure 3.1, support size against class radius for GANs on the 2D grid.

:func:`run_grid_experiment` loads (or retrains) the bundled family of GANs
(:mod:`genloose.reference_models.grid_family`) and measures, for each generator ``g`` with the
nearest-mean classifier ``c`` of Example 2.2:

* the mode metrics of the PacGAN/VEEGAN protocol and the discretised support size
  (:func:`genloose.metrics.modes.mode_metrics`: nearest-mean cells with at least 1% of the mass);
* the class radius ``E_z[r(z)]`` of ``c∘g`` with its Monte Carlo confidence interval;
* the collision probability and collision entropy of the labels ``c(g(z))`` of the same latents;
* the Theorem 3.1 bound at the estimated collision probability (NaN with
  ``theorem_3_1_applies = False`` when the largest class probability exceeds 1/5) and the Fawzi cap
  (Lemma B.1) at the estimated class distribution,

and the Spearman rank correlation between support size and class radius. The paper's claim
(Section 3.1) is that GANs capturing more modes have a lower class radius.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from genloose._validation import check_confidence, check_int, check_progress, fail

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "ENTROPY_FIGURE_FILE",
    "FIGURE_FILE",
    "METRICS_FILE",
    "SUMMARY_FILE",
    "grid_rank_correlation",
    "reproduce_grid",
    "run_grid_experiment",
]

METRICS_FILE = "grid_metrics.csv"
"""File name of the per-GAN metrics table written by :func:`run_grid_experiment`."""
#: Calls of c∘g per point for the class radius of each grid GAN. Their latents have 1 to 3 dimensions, where
#: 400 calls reach the boundary as closely as the default 1000 in half the time (measured on 200 points: mean
#: radius 0.14775 either way on w128d3-long, 3 points flagged still improving at 400 and 500 calls, none at 1000;
#: 0.90204 either way on w12d1).
RADIUS_BUDGET = 400

FIGURE_FILE = "figure_3_1_support_vs_class_radius.png"
"""File name of the Figure 3.1 reproduction written by :func:`run_grid_experiment`."""
ENTROPY_FIGURE_FILE = "grid_collision_entropy_vs_class_radius.png"
"""File name of the companion figure (collision entropy against class radius, Theorem 3.1)."""
SUMMARY_FILE = "grid_summary.json"
"""File name of the summary (settings, rank correlation) written by :func:`run_grid_experiment`."""


def grid_rank_correlation(
    frame: pd.DataFrame, *, x: str = "support_size", y: str = "class_radius"
) -> tuple[float, float, int]:
    """Spearman rank correlation between two columns, by default support size and class radius.

    Rows where either value is not finite (e.g. a NaN class radius for a generator with one class,
    or an infinite collision entropy) are left out.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table with columns ``x`` and ``y`` (as returned by :func:`run_grid_experiment`).
    x, y : str, default "support_size", "class_radius"
        The columns to correlate.

    Returns
    -------
    rho, pvalue, n : float, float, int
        :func:`scipy.stats.spearmanr` statistic and two-sided p-value, and the number of rows used
        (``rho`` and ``pvalue`` are NaN with fewer than 3 rows or constant columns).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"support_size": [25, 16, 9, 2],
    ...                       "class_radius": [0.2, 0.3, 0.5, 0.9]})
    >>> grid_rank_correlation(frame)[::2]
    (-1.0, 4)
    """
    import pandas as pd
    from scipy.stats import spearmanr

    if not isinstance(x, str) or not isinstance(y, str):
        raise fail("x and y", "column names (str)", (x, y))
    if not isinstance(frame, pd.DataFrame) or not {x, y} <= set(frame.columns):
        raise fail("frame", f"a DataFrame with columns {x} and {y}", frame)
    xs = frame[x].to_numpy(dtype=np.float64)
    ys = frame[y].to_numpy(dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys)
    n = int(keep.sum())
    if n < 3 or np.ptp(xs[keep]) == 0 or np.ptp(ys[keep]) == 0:
        return math.nan, math.nan, n
    result = spearmanr(xs[keep], ys[keep])
    return float(result.statistic), float(result.pvalue), n


def _output_paths(out_dir: Any, overwrite: bool) -> dict[str, Path] | None:
    if out_dir is None:
        return None
    if not isinstance(out_dir, (str, os.PathLike)):
        raise fail("out_dir", "a directory path or None", out_dir)
    from genloose._io import check_destination, make_output_directory

    directory, _ = make_output_directory(out_dir, name="out_dir")
    paths = {
        key: directory / name
        for key, name in (
            ("csv", METRICS_FILE),
            ("png", FIGURE_FILE),
            ("entropy_png", ENTROPY_FIGURE_FILE),
            ("json", SUMMARY_FILE),
        )
    }
    for path in paths.values():  # fail fast, before any work
        check_destination(path, overwrite=overwrite, name="out_dir")
    return paths


def _estimate_columns(prefix: str, estimate: Any) -> dict[str, float]:
    return {
        prefix: float(estimate.value),
        f"{prefix}_stderr": float(estimate.stderr),
        f"{prefix}_ci_low": float(estimate.ci_low),
        f"{prefix}_ci_high": float(estimate.ci_high),
    }


def _report_columns(result: Any, num_classes: int, confidence: float) -> dict[str, Any]:
    """The collision metrics and bounds of the radius sample, from :func:`genloose.report.build_report`."""
    from genloose.report import build_report

    report = build_report(
        result,
        confidence=confidence,
        num_classes=num_classes,
        world_size=1,
        device=str(result.metadata.get("device", "cpu")),
        dtype=str(result.metadata.get("dtype", "float32")),
    )
    bounds = report.bounds
    return {
        **_estimate_columns("collision_probability", report.collision_probability),
        **_estimate_columns("collision_entropy", report.collision_entropy),
        "num_observed_classes": report.diagnostics.num_observed_classes,
        "max_class_probability": report.diagnostics.max_class_probability,
        # NaN also when the collision probability estimate is 0 (no finite bound to report)
        "theorem_3_1_applies": bounds.theorem_3_1_bound.hypothesis_holds and report.collision_probability.value > 0,
        "theorem_3_1_bound": bounds.theorem_3_1_bound.value if report.collision_probability.value > 0 else math.nan,
        "fawzi_cap": bounds.fawzi_cap.value,
    }


def _measure_one(
    gan: Any,
    classifier: Any,
    *,
    num_samples: int,
    mode_samples: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    from genloose.metrics.radius import SearchConfig, class_radius
    from genloose.reference_models.grid_family import EVAL_SEED, measure_grid_generator

    config = gan.recipe.config
    modes = measure_grid_generator(
        gan.generator, latent_dim=config.latent_dim, n=config.n, num_samples=mode_samples, seed=EVAL_SEED + seed
    )
    result = class_radius(
        gan.generator,
        classifier,
        latent_dim=config.latent_dim,
        num_samples=num_samples,
        seed=seed,
        access="auto",
        config=SearchConfig(max_queries=RADIUS_BUDGET),
        confidence=confidence,
        progress=False,
    )
    row: dict[str, Any] = {
        "name": gan.name,
        "g_width": config.g_width,
        "g_depth": config.g_depth,
        "train_steps": config.steps,
        "train_seed": gan.recipe.seed,
        "support_size": modes.support_size,
        "modes_captured": modes.modes_captured,
        "high_quality_fraction": modes.high_quality_fraction,
    }
    row.update(_estimate_columns("class_radius", result.estimate))
    row["num_censored"] = int(np.count_nonzero(result.censored))
    row["radius_exceeds_fawzi_cap"] = bool(result.exceeds_cap)
    row.update(_report_columns(result, classifier.num_classes, confidence))  # labels c(g(z)) of the sample reused
    row["num_samples"] = num_samples
    row["mode_samples"] = mode_samples
    return row


def run_grid_experiment(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    retrain: bool = False,
    num_samples: int = 2000,
    mode_samples: int = 2500,
    seed: int = 0,
    names: list[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    confidence: float = 0.95,
    progress: bool | None = None,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Reproduce Figure 3.1: support size against class radius over a family of 2D-grid GANs.

    For each GAN ``g`` of the family and the nearest-mean classifier ``c``:

    .. math::

        \\text{class radius} = \\mathbb{E}_{z \\sim N(0, I_d)}\\, r(z), \\qquad
        H_2 = -\\log \\sum_k p_k^2, \\quad p_k = P_z[c(g(z)) = k].

    Parameters
    ----------
    out_dir : str or os.PathLike, optional
        If given, write :data:`METRICS_FILE` (CSV, one row per GAN), :data:`FIGURE_FILE` (PNG,
        Figure 3.1: support size against class radius), :data:`ENTROPY_FIGURE_FILE` (PNG:
        collision entropy against class radius with the Theorem 3.1 curve) and
        :data:`SUMMARY_FILE` (JSON: settings and rank correlations) into it, atomically.
    retrain : bool, default False
        Retrain the family from its recipes (a few minutes on CPU) instead of loading the bundled
        weights; the new weights go to ``out_dir/weights`` (or a temporary directory).
    num_samples : int, default 2000
        Latents for the class radius; their labels also give the collision entropy and bounds.
    mode_samples : int, default 2500
        Generated points for the mode metrics (2,500 as in PacGAN/VEEGAN), drawn with seed
        ``EVAL_SEED + seed`` so that ``seed=0`` reproduces the metrics in the bundled manifest.
    seed : int, default 0
        Seed of the class-radius sample.
    names : list of str, optional
        Members of the family to measure (all by default).
    weights_dir : str or os.PathLike, optional
        Load the family from this directory (written by ``retrain_family``) instead of the
        bundled weights. Exclusive with ``retrain``.
    confidence : float, default 0.95
        Level of the confidence intervals.
    progress : bool or None, default None
        Progress bar over models (None: shown unless ``TQDM_DISABLE`` is set).
    overwrite : bool, default False
        Replace existing output files; otherwise they are refused before any work is done.

    Returns
    -------
    pandas.DataFrame
        One row per GAN with columns ``name``, the recipe's ``g_width``, ``g_depth``,
        ``train_steps``, ``train_seed``, ``support_size``, ``modes_captured``,
        ``high_quality_fraction``, ``class_radius`` (+ ``_stderr``, ``_ci_low``, ``_ci_high``),
        ``num_censored``, ``radius_exceeds_fawzi_cap`` (the class-radius search's own check:
        its CI lies above the Fawzi cap at the class frequencies of the sample and seeding
        pool), ``collision_probability`` and ``collision_entropy`` (each +
        ``_stderr``, ``_ci_low``, ``_ci_high``), ``num_observed_classes``,
        ``max_class_probability``, ``theorem_3_1_applies``, ``theorem_3_1_bound``,
        ``fawzi_cap``, ``num_samples``, ``mode_samples``. ``frame.attrs`` holds
        ``spearman_rho``, ``spearman_pvalue`` and ``spearman_n`` (support size against class
        radius, :func:`grid_rank_correlation`) and the same with prefix ``spearman_entropy_``
        (collision entropy against class radius).

    Notes
    -----
    Section 3.1 and Figure 3.1 of Manoj (2018); the bounds are Theorem 3.1 and Lemma B.1 (Fawzi
    et al. 2018). The class radius is an upper estimate (each point's radius is the distance to a
    verified differently-labelled witness).

    Examples
    --------
    >>> frame = run_grid_experiment(names=["w128d3-long", "w12d1"], num_samples=100,
    ...                             mode_samples=500, progress=False)
    >>> frame["name"].tolist()
    ['w128d3-long', 'w12d1']
    >>> bool(frame.loc[0, "class_radius"] < frame.loc[1, "class_radius"])
    True
    """
    progress = check_progress(progress)
    import pandas as pd

    from genloose._progress import progress_bar
    from genloose.reference_models.grid import NearestMeanClassifier
    from genloose.reference_models.grid_family import (
        GRID_FAMILY,
        get_recipe,
        load_grid_gan,
        retrain_family,
    )

    if not isinstance(retrain, bool):
        raise fail("retrain", "a bool", retrain)
    if not isinstance(overwrite, bool):
        raise fail("overwrite", "a bool", overwrite)
    num_samples = check_int("num_samples", num_samples, min_value=2)
    mode_samples = check_int("mode_samples", mode_samples, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    confidence = check_confidence(confidence)
    if names is None:
        selected = [recipe.name for recipe in GRID_FAMILY]
    else:
        if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
            raise fail("names", "a non-empty list of family member names or None", names)
        selected = [get_recipe(name).name for name in names]
    if retrain and weights_dir is not None:
        raise fail("weights_dir", "None when retrain=True (retrained weights go to out_dir/weights)", weights_dir)
    paths = _output_paths(out_dir, overwrite)

    with tempfile.TemporaryDirectory(prefix="genloose-grid-") as scratch:
        if retrain:
            target = Path(out_dir) / "weights" if out_dir is not None else Path(scratch)
            retrain_family(target, names=selected, overwrite=overwrite, progress=progress)
            weights_dir = target
        classifier = NearestMeanClassifier(n=get_recipe(selected[0]).config.n)
        rows = []
        for name in progress_bar(selected, progress=progress, desc="grid GANs"):
            gan = load_grid_gan(name, weights_dir=weights_dir)
            if gan.recipe.config.n != classifier.n:
                raise fail("names", "members trained on the same grid", names)
            rows.append(
                _measure_one(
                    gan,
                    classifier,
                    num_samples=num_samples,
                    mode_samples=mode_samples,
                    seed=seed,
                    confidence=confidence,
                )
            )
    frame = pd.DataFrame(rows)
    rho, pvalue, used = grid_rank_correlation(frame)
    frame.attrs.update({"spearman_rho": rho, "spearman_pvalue": pvalue, "spearman_n": used})
    rho, pvalue, used = grid_rank_correlation(frame, x="collision_entropy")
    frame.attrs.update({"spearman_entropy_rho": rho, "spearman_entropy_pvalue": pvalue, "spearman_entropy_n": used})
    if paths is not None:
        _write_outputs(
            frame,
            paths,
            overwrite=overwrite,
            settings={
                "num_samples": num_samples,
                "mode_samples": mode_samples,
                "seed": seed,
                "confidence": confidence,
                "retrain": retrain,
                "weights_dir": None if weights_dir is None else str(weights_dir),
            },
        )
    return frame


def _write_outputs(frame: pd.DataFrame, paths: dict[str, Path], *, overwrite: bool, settings: dict[str, Any]) -> None:
    import io

    from genloose._io import atomic_write_bytes, atomic_write_text

    atomic_write_text(paths["csv"], frame.to_csv(index=False), overwrite=overwrite)
    for key, make in (("png", _figure), ("entropy_png", _entropy_figure)):
        buffer = io.BytesIO()
        make(frame).savefig(buffer, format="png", dpi=150)
        atomic_write_bytes(paths[key], buffer.getvalue(), overwrite=overwrite)
    summary = {
        "spearman_support_size_vs_class_radius": {
            "rho": _json_float(frame.attrs["spearman_rho"]),
            "pvalue": _json_float(frame.attrs["spearman_pvalue"]),
            "n": frame.attrs["spearman_n"],
        },
        "spearman_collision_entropy_vs_class_radius": {
            "rho": _json_float(frame.attrs["spearman_entropy_rho"]),
            "pvalue": _json_float(frame.attrs["spearman_entropy_pvalue"]),
            "n": frame.attrs["spearman_entropy_n"],
        },
        "settings": settings,
        "files": {
            "metrics": paths["csv"].name,
            "figure": paths["png"].name,
            "entropy_figure": paths["entropy_png"].name,
        },
    }
    atomic_write_text(paths["json"], json.dumps(summary, indent=2) + "\n", overwrite=overwrite)


def _json_float(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _figure(frame: pd.DataFrame) -> Figure:
    """Support size against class radius with CI error bars (Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    x = frame["support_size"].to_numpy(dtype=np.float64)
    y = frame["class_radius"].to_numpy(dtype=np.float64)
    low = y - frame["class_radius_ci_low"].to_numpy(dtype=np.float64)
    high = frame["class_radius_ci_high"].to_numpy(dtype=np.float64) - y
    axes.errorbar(
        x,
        y,
        yerr=np.vstack([low, high]),
        fmt="o",
        color="C0",
        ecolor="C0",
        capsize=3,
        label="class radius (95% CI)" if len(frame) else None,
    )
    fawzi = frame["fawzi_cap"].to_numpy(dtype=np.float64)
    finite = np.isfinite(fawzi)
    axes.scatter(x[finite], fawzi[finite], marker="_", s=120, color="C3", label="Fawzi cap at $\\hat p$ (Lemma B.1)")
    for xi, yi, name in zip(x, y, frame["name"], strict=True):
        if np.isfinite(yi):
            axes.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7, color="0.35")
    rho = frame.attrs.get("spearman_rho", math.nan)
    title = "2D grid GANs: support size vs class radius"
    if math.isfinite(rho):
        title += f" (Spearman $\\rho$ = {rho:.2f})"
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("discretized support size (nearest-mean cells with ≥ 1% of samples)")
    axes.set_ylabel("class radius $\\mathbb{E}\\,r(z)$")
    axes.set_xlim(0, 26)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    return figure


def _entropy_figure(frame: pd.DataFrame) -> Figure:
    """Collision entropy against class radius, with the Theorem 3.1 curve (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from genloose.theory import theorem_3_1_bound

    figure = Figure(figsize=(6.4, 4.6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    # rows with an infinite entropy estimate (no two labels equal) or no radius cannot be placed
    shown = frame[
        np.isfinite(frame["collision_entropy"].to_numpy(dtype=np.float64))
        & np.isfinite(frame["class_radius"].to_numpy(dtype=np.float64))
    ]
    h = shown["collision_entropy"].to_numpy(dtype=np.float64)
    y = shown["class_radius"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        xerr = np.vstack(
            [
                h - shown["collision_entropy_ci_low"].to_numpy(dtype=np.float64),
                shown["collision_entropy_ci_high"].to_numpy(dtype=np.float64) - h,
            ]
        )
    xerr = np.where(np.isfinite(xerr), xerr, 0.0)
    yerr = np.vstack(
        [
            y - shown["class_radius_ci_low"].to_numpy(dtype=np.float64),
            shown["class_radius_ci_high"].to_numpy(dtype=np.float64) - y,
        ]
    )
    applies = shown["theorem_3_1_applies"].to_numpy(dtype=bool)
    for mask, face, label in (
        (applies, "C0", "class radius, max $p_k \\leq 1/5$"),
        (~applies, "white", "class radius, max $p_k > 1/5$"),
    ):
        if mask.any():
            axes.errorbar(
                h[mask],
                y[mask],
                xerr=xerr[:, mask],
                yerr=yerr[:, mask],
                fmt="o",
                color="C0",
                mfc=face,
                capsize=3,
                label=label,
            )
    top = max(float(h.max()) if h.size else 0.0, math.log(25.0)) + 0.2
    grid = np.linspace(math.log(5.0), top, 200)
    axes.plot(
        grid,
        theorem_3_1_bound(np.exp(-grid)),
        color="C3",
        lw=1.5,
        label="Theorem 3.1 bound $g(e^{-H_2})$ (needs max $p_k \\leq 1/5$)",
    )
    axes.axvline(math.log(25.0), color="0.6", ls=":", lw=1)
    rho = frame.attrs.get("spearman_entropy_rho", math.nan)
    title = "2D grid GANs: collision entropy vs class radius"
    if math.isfinite(rho):
        title += f" (Spearman $\\rho$ = {rho:.2f})"
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("collision entropy $H_2 = -\\log \\sum_k p_k^2$ (nats; log 25 dotted)")
    axes.set_ylabel("class radius $\\mathbb{E}\\,r(z)$")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center right")
    figure.tight_layout()
    return figure


def reproduce_grid(
    out_dir: str | os.PathLike[str],
    *,
    retrain: bool = False,
    num_samples: int = 2000,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool | None = None,
    stream: TextIO | None = None,
) -> int:
    """Command-line entry: run :func:`run_grid_experiment` into ``out_dir`` and print a summary.

    Meant for ``genloose reproduce grid --out DIR [--retrain]``. Returns the exit status (0).

    Examples
    --------
    >>> import io, tempfile
    >>> out = io.StringIO()
    >>> with tempfile.TemporaryDirectory() as d:  # doctest: +SKIP
    ...     reproduce_grid(d, num_samples=200, stream=out)
    0
    """
    progress = check_progress(progress)
    import sys

    if out_dir is None:
        raise fail("out_dir", "a directory path", out_dir)
    stream = sys.stdout if stream is None else stream
    frame = run_grid_experiment(
        out_dir, retrain=retrain, num_samples=num_samples, seed=seed, overwrite=overwrite, progress=progress
    )
    columns = [
        "name",
        "support_size",
        "modes_captured",
        "high_quality_fraction",
        "class_radius",
        "class_radius_ci_low",
        "class_radius_ci_high",
        "collision_entropy",
        "theorem_3_1_bound",
        "fawzi_cap",
    ]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=stream)
    print(
        f"Spearman rank correlation (support size vs class radius): "
        f"rho = {frame.attrs['spearman_rho']:.3f}, p = {frame.attrs['spearman_pvalue']:.2g}, "
        f"n = {frame.attrs['spearman_n']}",
        file=stream,
    )
    print(
        f"Spearman rank correlation (collision entropy vs class radius): "
        f"rho = {frame.attrs['spearman_entropy_rho']:.3f}, "
        f"p = {frame.attrs['spearman_entropy_pvalue']:.2g}, "
        f"n = {frame.attrs['spearman_entropy_n']}",
        file=stream,
    )
    print(f"wrote {METRICS_FILE}, {FIGURE_FILE}, {ENTROPY_FIGURE_FILE} and {SUMMARY_FILE} to {out_dir}", file=stream)
    return 0
