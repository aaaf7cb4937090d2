"""Export and rendering of a :class:`~genloose.report.Report`: frames, flat dicts, JSON, files and text.

:mod:`genloose.report` holds the result types; their export methods (``to_frame``, ``to_dict``,
``to_json``, ``from_json``, ``save_json``, ``save_csv``, ``summary``, ``str``, ``_repr_html_``) and
:func:`~genloose.report.reports_to_frame` call the functions here, which fix the schemas: the long frame
(:data:`FRAME_DTYPES`), the flat snake_case keys, the printed table and the summary lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import describe
from genloose.estimate import Estimate
from genloose.metrics.bounds import BoundEstimate

if TYPE_CHECKING:
    import pandas as pd

    from genloose.report import Report

__all__ = [
    "FRAME_DTYPES",
    "METADATA_COLUMNS",
    "empty_frame",
    "json_value",
    "read_report",
    "render",
    "render_html",
    "report_dict",
    "report_frame",
    "report_json",
    "reports_to_frame",
    "save_text",
    "summary",
]

METADATA_COLUMNS: tuple[str, ...] = (
    "seed",
    "latent_dim",
    "num_samples",
    "access",
    "world_size",
    "device",
    "dtype",
    "genloose_version",
    "torch_version",
)

FRAME_DTYPES: dict[str, str] = {
    "quantity": "object",
    "value": "float64",
    "stderr": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "confidence": "float64",
    "n": "int64",
    "method": "object",
    "hypothesis_holds": "boolean",
    "seed": "Int64",
    "latent_dim": "int64",
    "num_samples": "int64",
    "access": "object",
    "world_size": "int64",
    "device": "object",
    "dtype": "object",
    "genloose_version": "object",
    "torch_version": "object",
}
"""Columns and dtypes of :meth:`Report.to_frame` (strings are ``object``; ``hypothesis_holds`` is the
nullable ``boolean``: NA on rows that are not bounds). :func:`reports_to_frame` puts ``model`` (object)
first."""

_LABELS = {
    "class_radius": "class radius (upper estimate)",
    "image_distance": "image distance ||g(z*) - g(z)||",
    "collision_probability": "collision probability ||p||²",
    "collision_entropy": "collision entropy -log ||p||²",
    "effective_number_of_classes": "effective number of classes",
    "fawzi_cap": "Fawzi cap at p̂ (Lemma B.1)",
    "theorem_3_1_bound": "Theorem 3.1 bound g(||p||²)",
    "theorem_3_2_bound": "Theorem 3.2 bound g(1/K_obs)",
    "collision_entropy_upper_bound": "entropy bound G⁻¹(radius)",
}


def json_value(value: Any) -> Any:
    """A value as strict JSON: NaN as ``None``, infinities as ``"inf"`` / ``"-inf"``, arrays as lists."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_value(v) for v in value]
    return value


def _diagnostic_rows(report: Report) -> list[tuple[str, float, str]]:
    d = report.diagnostics
    return [
        ("num_censored", float(d.num_censored), "count of points with no witness (excluded)"),
        ("queries_per_point", float(d.queries_per_point), "mean calls of c∘g per point in the search"),
        ("total_queries", float(d.total_queries), "calls of c∘g in the search, seeding pool included"),
        ("num_observed_classes", float(d.num_observed_classes), "classes with a positive count"),
        ("max_class_probability", float(d.max_class_probability), "max of the sample frequencies"),
        (
            "cap_respected",
            math.nan if d.cap_respected is None else float(d.cap_respected),
            "indicator: the search's cap check passed (NaN: not checked, as for latents not drawn from N(0, I))",
        ),
    ]


