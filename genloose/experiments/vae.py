"""Section 4 of the paper: VAE versus LC-VAE, Figures 4.1-4.3 and the looseness metrics.

:func:`run_vae_experiment` loads (or retrains) the bundled VAE family
(:mod:`genloose.reference_models.vae_family`), draws the three figures of Section 4.2, and measures,
for each model, the class radius of ``c∘g`` (``g`` the decoder, ``c`` the bundled digit
classifier), the collision entropy of the generated labels, the Fawzi cap and the Theorem 3.1
bound at the estimated class distribution, and the reconstruction error on the held-out digits.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genloose._validation import check_int, check_progress, fail

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from genloose.reference_models.digit_classifier import DigitClassifier
    from genloose.reference_models.vae import VAE

__all__ = ["FIGURE_FILES", "METRICS_FILE", "run_vae_experiment"]

FIGURE_FILES = {
    "4.1": "figure_4_1_latent_space.png",
    "4.2": "figure_4_2_samples.png",
    "4.3": "figure_4_3_reconstructions.png",
}
"""File names of the figures written by :func:`run_vae_experiment`."""

METRICS_FILE = "vae_metrics.csv"
"""File name of the metrics table written by :func:`run_vae_experiment`."""

_MODELS = (("vae", "VAE"), ("lc-vae", "LC-VAE"))
_NUM_CLASSES = 10
_GRID_LIMIT = 4.0  # Figure 4.1 label map covers [-4, 4]^2 of the 2-D latent space
_SCATTER_LIMIT = 3.0


def run_vae_experiment(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    retrain: bool = False,
    num_samples: int = 1000,
    seed: int = 0,
    latent_dims: Sequence[int] = (2, 10),
    grid_points: int = 150,
    progress: bool | None = None,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Reproduce Section 4.2: VAE versus LC-VAE on digits, with figures and looseness metrics.

    For each model (VAE and LC-VAE, at each latent dimension in ``latent_dims``):

    * the class radius :math:`E_z[r(z)]` of ``c∘g`` by
      :func:`genloose.metrics.radius.class_radius` (white-box search; an upper estimate, with a Monte
      Carlo CI), with ``num_samples`` latents drawn from ``N(0, I)`` with ``seed`` — the same latents
      for the VAE and the LC-VAE, so their radii are also compared point by point (paired difference,
      on the LC-VAE rows);
    * the collision entropy :math:`-\\log\\|p\\|_2^2` of the labels ``c(g(z))`` of those same latents,
      by :func:`genloose.metrics.collision.collision_entropy`;
    * the Fawzi cap :math:`\\sum_i \\varphi(\\Phi^{-1}(p_i)) + p_i\\Phi^{-1}(p_i)` at the label
      frequencies :math:`\\hat p`, and the Theorem 3.1 bound
      :math:`\\log(4\\pi\\log(1/q))/\\sqrt{2\\log(1/q)}` at :math:`q = e^{-H_2}`, with a flag saying
      whether its hypothesis :math:`\\max_i \\hat p_i \\le 1/5` holds (the formula is reported either
      way);
    * the mean squared reconstruction error on the test digits (posterior mean, with CI).

    With ``out_dir``, it also writes Figure 4.1 (the 2-D latent spaces: encoded test digits
    coloured by label, and the label map of ``c∘g`` over ``[-4, 4]²``),
    Figure 4.2 (64 samples ``g(z)``, ``z ~ N(0, I)``, d = 10; the same ``z`` for both models),
    Figure 4.3 (10 test digits, one per class, over their reconstructions, d = 10) and the table as
    ``vae_metrics.csv``. Every file is written to a temporary file and moved into place; if any
    of them exists the call fails (:class:`~genloose.InvalidArgumentError`) before doing any work,
    unless ``overwrite=True``.

    Parameters
    ----------
    out_dir : path, optional
        Where to write the figures and the CSV (created if needed). None: write nothing.
    retrain : bool
        Retrain the five models (four VAEs and the classifier) with their seeded recipes instead of
        loading the bundled weights (a few minutes on one CPU core).
    num_samples : int
        Latents per model for the class radius and the collision entropy.
    seed : int
        Seeds the latents of the metrics and of Figure 4.2.
    latent_dims : sequence of {2, 10}
        Which latent dimensions get metric rows (the figures always use both).
    grid_points : int
        Resolution of the label map of Figure 4.1 (``grid_points²`` decodes per model).
    progress : bool or None
        Progress bars (None: on a terminal unless ``TQDM_DISABLE`` is set).
    overwrite : bool
        Replace existing output files.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model``, ``latent_dim``, ``num_samples``, ``seed``, ``weights``
        (``"bundled"`` or ``"retrained"``), ``class_radius`` (with ``_stderr``, ``_ci_low``,
        ``_ci_high``), ``censored``, ``collision_entropy`` (with the same three),
        ``collision_probability``, ``max_class_probability``, ``num_observed_classes``,
        ``fawzi_cap``, ``theorem_3_1_bound``, ``theorem_3_1_applies``,
        ``reconstruction_error`` (with the same three), ``radius_difference_vs_vae`` (with the
        same three; LC-VAE rows only, NaN on VAE rows), ``classifier_test_accuracy``.

    Notes
    -----
    Section 4 (Figures 4.1-4.3) of the paper; the bounds are Lemma B.1 (Fawzi) and Theorem 3.1.

    Examples
    --------
    >>> FIGURE_FILES["4.1"]
    'figure_4_1_latent_space.png'
    >>> frame = run_vae_experiment(num_samples=8, latent_dims=(2,))  # doctest: +SKIP
    >>> list(frame["model"])  # doctest: +SKIP
    ['VAE', 'LC-VAE']
    """
    progress = check_progress(progress)
    import pandas as pd

    from genloose.reference_models.digit_classifier import classifier_accuracy
    from genloose.reference_models.digits import load_digits_28
    from genloose.reference_models.vae import reconstruction_error
    from genloose.reference_models.vae_family import load_digit_classifier, load_vae

    if not isinstance(retrain, bool):
        raise fail("retrain", "a bool", retrain)
    if not isinstance(overwrite, bool):
        raise fail("overwrite", "a bool", overwrite)
    num_samples = check_int("num_samples", num_samples, min_value=2)
    seed = check_int("seed", seed, min_value=0)
    grid_points = check_int("grid_points", grid_points, min_value=2)
    dims = _check_latent_dims(latent_dims)
    targets = _output_paths(out_dir, overwrite)

    classifier = load_digit_classifier(retrain=retrain, progress=progress)
    models = {
        (kind, d): load_vae(kind, d, retrain=retrain, progress=progress)  # type: ignore[arg-type]
        for d in sorted({*dims, *((2, 10) if targets else ())})
        for kind, _ in _MODELS
    }
    test = load_digits_28(split="test")
    accuracy = classifier_accuracy(classifier, test.images, test.labels).value

    rows: list[dict[str, Any]] = []
    for d in dims:
        radii: dict[str, np.ndarray] = {}
        for kind, label in _MODELS:
            model = models[kind, d]
            row, radii[kind] = _measure(model, classifier, d, num_samples, seed, progress)
            error = reconstruction_error(model, test.images)
            row = {
                "model": label,
                "latent_dim": d,
                "num_samples": num_samples,
                "seed": seed,
                "weights": "retrained" if retrain else "bundled",
                **row,
                **_columns("reconstruction_error", error),
                **_paired_difference(radii.get("vae"), radii[kind] if kind != "vae" else None),
                "classifier_test_accuracy": accuracy,
            }
            rows.append(row)
    frame = pd.DataFrame(rows)

    if targets:
        from genloose._io import atomic_write_bytes, atomic_write_text

        figures: dict[str, Callable[[], Figure]] = {
            "4.1": lambda: _figure_latent_space(
                models[("vae", 2)], models[("lc-vae", 2)], classifier, test.images, test.labels, grid_points
            ),
            "4.2": lambda: _figure_samples(models[("vae", 10)], models[("lc-vae", 10)], seed),
            "4.3": lambda: _figure_reconstructions(
                models[("vae", 10)], models[("lc-vae", 10)], test.images, test.labels
            ),
        }
        for key, make in figures.items():
            atomic_write_bytes(targets[key], _png_bytes(make()), overwrite=overwrite)
        atomic_write_text(targets["csv"], frame.to_csv(index=False), overwrite=overwrite)
    return frame


