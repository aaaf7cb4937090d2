"""The :class:`Report` of :func:`genloose.evaluate`: estimates, bounds, diagnostics and run metadata.

A report is built from one :class:`~genloose.RadiusResult` (:func:`build_report`): the class radius comes
from its per-point radii, and the collision metrics from its labels ``c(g(z))`` of the same latent
points, so each model call is made once. Its exports have fixed schemas: :meth:`Report.to_frame` (long
format, :data:`FRAME_DTYPES`), :meth:`Report.to_dict` / :meth:`Report.to_json` (flat snake_case keys).
"""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from genloose._errors import InvalidArgumentError
from genloose._validation import check_int, describe
from genloose._version import __version__
from genloose.estimate import Estimate
from genloose.metrics.bounds import (
    BoundEstimate,
    Bounds,
    entropy_upper_bound_estimate,
    fawzi_cap_estimate,
    theorem_3_1_estimate,
    theorem_3_2_estimate,
)
from genloose.metrics.radius.result import RadiusResult

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "BOUND_QUANTITIES",
    "DIAGNOSTIC_QUANTITIES",
    "ESTIMATE_QUANTITIES",
    "FRAME_DTYPES",
    "BoundEstimate",
    "Bounds",
    "Diagnostics",
    "Report",
    "RunMetadata",
    "build_report",
    "reports_to_frame",
]

ESTIMATE_QUANTITIES: tuple[str, ...] = (
    "class_radius",
    "collision_probability",
    "collision_entropy",
    "effective_number_of_classes",
)
"""The estimated quantities, in report order."""

BOUND_QUANTITIES: tuple[str, ...] = (
    "fawzi_cap",
    "theorem_3_1_bound",
    "theorem_3_2_bound",
    "collision_entropy_upper_bound",
)
"""The bounds, in report order."""

DIAGNOSTIC_QUANTITIES: tuple[str, ...] = (
    "num_censored",
    "queries_per_point",
    "total_queries",
    "num_observed_classes",
    "max_class_probability",
    "cap_respected",
)
"""The diagnostics, in report order (rows of :meth:`Report.to_frame` with only a value)."""

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
    "seed": "int64",
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
    "collision_probability": "collision probability ||p||²",
    "collision_entropy": "collision entropy -log ||p||²",
    "effective_number_of_classes": "effective number of classes",
    "fawzi_cap": "Fawzi cap at p̂ (Lemma B.1)",
    "theorem_3_1_bound": "Theorem 3.1 bound g(||p||²)",
    "theorem_3_2_bound": "Theorem 3.2 bound g(1/K_obs)",
    "collision_entropy_upper_bound": "entropy bound G⁻¹(radius)",
}


@dataclass(frozen=True)
class Diagnostics:
    """How the search went and whether the results are consistent.

    Attributes
    ----------
    num_censored : int
        Points with no witness (excluded from the radius mean; see :class:`~genloose.RadiusResult`).
    queries_per_point : float
        Mean calls of c∘g per point in the search.
    total_queries : int
        All calls in the search, including labelling the seeding pool once.
    num_observed_classes : int
        Classes seen in the sample (:math:`\\hat p_k > 0`).
    max_class_probability : float
        :math:`\\max_k \\hat p_k`.
    cap_respected : bool
        The search's own cap check, ``not radius_result.exceeds_cap``: false when the radius estimate lies
        above the Fawzi cap (at the sample and seeding-pool frequencies) beyond both their errors, which
        proves the search failed, since the cap holds for every classifier (one-sided z-test, see
        :func:`genloose.class_radius`).
    """

    num_censored: int
    queries_per_point: float
    total_queries: int
    num_observed_classes: int
    max_class_probability: float
    cap_respected: bool


@dataclass(frozen=True)
class RunMetadata:
    """How a report was produced; stored as columns of :meth:`Report.to_frame`.

    Attributes
    ----------
    seed, latent_dim, num_samples : int
        The sample: points ``0, ..., num_samples - 1`` of the N(0, I) sequence of ``seed``.
    access : str
        ``"white-box"`` or ``"black-box"`` (what the search used).
    world_size : int
        Processes that shared the work (the result does not depend on it).
    confidence : float
        Level of every interval.
    num_classes : int or None
        K as declared by the classifier (score width or ``num_classes``), if known.
    device, dtype : str
        Where and in which float type the models were run; ``dtype`` is spelled as in the search's metadata,
        without the ``torch.`` prefix (``"float32"``).
    genloose_version, torch_version, python_version : str
        Versions.
    """

    seed: int
    latent_dim: int
    num_samples: int
    access: str
    world_size: int
    confidence: float
    num_classes: int | None
    device: str
    dtype: str
    genloose_version: str = __version__
    torch_version: str = ""
    python_version: str = field(default_factory=platform.python_version)