def report_frame(report: Report) -> pd.DataFrame:
    """:meth:`Report.to_frame <genloose.report.Report.to_frame>`: one row per quantity, :data:`FRAME_DTYPES`."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for name, estimate in report.estimates().items():
        rows.append(
            {
                "quantity": name,
                "value": estimate.value,
                "stderr": estimate.stderr,
                "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high,
                "confidence": estimate.confidence,
                "n": estimate.n,
                "method": estimate.method,
                "hypothesis_holds": (estimate.hypothesis_holds if isinstance(estimate, BoundEstimate) else pd.NA),
            }
        )
    for name, value, method in _diagnostic_rows(report):
        rows.append(
            {
                "quantity": name,
                "value": value,
                "stderr": math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
                "confidence": report.confidence,
                "n": report.metadata.num_samples,
                "method": method,
                "hypothesis_holds": pd.NA,
            }
        )
    meta = {column: getattr(report.metadata, column) for column in METADATA_COLUMNS}
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    columns.update({key: [value] * len(rows) for key, value in meta.items()})
    return _typed_frame(columns)


def report_dict(report: Report) -> dict[str, Any]:
    """:meth:`Report.to_dict <genloose.report.Report.to_dict>`: the flat snake_case keys."""
    out: dict[str, Any] = {}
    for name, estimate in report.estimates().items():
        out[f"{name}_value"] = float(estimate.value)
        out[f"{name}_stderr"] = float(estimate.stderr)
        out[f"{name}_ci_low"] = float(estimate.ci_low)
        out[f"{name}_ci_high"] = float(estimate.ci_high)
        out[f"{name}_n"] = int(estimate.n)
        out[f"{name}_method"] = estimate.method
        if isinstance(estimate, BoundEstimate):
            out[f"{name}_hypothesis_holds"] = bool(estimate.hypothesis_holds)
    out["confidence"] = float(report.confidence)
    d = report.diagnostics
    out.update(
        num_censored=int(d.num_censored),
        queries_per_point=float(d.queries_per_point),
        total_queries=int(d.total_queries),
        num_observed_classes=int(d.num_observed_classes),
        max_class_probability=float(d.max_class_probability),
        cap_respected=None if d.cap_respected is None else bool(d.cap_respected),
        class_counts=[int(c) for c in report.class_counts],
        class_probabilities=[float(p) for p in report.class_probabilities],
    )
    m = report.metadata
    out.update(
        seed=None if m.seed is None else int(m.seed),
        latent_dim=int(m.latent_dim),
        num_samples=int(m.num_samples),
        access=m.access,
        world_size=int(m.world_size),
        num_classes=None if m.num_classes is None else int(m.num_classes),
        device=m.device,
        dtype=m.dtype,
        genloose_version=m.genloose_version,
        torch_version=m.torch_version,
        python_version=m.python_version,
    )
    return out


def report_json(report: Report, indent: int | None) -> str:
    """:meth:`Report.to_json <genloose.report.Report.to_json>`: the flat keys and the exact section."""
    from genloose._serialize import document, encode_object

    clean = {key: json_value(value) for key, value in report_dict(report).items()}
    return document("Report", clean, encode_object(report), indent=indent)


def read_report(cls: type[Report], source: Any) -> Report:
    """:meth:`Report.from_json <genloose.report.Report.from_json>`: the exact section of a saved report."""
    from genloose._serialize import decode_object, read_document

    exact, name = read_document(source, "Report")
    report = decode_object("Report", exact, source=name)
    if not isinstance(report, cls):  # pragma: no cover - decode_object checks the type
        raise InvalidArgumentError(f"{name} does not hold a Report")
    return report


def save_text(path: Any, text: str, *, overwrite: bool) -> None:
    """Write an export to ``path`` atomically (:func:`genloose._io.atomic_write_text`); the one writer of
    :meth:`~genloose.report.Report.save_json` and :meth:`~genloose.report.Report.save_csv`."""
    from genloose._io import atomic_write_text

    atomic_write_text(path, text, overwrite=overwrite)


def render_html(report: Report) -> str:
    """A notebook table (the frame's estimate and bound rows)."""
    frame = report_frame(report)
    keep = ["quantity", "value", "stderr", "ci_low", "ci_high", "n", "method", "hypothesis_holds"]
    return frame[keep].to_html(index=False, na_rep="")


def _fmt(x: float, digits: int = 4) -> str:
    if math.isnan(x):
        return "nan"
    return f"{x:.{digits}g}"


def render(report: Report) -> str:
    """The table ``str(report)`` prints."""
    from genloose.report import BOUND_QUANTITIES

    m, d = report.metadata, report.diagnostics
    level = f"{100 * m.confidence:g}% CI"
    header = (
        f"genloose Report: num_samples={m.num_samples}, latent_dim={m.latent_dim}, seed={m.seed}, "
        f"access={m.access}, world_size={m.world_size}"
    )
    lines = [header, f"{'quantity':<36} {'value':>10} {'stderr':>10}   {level}"]
    for name, estimate in report.estimates().items():
        if name == BOUND_QUANTITIES[0]:
            lines.append("bounds")
        label = _LABELS[name]
        if isinstance(estimate, BoundEstimate) and not estimate.hypothesis_holds:
            lines.append(f"  {label:<34} {'n/a':>10}   hypothesis fails: {estimate.hypothesis}")
            continue
        interval = "" if math.isnan(estimate.ci_low) else f"[{_fmt(estimate.ci_low)}, {_fmt(estimate.ci_high)}]"
        lines.append(f"  {label:<34} {_fmt(estimate.value):>10} {_fmt(estimate.stderr, 3):>10}   {interval}")
    if d.cap_respected is None:
        cap = "not checked (the check needs at least two points drawn from N(0, I))"
    else:
        cap = "respected" if d.cap_respected else "EXCEEDED (the search failed)"
    lines.append(
        f"diagnostics: {d.num_censored} censored, {d.queries_per_point:.0f} queries/point, "
        f"{d.num_observed_classes} classes observed (max p̂ = {d.max_class_probability:.3g}), Fawzi cap {cap}"
    )
    return "\n".join(lines)


def _interval(estimate: Estimate) -> str:
    if math.isnan(estimate.ci_low) or math.isnan(estimate.ci_high):
        return ""
    low, high = _fmt(estimate.ci_low + 0.0), _fmt(estimate.ci_high + 0.0)
    return f" ({100 * estimate.confidence:g}% CI {low} to {high})"


def _hypothesis_fails(bound: BoundEstimate) -> str:
    """'does not apply (hypothesis H fails: detail)' from a bound's hypothesis text 'H (detail)'."""
    text = bound.hypothesis
    if " (" in text and text.endswith(")"):
        head, detail = text.split(" (", 1)
        return f"does not apply (hypothesis {head} fails: {detail[:-1]})"
    return f"does not apply (hypothesis {text} fails)"


def summary(report: Report) -> str:
    """:meth:`Report.summary <genloose.report.Report.summary>`: six lines."""
    m, d, b = report.metadata, report.diagnostics, report.bounds
    radius, entropy = report.class_radius, report.collision_entropy
    k = m.num_classes if m.num_classes is not None else d.num_observed_classes
    k_text = f"K = {k} classes" if m.num_classes is not None else f"K = {k} observed classes"
    log_k = math.log(k) if k > 0 else math.nan
    censored = f", {d.num_censored} censored" if d.num_censored else ""
    if math.isnan(radius.value):
        radius_line = f"class radius: undefined (all {m.num_samples} points censored: no witness found)"
    elif report.radius_result.precision is not None:
        run = report.radius_result.precision
        proxy_level = math.isfinite(run.proxy_scale)
        proxy_only = f" and {run.num_proxy_only} given only the proxy" if proxy_level else ""
        radius_line = (
            f"class radius <= {_fmt(radius.value)}{_interval(radius)}, an upper estimate to ±{run.reached:.1%} "
            f"from {run.num_searched} points searched at {len(run.level_budgets) - proxy_level} budget level(s)"
            f"{proxy_only}, {m.access} search"
        )
    else:
        radius_line = (
            f"class radius <= {_fmt(radius.value)}{_interval(radius)}, an upper estimate from {m.num_samples} "
            f"points{censored}, {m.access} search"
        )
    lines = [
        radius_line,
        f"collision entropy {_fmt(entropy.value + 0.0)} nats{_interval(entropy)}; at most log K = {_fmt(log_k)} "
        f"for {k_text}",
    ]
    cap = b.fawzi_cap
    if math.isinf(cap.value):
        lines.append("Fawzi cap: infinite (one class: no boundary)")
    elif math.isnan(radius.value):
        lines.append(f"Fawzi cap {_fmt(cap.value)} (holds for every classifier): no radius to check against it")
    elif d.cap_respected is None:
        lines.append(
            f"Fawzi cap {_fmt(cap.value)} (bounds the mean over z ~ N(0, I)): not checked (it needs two or more "
            "points drawn from it)"
        )
    elif d.cap_respected:
        lines.append(f"Fawzi cap {_fmt(cap.value)} (holds for every classifier): the radius is within it")
    else:
        lines.append(f"Fawzi cap {_fmt(cap.value)}: the radius EXCEEDS it, so the search failed")
    above_cap = "; vacuous (above the Fawzi cap, which always holds)"
    t31, t32 = b.theorem_3_1_bound, b.theorem_3_2_bound
    if not t31.hypothesis_holds or math.isnan(t31.value):
        lines.append(f"Theorem 3.1: {_hypothesis_fails(t31)}")
    else:
        vacuous = above_cap if math.isfinite(cap.value) and t31.value >= cap.value else ""
        lines.append(f"Theorem 3.1: E r <= g(||p||²) = {_fmt(t31.value)}, hypothesis holds{vacuous}")
    if not t32.hypothesis_holds or math.isnan(t32.value):
        lines.append(f"Theorem 3.2: {_hypothesis_fails(t32)}")
    else:
        vacuous = above_cap if math.isfinite(cap.value) and t32.value >= cap.value else ""
        lines.append(
            f"Theorem 3.2: g(1/K) = {_fmt(t32.value)} at K = {d.num_observed_classes} observed (the best Theorem "
            f"3.1 can give){vacuous}"
        )
    bound = b.collision_entropy_upper_bound
    if not bound.hypothesis_holds or math.isnan(bound.value):
        lines.append("entropy bound G⁻¹(radius): does not apply (Theorem 3.1's hypothesis fails)")
    elif bound.value >= log_k:
        lines.append(
            f"entropy bound G⁻¹(radius) = {_fmt(bound.value)} nats, hypothesis holds; vacuous (the collision "
            f"entropy never exceeds log K = {_fmt(log_k)})"
        )
    else:
        lines.append(
            f"entropy bound G⁻¹(radius) = {_fmt(bound.value)} nats, hypothesis holds; below log K = {_fmt(log_k)}: "
            "the radius caps the diversity"
        )
    return "\n".join(lines)


def _typed_frame(columns: dict[str, list[Any]], *, model: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    data = {key: pd.Series(columns[key], dtype=dtype) for key, dtype in FRAME_DTYPES.items()}
    frame = pd.DataFrame(data)
    if model is not None:
        frame.insert(0, "model", pd.Series(model, dtype="object"))
    return frame


def empty_frame(*, with_model: bool = False) -> pd.DataFrame:
    """An empty frame with the schema of :meth:`Report.to_frame` (and ``model`` first if asked).

    Examples
    --------
    >>> list(empty_frame(with_model=True).columns[:2])
    ['model', 'quantity']
    """
    return _typed_frame({key: [] for key in FRAME_DTYPES}, model=[] if with_model else None)


def reports_to_frame(reports: Sequence[Report], names: Sequence[str] | None = None) -> pd.DataFrame:
    """Concatenate the frames of several reports, with a leading ``model`` column.

    Parameters
    ----------
    reports : sequence of Report
        At least one report.
    names : sequence of str, optional
        One distinct name per report; default ``"model_0"``, ``"model_1"``, ...

    Returns
    -------
    pandas.DataFrame
        ``model`` (object) followed by the columns of :meth:`Report.to_frame`, same dtypes.

    Examples
    --------
    >>> import torch
    >>> from genloose import evaluate
    >>> make = lambda seed: evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2,
    ...                                       num_samples=50, seed=seed, progress=False)
    >>> frame = reports_to_frame([make(0), make(1)], names=["a", "b"])
    >>> frame.pivot(index="quantity", columns="model", values="value").loc["num_observed_classes"].tolist()
    [2.0, 2.0]
    """
    import pandas as pd

    from genloose.report import Report

    if isinstance(reports, Report) or not isinstance(reports, Sequence) or len(reports) == 0:
        raise InvalidArgumentError(f"reports must be a non-empty sequence of Report; got {describe(reports)}")
    for i, report in enumerate(reports):
        if not isinstance(report, Report):
            raise InvalidArgumentError(f"reports[{i}] must be a Report; got {describe(report)}")
    if names is None:
        names = [f"model_{i}" for i in range(len(reports))]
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise InvalidArgumentError(f"names must be a sequence of str; got {describe(names)}")
    names = list(names)
    if len(names) != len(reports) or not all(isinstance(n, str) for n in names):
        raise InvalidArgumentError(f"names must hold one str per report ({len(reports)}); got {describe(names)}")
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"names must be distinct; got {names!r}")
    frames = []
    for name, report in zip(names, reports, strict=True):
        frame = report_frame(report)
        frame.insert(0, "model", pd.Series([name] * len(frame), dtype="object"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