# --------------------------------------------------------------------------------------------
# Arguments and outputs


def _check_latent_dims(latent_dims: Any) -> tuple[int, ...]:
    if isinstance(latent_dims, (str, bytes)) or not isinstance(latent_dims, Sequence):
        raise fail("latent_dims", "a sequence of latent dimensions from {2, 10}", latent_dims)
    dims: list[int] = []
    for value in latent_dims:
        d = check_int("latent_dims", value)
        if d not in (2, 10):
            raise fail("latent_dims", "a sequence of latent dimensions from {2, 10}", latent_dims)
        if d not in dims:
            dims.append(d)
    if not dims:
        raise fail("latent_dims", "a non-empty sequence from {2, 10}", latent_dims)
    return tuple(sorted(dims))


def _output_paths(out_dir: str | os.PathLike[str] | None, overwrite: bool) -> dict[str, Path]:
    if out_dir is None:
        return {}
    if not isinstance(out_dir, (str, os.PathLike)):
        raise fail("out_dir", "a directory path or None", out_dir)
    from genloose._io import check_destination, make_output_directory

    directory, _ = make_output_directory(out_dir, name="out_dir")
    targets = {key: directory / name for key, name in FIGURE_FILES.items()}
    targets["csv"] = directory / METRICS_FILE
    for path in targets.values():  # fail fast, before any work
        check_destination(path, overwrite=overwrite, name="out_dir")
    return targets


