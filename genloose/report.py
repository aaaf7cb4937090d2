"""The :class:`Report` of :func:`genloose.evaluate`: estimates, bounds, diagnostics and run metadata.

A report is built from one :class:`~genloose.RadiusResult` (:func:`build_report`): the class radius comes
from its per-point radii, and the collision metrics from its labels ``c(g(z))`` of the same latent
points, so each model call is made once. Its exports have fixed schemas: :meth:`Report.to_frame` (long
format, :data:`FRAME_DTYPES`), :meth:`Report.to_dict` / :meth:`Report.to_json` (flat snake_case keys).
This module holds the result types and their assembly; the export and rendering code is in
:mod:`genloose._report_export` (re-exported here: :data:`FRAME_DTYPES`, :func:`reports_to_frame`).
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from genloose import _report_export as _export
from genloose._report_export import FRAME_DTYPES, reports_to_frame
from genloose._report_export import METADATA_COLUMNS as METADATA_COLUMNS
from genloose._report_export import empty_frame as empty_frame
from genloose._report_export import json_value as _json_value  # noqa: F401  (genloose._compare uses it)
from genloose._validation import check_int
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
from genloose.metrics.radius.aggregate import cap_check_applies
from genloose.metrics.radius.result import RadiusResult

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "BOUND_QUANTITIES",
    "DIAGNOSTIC_QUANTITIES",
    "ESTIMATE_QUANTITIES",
    "FRAME_DTYPES",
    "SAMPLE_SPACE_QUANTITIES",
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

SAMPLE_SPACE_QUANTITIES: tuple[str, ...] = ("image_distance",)
"""Quantities measured in sample space at the witnesses (``RadiusResult.image_distance``), after the estimates."""

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


@dataclass(frozen=True)
class Diagnostics:
    """How the search went and whether the results are consistent.

    Attributes
    ----------
    num_censored : int
        Points with no witness (excluded from the radius mean; see :class:`~genloose.RadiusResult`).
    queries_per_point : float
        Mean calls of c∘g per point in the search (with ``precision``: all the run's calls over every point it
        used, those given only the proxy included).
    total_queries : int
        All calls in the search, including labelling the seeding pool once.
    num_observed_classes : int
        Classes seen in the sample (:math:`\\hat p_k > 0`).
    max_class_probability : float
        :math:`\\max_k \\hat p_k`.
    cap_respected : bool or None
        The search's own cap check, ``not radius_result.exceeds_cap``: false when the radius estimate lies
        above the Fawzi cap (at the sample and seeding-pool frequencies) beyond both their errors, which
        proves the search failed, since the cap holds for every classifier (one-sided z-test, see
        :func:`genloose.class_radius`). None when the check does not apply: the cap bounds the mean over
        z ~ N(0, I), so latents chosen by the caller are not checked, nor a single point or an undefined
        estimate.
    """

    num_censored: int
    queries_per_point: float
    total_queries: int
    num_observed_classes: int
    max_class_probability: float
    cap_respected: bool | None


@dataclass(frozen=True)
class RunMetadata:
    """How a report was produced; stored as columns of :meth:`Report.to_frame`.

    Attributes
    ----------
    seed : int or None
        The seed of the N(0, I) sequence the sample's points ``0, ..., num_samples - 1`` come from; None when the
        latents were given by the caller (a report built from ``class_radius(latents=...)``).
    latent_dim, num_samples : int
        d and the sample size.
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

    seed: int | None
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
        image = self.radius_result.image_distance
        if image is None:  # a report from before genloose recorded it
            nan = math.nan
            image = Estimate.from_normal(nan, nan, n=0, confidence=self.confidence, method="not recorded")
        out["image_distance"] = image
        out.update({name: getattr(self.bounds, name) for name in BOUND_QUANTITIES})
        return out

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
        (['quantity', 'value', 'stderr', 'ci_low'], 15)
        """
        return _export.report_frame(self)

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
        return _export.report_dict(self)

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
        (50, 'genloose.Report', 3)
        """
        if indent is not None:
            indent = check_int("indent", indent, min_value=0)
        return _export.report_json(self, indent)

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
        >>> from genloose import InvalidArgumentError
        >>> try:
        ...     Report.from_json('{"loss": 0.1}')
        ... except InvalidArgumentError as error:
        ...     print(str(error).split(": ")[-1])
        it has no 'format' key (a JSON file from another program?)
        """
        return _export.read_report(cls, source)

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
        _export.save_text(path, self.to_json(), overwrite=overwrite)

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
        15
        """
        _export.save_text(path, self.to_frame().to_csv(index=False), overwrite=overwrite)

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
        return _export.summary(self)

    def __str__(self) -> str:
        return _export.render(self)

    def __repr__(self) -> str:
        return _export.render(self)

    def _repr_html_(self) -> str:
        """A notebook table (the frame's estimate and bound rows)."""
        return _export.render_html(self)


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
    sample_labels: np.ndarray | None = None,
    sample_queries: int = 0,
) -> Report:
    """Assemble a :class:`Report` from a (merged) class-radius result; no model is called.

    The collision metrics use ``result.labels`` (the sample's labels, already computed by the search), or
    ``sample_labels`` when the radius came from other points (a run with ``precision``, whose labelling of the
    sample cost ``sample_queries`` calls).

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

    labels = np.asarray(result.labels if sample_labels is None else sample_labels, dtype=np.int64)
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
        queries_per_point=float(
            result.queries.mean() if result.precision is None else result.total_queries / result.precision.num_points
        ),
        total_queries=int(result.total_queries) + sample_queries,
        num_observed_classes=observed,
        max_class_probability=max_p,
        cap_respected=(
            not result.exceeds_cap
            if cap_check_applies(result.estimate, result.fawzi_cap, sampled=result.seed is not None)
            else None
        ),
    )
    metadata = RunMetadata(
        seed=None if result.seed is None else int(result.seed),
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