def _json_value(value: Any) -> Any:
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
        return [_json_value(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class Report:
    """Everything :func:`genloose.evaluate` measures on one sample, with uncertainty and the paper's bounds.

    Attributes
    ----------
    class_radius : Estimate
        Mean witness distance: an upper estimate of :math:`E_z[r(z)]` with its Monte Carlo interval.
    collision_probability : Estimate
        The unbiased U-statistic for :math:`\\|p\\|_2^2` from the sample's labels.
    collision_entropy : Estimate
        :math:`-\\log \\|p\\|_2^2`, the interval mapped from the collision probability's.
    effective_number_of_classes : Estimate
        :math:`1 / \\|p\\|_2^2`, likewise.
    class_counts : numpy.ndarray
        Labels per class in the sample (int64, length K when K is known).
    bounds : Bounds
        Fawzi's cap, Theorems 3.1 and 3.2, the collision-entropy bound, each with its hypothesis flag.
    diagnostics : Diagnostics
        Censored points, queries, the cap check.
    metadata : RunMetadata
        Seed, sizes, access, world size, device, versions.
    radius_result : RadiusResult
        The per-point search result (latents, radii, witnesses, labels), e.g. for paired comparisons.

    Examples
    --------
    >>> import torch
    >>> from genloose import evaluate
    >>> report = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=4,
    ...                            num_samples=200, seed=0, progress=False)
    >>> report.class_radius.contains(0.7978845608)  # sqrt(2/pi): two half-spaces
    True
    >>> int(report.to_frame().set_index("quantity").loc["collision_probability", "n"])
    200
    >>> sorted(report.to_dict())[:3]
    ['access', 'cap_respected', 'class_counts']
    """

    class_radius: Estimate
    collision_probability: Estimate
    collision_entropy: Estimate
    effective_number_of_classes: Estimate
    class_counts: np.ndarray
    bounds: Bounds
    diagnostics: Diagnostics
    metadata: RunMetadata
    radius_result: RadiusResult

    @property
    def class_probabilities(self) -> np.ndarray:
        """The sample frequencies :math:`\\hat p_k = n_k / n` (float64)."""
        return self.class_counts / max(1, int(self.class_counts.sum()))

    @property
    def confidence(self) -> float:
        """The level of every interval."""
        return self.metadata.confidence

    def estimates(self) -> dict[str, Estimate]:
        """The estimates and bounds by quantity name, in report order.

        Examples
        --------
        >>> import torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...                       progress=False)
        >>> list(r.estimates())[:2]
        ['class_radius', 'collision_probability']
        """
        out: dict[str, Estimate] = {name: getattr(self, name) for name in ESTIMATE_QUANTITIES}
        out.update({name: getattr(self.bounds, name) for name in BOUND_QUANTITIES})
        return out

    def _diagnostic_rows(self) -> list[tuple[str, float, str]]:
        d = self.diagnostics
        return [
            ("num_censored", float(d.num_censored), "count of points with no witness (excluded)"),
            ("queries_per_point", float(d.queries_per_point), "mean calls of c∘g per point in the search"),
            ("total_queries", float(d.total_queries), "calls of c∘g in the search, seeding pool included"),
            ("num_observed_classes", float(d.num_observed_classes), "classes with a positive count"),
            ("max_class_probability", float(d.max_class_probability), "max of the sample frequencies"),
            ("cap_respected", float(d.cap_respected), "indicator: the search's cap check passed"),
        ]

    def to_frame(self) -> pd.DataFrame:
        """One row per quantity (estimates, bounds, diagnostics), long format, fixed schema.

        Columns and dtypes are :data:`FRAME_DTYPES`: ``quantity``, ``value``, ``stderr``, ``ci_low``,
        ``ci_high``, ``confidence``, ``n``, ``method``, ``hypothesis_holds`` (bounds only), then the run's
        metadata (``seed``, ``latent_dim``, ``num_samples``, ``access``, ``world_size``, ``device``,
        ``dtype``, ``genloose_version``, ``torch_version``). Wide views come from ``pivot``.

        Examples
        --------
        >>> import torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...                       progress=False)
        >>> frame = r.to_frame()
        >>> list(frame.columns[:4]), len(frame)
        (['quantity', 'value', 'stderr', 'ci_low'], 14)
        """
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for name, estimate in self.estimates().items():
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
        for name, value, method in self._diagnostic_rows():
            rows.append(
                {
                    "quantity": name,
                    "value": value,
                    "stderr": math.nan,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "confidence": self.confidence,
                    "n": self.metadata.num_samples,
                    "method": method,
                    "hypothesis_holds": pd.NA,
                }
            )
        meta = {column: getattr(self.metadata, column) for column in METADATA_COLUMNS}
        columns = {key: [row[key] for row in rows] for key in rows[0]}
        columns.update({key: [value] * len(rows) for key, value in meta.items()})
        return _typed_frame(columns)

    def to_dict(self) -> dict[str, Any]:
        """A flat dict with stable snake_case keys.

        For each quantity ``q`` (estimates and bounds): ``q_value``, ``q_stderr``, ``q_ci_low``,
        ``q_ci_high``, ``q_n``, ``q_method``; for bounds also ``q_hypothesis_holds``. Then ``confidence``,
        the diagnostics by name, ``class_counts`` and ``class_probabilities`` (lists), and the metadata
        (``seed``, ``latent_dim``, ``num_samples``, ``access``, ``world_size``, ``num_classes``,
        ``device``, ``dtype``, ``genloose_version``, ``torch_version``, ``python_version``).

        Examples
        --------
        >>> import torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...                       progress=False)
        >>> r.to_dict()["class_radius_n"]
        50
        """
        out: dict[str, Any] = {}
        for name, estimate in self.estimates().items():
            out[f"{name}_value"] = float(estimate.value)
            out[f"{name}_stderr"] = float(estimate.stderr)
            out[f"{name}_ci_low"] = float(estimate.ci_low)
            out[f"{name}_ci_high"] = float(estimate.ci_high)
            out[f"{name}_n"] = int(estimate.n)
            out[f"{name}_method"] = estimate.method
            if isinstance(estimate, BoundEstimate):
                out[f"{name}_hypothesis_holds"] = bool(estimate.hypothesis_holds)
        out["confidence"] = float(self.confidence)
        d = self.diagnostics
        out.update(
            num_censored=int(d.num_censored),
            queries_per_point=float(d.queries_per_point),
            total_queries=int(d.total_queries),
            num_observed_classes=int(d.num_observed_classes),
            max_class_probability=float(d.max_class_probability),
            cap_respected=bool(d.cap_respected),
            class_counts=[int(c) for c in self.class_counts],
            class_probabilities=[float(p) for p in self.class_probabilities],
        )
        m = self.metadata
        out.update(
            seed=int(m.seed),
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

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as strict JSON: the :meth:`to_dict` keys, and an exact copy that :meth:`from_json` reads.

        The flat keys are for reading the numbers (NaN becomes ``null``, infinities the strings
        ``"inf"``/``"-inf"``). Beside them, ``format`` (``"genloose.Report"``), ``schema_version`` and
        ``exact``: every field of the report, the per-point results included (latents, radii, witnesses,
        labels, queries), encoded so that :meth:`from_json` gives back the same report bit for bit and
        :func:`genloose.compare` can run its paired tests on reports read back. The per-point arrays take
        about :math:`2 n d \\times 8 \\times 4/3` bytes (latents and witnesses in base64).

        Write it to a file with :meth:`save_json` (atomic).

        Examples
        --------
        >>> import json, torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...                       progress=False)
        >>> data = json.loads(r.to_json())
        >>> data["num_samples"], data["format"], data["schema_version"]
        (50, 'genloose.Report', 2)
        """
        from genloose._serialize import document, encode_object

        if indent is not None:
            indent = check_int("indent", indent, min_value=0)
        clean = {key: _json_value(value) for key, value in self.to_dict().items()}
        return document("Report", clean, encode_object(self), indent=indent)

    @classmethod
    def from_json(cls, source: Any) -> Report:
        """Read back a report written by :meth:`save_json` or :meth:`to_json`, exactly.

        Parameters
        ----------
        source : str or os.PathLike
            A path to the JSON file, or the JSON text itself (a string starting with ``{``).

        Returns
        -------
        Report
            Equal, field by field and bit by bit, to the report that was saved (NaN and infinities
            included), with its per-point :class:`~genloose.RadiusResult`: it prints, plots and compares
            like the original.

        Raises
        ------
        InvalidArgumentError
            ``source`` is missing, not JSON or truncated, not a genloose report (another program's JSON, a
            saved :class:`~genloose.Comparison`, a report written by a genloose that kept no per-point
            results), written by a newer genloose (a larger ``schema_version``), or has a missing or
            malformed field (the message names it).

        Examples
        --------
        >>> import tempfile, pathlib, torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...              progress=False)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.json"
        >>> r.save_json(path)
        >>> back = Report.from_json(path)
        >>> back.class_radius == r.class_radius, bool((back.radius_result.radii == r.radius_result.radii).all())
        (True, True)
        >>> try:
        ...     Report.from_json('{"loss": 0.1}')
        ... except InvalidArgumentError as error:
        ...     print(str(error).split(": ")[-1])
        it has no 'format' key (a JSON file from another program?)
        """
        from genloose._serialize import decode_object, read_document

        exact, name = read_document(source, "Report")
        report = decode_object("Report", exact, source=name)
        if not isinstance(report, cls):  # pragma: no cover - decode_object checks the type
            raise InvalidArgumentError(f"{name} does not hold a Report")
        return report

    def save_json(self, path: Any, *, overwrite: bool = False) -> None:
        """Write :meth:`to_json` to ``path`` atomically; an existing file is refused unless ``overwrite``.

        Examples
        --------
        >>> import json, tempfile, pathlib, torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...                       progress=False)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.json"
        >>> r.save_json(path)
        >>> json.loads(path.read_text())["seed"]
        0
        """
        from genloose._io import atomic_write_text

        atomic_write_text(path, self.to_json(), overwrite=overwrite)

    def save_csv(self, path: Any, *, overwrite: bool = False) -> None:
        """Write :meth:`to_frame` to ``path`` as CSV atomically; an existing file is refused unless ``overwrite``.

        Examples
        --------
        >>> import tempfile, pathlib, pandas, torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...                       progress=False)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.csv"
        >>> r.save_csv(path)
        >>> len(pandas.read_csv(path))
        14
        """
        from genloose._io import atomic_write_text

        atomic_write_text(path, self.to_frame().to_csv(index=False), overwrite=overwrite)

    def plot(self, ax: Any = None, *, kind: Literal["ecdf", "hist"] = "ecdf") -> tuple[Figure, Any]:
        """Draw the report: radii, the mean radius per class, the class distribution, the estimate and bounds.

        Four panels, in this order: the distribution of the per-point radii (ECDF or histogram) with the
        mean and its interval; the mean radius of each class with its interval (normal approximation, no
        bar where a class has fewer than two finite radii); the sample frequencies :math:`\\hat p_k` with
        the line :math:`1/5` of Theorem 3.1's hypothesis; the class-radius estimate beside the Fawzi cap and
        the bounds of Theorems 3.1 and 3.2, each labelled with whether its hypothesis holds.

        Parameters
        ----------
        ax : sequence of four matplotlib Axes, optional
            Where to draw (e.g. ``plt.subplots(2, 2)[1]``); a new 2 x 2 pyplot figure when omitted.
        kind : {"ecdf", "hist"}, default "ecdf"
            How the first panel shows the radii.

        Returns
        -------
        (matplotlib.figure.Figure, numpy.ndarray of Axes)
            The figure and its four axes, as torchmetrics' ``.plot()`` returns them.

        Raises
        ------
        InvalidArgumentError
            ``ax`` is not four Axes, or ``kind`` is not one of the two.

        Notes
        -----
        No model is called: the figure comes from the stored per-point results, so a report read back with
        :meth:`from_json` gives the same figure. When every point is censored the two radius panels say
        "no finite radius" instead of drawing; with a single class the Fawzi cap is written ``inf``; a bound
        whose hypothesis fails is written "n/a: hypothesis fails" instead of a point.

        Examples
        --------
        >>> import matplotlib.pyplot as plt, torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :3], latent_dim=3, num_samples=60,
        ...              progress=False)
        >>> fig, axes = r.plot()
        >>> len(axes), len(axes[2].patches)  # three classes: three bars
        (4, 3)
        >>> plt.close(fig)
        """
        from genloose._plot import plot_report

        return plot_report(self, ax, kind=kind)

    def summary(self) -> str:
        """A short human-readable reading of the report: what was measured and what the bounds say.

        One line each for the class radius (with its interval, censored points, access), the collision
        entropy (with :math:`\\log K`, the most it can be), the Fawzi cap (respected or not), Theorems 3.1
        and 3.2 and the collision-entropy bound: the value, whether the hypothesis holds, and whether the
        bound is **vacuous**, i.e. says nothing that was not already known. A radius bound is vacuous when
        it is at or above the Fawzi cap (which holds for every classifier); the entropy bound is vacuous
        when it is at or above :math:`\\log K`, since :math:`H \\le \\log K` always (K is ``num_classes``
        when the classifier declares it, else the number of observed classes). ``genloose evaluate`` prints
        this; ``print(report)`` prints the full table.

        Returns
        -------
        str
            Six lines: radius, collision entropy, Fawzi cap, Theorem 3.1, Theorem 3.2, entropy bound.

        Examples
        --------
        >>> import torch
        >>> from genloose import evaluate
        >>> r = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=200,
        ...              progress=False)
        >>> print(r.summary().splitlines()[3])
        Theorem 3.1: does not apply (hypothesis every p_k <= 1/5 fails: max p̂ = 0.515)
        """
        return _summary(self)

    def __str__(self) -> str:
        return _render(self)

    def __repr__(self) -> str:
        return _render(self)

    def _repr_html_(self) -> str:
        """A notebook table (the frame's estimate and bound rows)."""
        frame = self.to_frame()
        keep = ["quantity", "value", "stderr", "ci_low", "ci_high", "n", "method", "hypothesis_holds"]
        return frame[keep].to_html(index=False, na_rep="")


def _fmt(x: float, digits: int = 4) -> str:
    if math.isnan(x):
        return "nan"
    return f"{x:.{digits}g}"


def _render(report: Report) -> str:
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


def _summary(report: Report) -> str:
    m, d, b = report.metadata, report.diagnostics, report.bounds
    radius, entropy = report.class_radius, report.collision_entropy
    k = m.num_classes if m.num_classes is not None else d.num_observed_classes
    k_text = f"K = {k} classes" if m.num_classes is not None else f"K = {k} observed classes"
    log_k = math.log(k) if k > 0 else math.nan
    censored = f", {d.num_censored} censored" if d.num_censored else ""
    if math.isnan(radius.value):
        radius_line = f"class radius: undefined (all {m.num_samples} points censored: no witness found)"
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
        frame = report.to_frame()
        frame.insert(0, "model", pd.Series([name] * len(frame), dtype="object"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------
# building a report
# ----------------------------------------------------------------------------------------------


def build_report(
    result: RadiusResult,
    *,
    confidence: float,
    num_classes: int | None,
    world_size: int,
    device: str,
    dtype: str,
) -> Report:
    """Assemble a :class:`Report` from a (merged) class-radius result; no model is called.

    The collision metrics use ``result.labels`` (the sample's labels, already computed by the search).

    Examples
    --------
    >>> import torch, genloose
    >>> result = genloose.class_radius(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2,
    ...                                num_samples=100, progress=False)
    >>> build_report(result, confidence=0.95, num_classes=2, world_size=1, device="cpu",
    ...              dtype="torch.float32").metadata.dtype  # one spelling: no torch. prefix
    'float32'
    """
    import torch

    from genloose.metrics.collision import collision_probability_from_counts, collision_transforms

    labels = np.asarray(result.labels, dtype=np.int64)
    width = max(num_classes or 0, int(labels.max()) + 1 if labels.size else 0)
    counts = np.bincount(labels, minlength=width).astype(np.int64)
    n = int(labels.size)
    collision = collision_probability_from_counts(counts, confidence=confidence)
    entropy, effective = collision_transforms(collision)
    p_hat = counts / n
    max_p = float(p_hat.max())
    observed = int(np.count_nonzero(counts))
    fawzi = fawzi_cap_estimate(result.class_counts_with_pool, confidence)
    bounds = Bounds(
        fawzi_cap=fawzi,
        theorem_3_1_bound=theorem_3_1_estimate(collision, max_p),
        theorem_3_2_bound=theorem_3_2_estimate(observed, n, confidence),
        collision_entropy_upper_bound=entropy_upper_bound_estimate(result.estimate, max_p),
    )
    radius = result.estimate
    diagnostics = Diagnostics(
        num_censored=int(result.num_censored),
        queries_per_point=float(result.queries.mean()),
        total_queries=int(result.total_queries),
        num_observed_classes=observed,
        max_class_probability=max_p,
        cap_respected=not result.exceeds_cap,
    )
    metadata = RunMetadata(
        seed=int(result.seed) if result.seed is not None else -1,
        latent_dim=int(result.latent_dim),
        num_samples=n,
        access=result.access,
        world_size=int(world_size),
        confidence=float(confidence),
        num_classes=num_classes,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        torch_version=str(torch.__version__),
    )
    return Report(
        class_radius=radius,
        collision_probability=collision,
        collision_entropy=entropy,
        effective_number_of_classes=effective,
        class_counts=counts,
        bounds=bounds,
        diagnostics=diagnostics,
        metadata=metadata,
        radius_result=result,
    )