def _png_bytes(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attach an Agg canvas: no pyplot, no global figure state
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Metrics


def _columns(prefix: str, estimate: Any) -> dict[str, float]:
    return {
        prefix: float(estimate.value),
        f"{prefix}_stderr": float(estimate.stderr),
        f"{prefix}_ci_low": float(estimate.ci_low),
        f"{prefix}_ci_high": float(estimate.ci_high),
    }


def _measure(
    model: VAE,
    classifier: DigitClassifier,
    latent_dim: int,
    num_samples: int,
    seed: int,
    progress: bool | None,
) -> tuple[dict[str, Any], np.ndarray]:
    progress = check_progress(progress)
    from genloose.metrics.radius import class_radius
    from genloose.report import build_report

    result = class_radius(
        model.decoder,
        classifier,
        latent_dim=latent_dim,
        num_samples=num_samples,
        seed=seed,
        access="auto",
        progress=progress,
    )
    report = build_report(
        result,
        confidence=0.95,
        num_classes=_NUM_CLASSES,
        world_size=1,
        device=str(result.metadata.get("device", "cpu")),
        dtype=str(result.metadata.get("dtype", "float32")),
    )
    theorem = report.bounds.theorem_3_1_bound
    row = {
        **_columns("class_radius", result.estimate),
        "censored": int(np.asarray(result.censored).sum()),
        **_columns("collision_entropy", report.collision_entropy),
        "collision_probability": report.collision_probability.value,
        "max_class_probability": report.diagnostics.max_class_probability,
        "num_observed_classes": report.diagnostics.num_observed_classes,
        "fawzi_cap": report.bounds.fawzi_cap.value,
        "theorem_3_1_bound": theorem.value,  # NaN where the hypothesis fails, as in the report
        "theorem_3_1_applies": theorem.hypothesis_holds,
    }
    return row, np.asarray(result.radii, dtype=np.float64)


def _paired_difference(
    baseline: np.ndarray | None, other: np.ndarray | None, confidence: float = 0.95
) -> dict[str, float]:
    """Mean of ``other - baseline`` over points finite in both (same latents), with a Wald CI."""
    from genloose.estimate import normal_quantile

    columns = dict.fromkeys(
        (
            "radius_difference_vs_vae",
            "radius_difference_vs_vae_stderr",
            "radius_difference_vs_vae_ci_low",
            "radius_difference_vs_vae_ci_high",
        ),
        math.nan,
    )
    if baseline is None or other is None:
        return columns
    finite = np.isfinite(baseline) & np.isfinite(other)
    difference = other[finite] - baseline[finite]
    if difference.size < 2:
        return columns
    mean = float(difference.mean())
    stderr = float(difference.std(ddof=1) / math.sqrt(difference.size))
    half = normal_quantile(confidence) * stderr
    return {
        "radius_difference_vs_vae": mean,
        "radius_difference_vs_vae_stderr": stderr,
        "radius_difference_vs_vae_ci_low": mean - half,
        "radius_difference_vs_vae_ci_high": mean + half,
    }


# --------------------------------------------------------------------------------------------
# Figures


def _figure_latent_space(
    vae: VAE,
    lc_vae: VAE,
    classifier: DigitClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    grid_points: int,
) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 10), layout="constrained")
    axes = figure.subplots(2, 2)
    colours = _class_colours()
    grid = torch.linspace(-_GRID_LIMIT, _GRID_LIMIT, grid_points)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with torch.no_grad():
        codes_by_model = [model.encoder(images)[0].numpy() for model in (vae, lc_vae)]
    # one scale for both scatter panels, wide enough for every point
    limit = max(_SCATTER_LIMIT, 1.05 * max(float(np.abs(c).max()) for c in codes_by_model))
    for column, (model, title) in enumerate(((vae, "VAE"), (lc_vae, "LC-VAE"))):
        codes = codes_by_model[column]
        with torch.no_grad():
            grid_labels = (
                torch.cat([classifier(model.decoder(chunk)).argmax(dim=1) for chunk in points.split(4096)])
                .reshape(grid_points, grid_points)
                .numpy()
            )
        top = axes[0, column]
        for digit in range(_NUM_CLASSES):
            chosen = labels.numpy() == digit
            top.scatter(codes[chosen, 0], codes[chosen, 1], s=6, color=colours[digit], label=str(digit))
        top.set_title(f"{title}: encoded test digits (means)")
        top.set_xlim(-limit, limit)
        top.set_ylim(-limit, limit)
        top.set_aspect("equal")
        top.legend(markerscale=2, fontsize="small", ncols=2, loc="upper right")
        bottom = axes[1, column]
        half_step = _GRID_LIMIT / (grid_points - 1)  # pixels centred on the grid points
        edge = _GRID_LIMIT + half_step
        bottom.imshow(colours[grid_labels], origin="lower", extent=(-edge, edge, -edge, edge), interpolation="nearest")
        for radius in (1.0, 2.0):
            bottom.add_patch(_circle(radius))
        bottom.set_title(f"{title}: label c(g(z)); circles |z| = 1, 2")
        for axis in (top, bottom):
            axis.set_xlabel("z1")
            axis.set_ylabel("z2")
    figure.suptitle("Figure 4.1: two-dimensional latent space, VAE (left) and LC-VAE (right)")
    return figure


def _circle(radius: float) -> Any:
    from matplotlib.patches import Circle

    return Circle((0.0, 0.0), radius, fill=False, edgecolor="white", linewidth=1.0, linestyle="--")


def _class_colours() -> np.ndarray:
    from matplotlib import colormaps

    return np.asarray(colormaps["tab10"].colors)[:_NUM_CLASSES]


def _image_grid(images: torch.Tensor, rows: int, columns: int) -> np.ndarray:
    """Tile ``rows * columns`` images of shape (1, 28, 28) into one array with 2-pixel gaps."""
    size, gap = images.shape[-1], 2
    canvas = np.ones((rows * (size + gap) - gap, columns * (size + gap) - gap))
    for index, image in enumerate(images[: rows * columns]):
        row, column = divmod(index, columns)
        canvas[row * (size + gap) : row * (size + gap) + size, column * (size + gap) : column * (size + gap) + size] = (
            image[0].numpy()
        )
    return canvas


def _figure_samples(vae: VAE, lc_vae: VAE, seed: int) -> Figure:
    from matplotlib.figure import Figure

    latents = torch.randn(64, 10, generator=torch.Generator().manual_seed(seed))
    figure = Figure(figsize=(10, 5.4), layout="constrained")
    axes = figure.subplots(1, 2)
    for axis, (model, title) in zip(axes, ((vae, "VAE"), (lc_vae, "LC-VAE")), strict=True):
        with torch.no_grad():
            samples = model.decoder(latents)
        axis.imshow(_image_grid(samples, 8, 8), cmap="gray", vmin=0, vmax=1)
        axis.set_title(f"{title}: g(z), z ~ N(0, I), d = 10")
        axis.axis("off")
    figure.suptitle("Figure 4.2: samples (the same 64 latents for both models)")
    return figure


def _figure_reconstructions(vae: VAE, lc_vae: VAE, images: torch.Tensor, labels: torch.Tensor) -> Figure:
    from matplotlib.figure import Figure

    first = [int(torch.nonzero(labels == digit)[0]) for digit in range(_NUM_CLASSES)]
    originals = images[first]
    figure = Figure(figsize=(12, 2.3), layout="constrained")
    axes = figure.subplots(1, 2)
    for axis, (model, title) in zip(axes, ((vae, "VAE"), (lc_vae, "LC-VAE")), strict=True):
        with torch.no_grad():
            reconstructions = model(originals)
        axis.imshow(_image_grid(torch.cat([originals, reconstructions]), 2, _NUM_CLASSES), cmap="gray", vmin=0, vmax=1)
        axis.set_title(f"{title}, d = 10: test digits (top), reconstructions (bottom)")
        axis.axis("off")
    figure.suptitle("Figure 4.3: reconstructions")
    return figure
