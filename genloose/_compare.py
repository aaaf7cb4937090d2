"""``genloose.compare``: which of two models is more diverse, with a two-sample test for each measure.

The paper's abstract promises "an efficient test to help compare the sample diversity of two generative
models"; this is it. Each measure is compared by its difference (model a minus model b) with a
confidence interval and a p-value; the test follows from how the two samples were drawn:

* **independent samples** (different seeds): Welch's t-test on the two mean radii, and a z-test on the
  difference of the collision-probability U-statistics with their standard errors;
* **paired samples** (the same seed and sample size, hence the same latents, e.g. two generators and one
  classifier): a paired t-test on the per-point radius differences over the points uncensored in both,
  and a z-test on the difference of the two U-statistics with its jackknife standard error (which
  accounts for the two label sequences being dependent).

The collision entropy and the effective number of classes are monotone functions of the collision
probability, so they share its test (the same p-value); their differences get their own intervals
(delta method for independent samples, jackknife for paired ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import stats

from genloose._errors import InvalidArgumentError
from genloose._validation import check_float, check_progress, describe
from genloose.estimate import Estimate, normal_quantile
from genloose.metrics.radius.config import SearchConfig, reject_moved_arguments
from genloose.report import ESTIMATE_QUANTITIES, Report

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["COMPARISON_DTYPES", "Comparison", "QuantityComparison", "compare"]

COMPARISON_DTYPES: dict[str, str] = {
    "quantity": "object",
    "model_a": "object",
    "model_b": "object",
    "value_a": "float64",
    "value_b": "float64",
    "difference": "float64",
    "stderr": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "confidence": "float64",
    "statistic": "float64",
    "p_value": "float64",
    "alpha": "float64",
    "test": "object",
    "paired": "bool",
    "more_diverse": "object",
}
"""Columns and dtypes of :meth:`Comparison.to_frame`."""

_LOWER_IS_MORE_DIVERSE = {
    "class_radius": True,
    "collision_probability": True,
    "collision_entropy": False,
    "effective_number_of_classes": False,
}
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class QuantityComparison:
    """The comparison of one measure between models a and b.

    Attributes
    ----------
    quantity : str
        ``"class_radius"``, ``"collision_probability"``, ``"collision_entropy"`` or
        ``"effective_number_of_classes"``.
    value_a, value_b : float
        The two estimates.
    difference : Estimate
        a minus b, with its standard error and interval (at the reports' confidence level).
    statistic : float
        The test statistic (t or z) of the test that gives ``p_value``.
    p_value : float
        Two-sided p-value for "equal in the two models" (NaN when undefined).
    test : str
        The test used.
    more_diverse : str
        The name of the more diverse model by this measure (lower radius, lower collision probability,
        higher entropy, more effective classes), or ``"inconclusive"`` when ``p_value >= alpha`` or is NaN.
    """

    quantity: str
    value_a: float
    value_b: float
    difference: Estimate
    statistic: float
    p_value: float
    test: str
    more_diverse: str


@dataclass(frozen=True, eq=False)
class Comparison:
    """The result of :func:`compare`: one :class:`QuantityComparison` per measure.

    Attributes
    ----------
    class_radius, collision_probability, collision_entropy, effective_number_of_classes : QuantityComparison
        The measures.
    alpha : float
        Significance level of the verdicts.
    paired : bool
        Whether the two reports share their latents (paired tests) or not (independent tests).
    names : tuple of str
        The models' names in verdicts and frames.
    report_a, report_b : Report
        The compared reports.

    Examples
    --------
    >>> import torch
    >>> from genloose import evaluate
    >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
    >>> a = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=100, seed=1, progress=False)
    >>> b = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=100, seed=2, progress=False)
    >>> result = compare(a, b)
    >>> result.paired, result.class_radius.more_diverse
    (False, 'inconclusive')
    """

    class_radius: QuantityComparison
    collision_probability: QuantityComparison
    collision_entropy: QuantityComparison
    effective_number_of_classes: QuantityComparison
    alpha: float
    paired: bool
    names: tuple[str, str]
    report_a: Report
    report_b: Report

    def quantities(self) -> dict[str, QuantityComparison]:
        """The per-measure comparisons by name, in report order."""
        return {name: getattr(self, name) for name in ESTIMATE_QUANTITIES}

    def verdicts(self) -> dict[str, str]:
        """The more diverse model (or ``"inconclusive"``) by each measure.

        Examples
        --------
        >>> import torch
        >>> from genloose import evaluate
        >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
        >>> r = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, progress=False)
        >>> compare(r, r).verdicts()["collision_probability"]
        'inconclusive'
        """
        return {name: q.more_diverse for name, q in self.quantities().items()}

    def to_frame(self) -> pd.DataFrame:
        """One row per measure with a fixed schema (:data:`COMPARISON_DTYPES`).

        Examples
        --------
        >>> import torch
        >>> from genloose import evaluate
        >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
        >>> r = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, progress=False)
        >>> compare(r, r).to_frame()["quantity"].tolist()[:2]
        ['class_radius', 'collision_probability']
        """
        import pandas as pd

        rows = []
        for name, q in self.quantities().items():
            d = q.difference
            rows.append(
                {
                    "quantity": name,
                    "model_a": self.names[0],
                    "model_b": self.names[1],
                    "value_a": q.value_a,
                    "value_b": q.value_b,
                    "difference": d.value,
                    "stderr": d.stderr,
                    "ci_low": d.ci_low,
                    "ci_high": d.ci_high,
                    "confidence": d.confidence,
                    "statistic": q.statistic,
                    "p_value": q.p_value,
                    "alpha": self.alpha,
                    "test": q.test,
                    "paired": self.paired,
                    "more_diverse": q.more_diverse,
                }
            )
        return pd.DataFrame(
            {key: pd.Series([row[key] for row in rows], dtype=dtype) for key, dtype in COMPARISON_DTYPES.items()}
        )

    def to_dict(self) -> dict[str, Any]:
        """A flat dict: ``<quantity>_<field>`` for each measure, then ``alpha``, ``paired``, ``model_a``,
        ``model_b``.

        Examples
        --------
        >>> import torch
        >>> from genloose import evaluate
        >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
        >>> r = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, progress=False)
        >>> compare(r, r).to_dict()["class_radius_difference"]
        0.0
        """
        out: dict[str, Any] = {}
        for name, q in self.quantities().items():
            d = q.difference
            out.update(
                {
                    f"{name}_value_a": q.value_a,
                    f"{name}_value_b": q.value_b,
                    f"{name}_difference": d.value,
                    f"{name}_stderr": d.stderr,
                    f"{name}_ci_low": d.ci_low,
                    f"{name}_ci_high": d.ci_high,
                    f"{name}_statistic": q.statistic,
                    f"{name}_p_value": q.p_value,
                    f"{name}_test": q.test,
                    f"{name}_more_diverse": q.more_diverse,
                }
            )
        out.update(
            alpha=self.alpha,
            confidence=self.report_a.confidence,
            paired=self.paired,
            model_a=self.names[0],
            model_b=self.names[1],
        )
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """The comparison as strict JSON: the :meth:`to_dict` keys and an exact copy, both reports included.

        As :meth:`Report.to_json`: ``format`` (``"genloose.Comparison"``), ``schema_version``, the flat keys
        (NaN as ``null``, infinities as ``"inf"``), and ``exact``, which :meth:`from_json` reads back.

        Examples
        --------
        >>> import json, torch
        >>> from genloose import evaluate
        >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
        >>> r = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, progress=False)
        >>> json.loads(compare(r, r).to_json())["format"]
        'genloose.Comparison'
        """
        from genloose._serialize import document, encode_object
        from genloose._validation import check_int
        from genloose.report import _json_value

        if indent is not None:
            indent = check_int("indent", indent, min_value=0)
        clean = {key: _json_value(value) for key, value in self.to_dict().items()}
        return document("Comparison", clean, encode_object(self), indent=indent)

    def save_json(self, path: Any, *, overwrite: bool = False) -> None:
        """Write :meth:`to_json` to ``path`` atomically; an existing file is refused unless ``overwrite``.

        Examples
        --------
        >>> import tempfile, pathlib, torch
        >>> from genloose import evaluate
        >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
        >>> r = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, progress=False)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "comparison.json"
        >>> compare(r, r).save_json(path)
        >>> Comparison.from_json(path).paired
        True
        """
        from genloose._io import atomic_write_text

        atomic_write_text(path, self.to_json(), overwrite=overwrite)

    @classmethod
    def from_json(cls, source: Any) -> Comparison:
        """Read back a comparison written by :meth:`save_json` or :meth:`to_json`, exactly.

        Parameters
        ----------
        source : str or os.PathLike
            A path to the JSON file, or the JSON text itself.

        Returns
        -------
        Comparison
            Equal field by field to the saved one, with both reports.

        Raises
        ------
        InvalidArgumentError
            As :meth:`Report.from_json` (missing, truncated, foreign or newer file; a saved Report).

        Examples
        --------
        >>> import torch, genloose
        >>> from genloose import evaluate
        >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
        >>> r = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, progress=False)
        >>> Comparison.from_json(compare(r, r).to_json()).verdicts()["class_radius"]
        'inconclusive'
        >>> try:
        ...     Comparison.from_json(r.to_json())
        ... except genloose.InvalidArgumentError as error:
        ...     print(str(error).split("; ")[-1])
        read it with genloose.Report.from_json
        """
        from genloose._serialize import decode_object, read_document

        exact, name = read_document(source, "Comparison")
        return decode_object("Comparison", exact, source=name)

    def plot(self, ax: Any = None) -> tuple[Figure, Any]:
        """Draw the two reports side by side: radii, class distributions, estimates with the verdicts.

        Three panels: the ECDFs of both models' per-point radii with their means and intervals; their class
        distributions as paired bars; the class radius and the collision entropy of each with its interval,
        labelled with the more diverse model by each measure (or "inconclusive").

        Parameters
        ----------
        ax : sequence of three matplotlib Axes, optional
            Where to draw; a new 1 x 3 pyplot figure when omitted.

        Returns
        -------
        (matplotlib.figure.Figure, numpy.ndarray of Axes)
            The figure and its three axes.

        Raises
        ------
        InvalidArgumentError
            ``ax`` is not three Axes.

        Examples
        --------
        >>> import matplotlib.pyplot as plt, torch
        >>> from genloose import evaluate
        >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
        >>> a = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=60, seed=1, progress=False)
        >>> b = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=60, seed=2, progress=False)
        >>> fig, axes = compare(a, b).plot()
        >>> len(axes), len(axes[1].patches)  # two classes, two models: four bars
        (3, 4)
        >>> plt.close(fig)
        """
        from genloose._plot import plot_comparison

        return plot_comparison(self, ax)

    def __repr__(self) -> str:
        a, b = self.names
        level = f"{100 * self.report_a.confidence:g}% CI"
        kind = "paired (same latents)" if self.paired else "independent samples"
        lines = [
            f"genloose Comparison: {a} vs {b}, {kind}, alpha={self.alpha:g}",
            pairing_note(self.report_a, self.report_b, self.paired),
            f"{'quantity':<30} {a[:12]:>12} {b[:12]:>12} {'difference':>12}   {level:<26} {'p-value':>9}  more diverse",
        ]
        for name, q in self.quantities().items():
            d = q.difference
            interval = "" if math.isnan(d.ci_low) else f"[{d.ci_low:.4g}, {d.ci_high:.4g}]"
            lines.append(
                f"{name:<30} {q.value_a:>12.5g} {q.value_b:>12.5g} {d.value:>12.4g}   {interval:<26} "
                f"{q.p_value:>9.3g}  {q.more_diverse}"
            )
        return "\n".join(lines)

    __str__ = __repr__


# ----------------------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------------------


def _p_and_interval(
    difference: float, stderr: float, confidence: float, df: float | None
) -> tuple[float, float, float, float]:
    """(statistic, two-sided p, ci_low, ci_high) of a t (df given) or z test of difference = 0."""
    if math.isnan(difference) or math.isnan(stderr):
        return math.nan, math.nan, math.nan, math.nan
    if stderr == 0.0:
        statistic = 0.0 if difference == 0 else math.copysign(math.inf, difference)
        return statistic, (1.0 if difference == 0 else 0.0), difference, difference
    statistic = difference / stderr
    if df is None:
        p = float(2.0 * stats.norm.sf(abs(statistic)))
        half = normal_quantile(confidence) * stderr
    else:
        p = float(2.0 * stats.t.sf(abs(statistic), df))
        half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * stderr
    return float(statistic), p, difference - half, difference + half


def _verdict(quantity: str, difference: float, p_value: float, alpha: float, names: tuple[str, str]) -> str:
    if math.isnan(p_value) or p_value >= alpha or difference == 0 or math.isnan(difference):
        return INCONCLUSIVE
    a_lower = difference < 0
    return names[0] if a_lower == _LOWER_IS_MORE_DIVERSE[quantity] else names[1]


def _make(
    quantity: str,
    a: Estimate,
    b: Estimate,
    difference: float,
    stderr: float,
    df: float | None,
    test: str,
    confidence: float,
    alpha: float,
    names: tuple[str, str],
    n: int,
    shared_p: tuple[float, float] | None = None,
) -> QuantityComparison:
    statistic, p, low, high = _p_and_interval(difference, stderr, confidence, df)
    if shared_p is not None:
        statistic, p = shared_p
    estimate = Estimate(float(difference), float(stderr), float(low), float(high), confidence, int(n), test)
    return QuantityComparison(
        quantity=quantity,
        value_a=float(a.value),
        value_b=float(b.value),
        difference=estimate,
        statistic=float(statistic),
        p_value=float(p),
        test=test,
        more_diverse=_verdict(quantity, difference, p, alpha, names),
    )


def _welch(a: Estimate, b: Estimate) -> tuple[float, float, float]:
    """(difference, stderr, Welch-Satterthwaite df) of two independent means."""
    diff = a.value - b.value
    va, vb = a.stderr**2, b.stderr**2
    se = math.sqrt(va + vb)
    denominator = (va * va / (a.n - 1) if a.n > 1 else math.nan) + (vb * vb / (b.n - 1) if b.n > 1 else math.nan)
    df = (va + vb) ** 2 / denominator if denominator > 0 else math.inf
    return diff, se, df


def _leave_one_out_u(labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The U-statistic sum_k n_k(n_k-1)/(n(n-1)) and its n leave-one-out values."""
    n = labels.shape[0]
    counts = np.bincount(labels)
    pairs = float(np.sum(counts * (counts - 1.0)))
    full = pairs / (n * (n - 1.0)) if n > 1 else math.nan
    if n < 3:  # a leave-one-out sample of one point has no pair
        return full, np.full(n, math.nan)
    loo = (pairs - 2.0 * (counts[labels] - 1.0)) / ((n - 1.0) * (n - 2.0))
    return full, loo


def _jackknife_se(loo: np.ndarray) -> float:
    n = loo.shape[0]
    if n < 3 or not np.isfinite(loo).all():
        return math.nan
    return float(math.sqrt((n - 1.0) / n * np.sum((loo - loo.mean()) ** 2)))


def _paired_collision(labels_a: np.ndarray, labels_b: np.ndarray) -> dict[str, float]:
    """Jackknife standard errors of the differences of q, -log q and 1/q between paired label samples."""
    _, loo_a = _leave_one_out_u(labels_a)
    _, loo_b = _leave_one_out_u(labels_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.log(loo_a) + np.log(loo_b)
        effective = 1.0 / loo_a - 1.0 / loo_b
    positive = bool((loo_a > 0).all() and (loo_b > 0).all())
    return {
        "collision_probability": _jackknife_se(loo_a - loo_b),
        "collision_entropy": _jackknife_se(entropy) if positive else math.nan,
        "effective_number_of_classes": _jackknife_se(effective) if positive else math.nan,
    }


_INCOMPATIBLE_HINTS = {
    "latent_dim": (
        " (a class radius is a distance in a latent space of that dimension, so radii of different dimensions are "
        "not comparable, and neither test applies; the collision metrics do not depend on d: compare "
        "a.collision_entropy and b.collision_entropy, each with its interval)"
    ),
    "confidence": " (evaluate both at the same confidence level, or read their estimates side by side)",
    "access": " (evaluate both with the same access: radii from different searches are not comparable)",
}


def pairing_note(a: Report, b: Report, paired: bool) -> str:
    """Which test the sampling of ``a`` and ``b`` allows, in one sentence (the printout's second line).

    Examples
    --------
    >>> import torch
    >>> from genloose import evaluate
    >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
    >>> a = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, seed=1, progress=False)
    >>> b = evaluate(torch.nn.Identity(), clf, latent_dim=2, num_samples=50, seed=2, progress=False)
    >>> print(pairing_note(a, b, False).split(";")[0])
    seeds 1 and 2 differ: independent samples, so the unpaired tests apply (Welch, z)
    """
    ma, mb = a.metadata, b.metadata
    if paired:
        return f"same seed {ma.seed} and num_samples {ma.num_samples}: the same latents, so the paired tests apply"
    reason = "a seed is unknown" if ma.seed is None or mb.seed is None else f"seeds {ma.seed} and {mb.seed} differ"
    return (
        f"{reason}: independent samples, so the unpaired tests apply (Welch, z); for the more powerful paired "
        "tests evaluate both with the same seed and num_samples"
    )


def _check_compatible(a: Report, b: Report) -> bool:
    """Raise on inconsistent metadata; return whether the samples are paired."""
    ma, mb = a.metadata, b.metadata
    for field_name in ("latent_dim", "confidence", "access"):
        va, vb = getattr(ma, field_name), getattr(mb, field_name)
        if va != vb:
            raise InvalidArgumentError(
                f"a and b must have the same {field_name} to be compared; got {va!r} and {vb!r}"
                + _INCOMPATIBLE_HINTS[field_name]
            )
    if ma.num_classes is not None and mb.num_classes is not None and ma.num_classes != mb.num_classes:
        raise InvalidArgumentError(
            "a and b must be labelled by classifiers with the same number of classes; got num_classes="
            f"{ma.num_classes} and {mb.num_classes}"
        )
    if ma.seed is None or ma.seed != mb.seed:
        return False
    if a.radius_result.precision is not None or b.radius_result.precision is not None:
        raise InvalidArgumentError(
            f"a and b share seed={ma.seed}, but a report made with precision= searched points of its own choosing, "
            "so their radii cannot be paired, and the overlapping samples are not independent either: evaluate "
            "them with different seeds for an unpaired comparison"
        )
    if ma.num_samples != mb.num_samples:
        raise InvalidArgumentError(
            f"a and b share seed={ma.seed} but have num_samples {ma.num_samples} and {mb.num_samples}: their "
            "samples overlap, so neither an independent nor a paired test applies; use different seeds, or the "
            "same num_samples for a paired comparison"
        )
    la, lb = a.radius_result.latents, b.radius_result.latents
    if la.shape != lb.shape or not np.allclose(la, lb, rtol=1e-3, atol=1e-3):
        raise InvalidArgumentError(
            f"a and b share seed={ma.seed} and num_samples={ma.num_samples} but not their latents; were they "
            "produced by genloose.evaluate?"
        )
    return True


def compare(
    a: Any,
    b: Any,
    *,
    classifier: Any = None,
    latent_dim: int | None = None,
    num_samples: int | None = None,
    seed: int | None = None,
    access: Literal["auto", "white-box", "black-box"] | None = None,
    num_classes: int | None = None,
    confidence: float | None = None,
    batch_size: int = 256,
    config: SearchConfig | None = None,
    progress: bool | None = None,
    alpha: float = 0.05,
    names: tuple[str, str] = ("a", "b"),
    **moved: Any,
) -> Comparison:
    r"""Compare the sample diversity of two models: which is more diverse, by each measure, and how sure.

    Either two :class:`Report`\ s (from :func:`genloose.evaluate`), or two generators and one
    ``classifier``: then both are evaluated on the same latents (``seed``, ``num_samples``) and compared
    with paired tests, which are more powerful.

    For each measure the result holds the difference a − b with a confidence interval at the reports'
    level, a two-sided p-value, and the more diverse model: the one with the lower class radius, the lower
    collision probability, the higher collision entropy, the more effective classes ("Looser is Worse"),
    or ``"inconclusive"`` when :math:`p \ge \alpha`.

    .. math:: t = \frac{\bar r_a - \bar r_b}{\sqrt{s_a^2 + s_b^2}} \;(\text{Welch}), \qquad
              z = \frac{\hat q_a - \hat q_b}{\sqrt{\widehat{\mathrm{se}}_a^2 + \widehat{\mathrm{se}}_b^2}}

    Parameters
    ----------
    a, b : Report, or generators
        Two reports, or two generators (then ``classifier``, ``num_samples`` and ``latent_dim`` unless the
        generators are :class:`genloose.Generator` adapters, are needed).
    classifier : optional
        The classifier that labels both generators' samples.
    latent_dim, num_samples, seed, access, num_classes, confidence, batch_size, config, progress
        Passed to :func:`genloose.evaluate` when generators are given (``num_samples`` >= 2, ``seed``
        defaults to 0, ``access`` to ``"auto"``, ``confidence`` to 0.95, ``config`` to ``SearchConfig()``,
        the same search for both); must be left unset with reports.
    alpha : float, default 0.05
        Significance level of the verdicts.
    names : tuple of two str, default ("a", "b")
        The models' names in the verdicts, the frame and the printout.

    Returns
    -------
    Comparison

    Raises
    ------
    InvalidArgumentError
        Reports with different latent dimensions, confidence levels, access modes or classifier class
        counts; reports with the same seed but different sample sizes (overlapping samples); evaluation
        arguments given with reports.

    Notes
    -----
    The test is chosen by how the samples were drawn. Different seeds: independent samples, Welch's t-test
    for the radius (the means of :math:`n_a`, :math:`n_b` uncensored points) and a z-test for the
    collision probability with the U-statistics' standard errors. The same seed and sample size: the same
    latents, a paired t-test on :math:`r_a(z_i) - r_b(z_i)` over the points uncensored in both (its
    difference can differ from :math:`\bar r_a - \bar r_b` when censoring differs), and a z-test for
    :math:`\hat q_a - \hat q_b` with its jackknife standard error. The entropy and the effective number
    of classes are decreasing functions of :math:`q`, so "equal" means the same for all three and they
    share the collision probability's p-value. The false-positive rate of these tests under the null (two
    identical models) is tested to be at the nominal level (``tests/test_compare.py``; measured rates in
    ``docs/evaluate.md``). Near a uniform class distribution with few samples the U-statistic is nearly
    degenerate (its first-order variance vanishes) and the collision test is conservative: for
    :math:`p \approx (0.27, 0.45, 0.28)` and :math:`n = 150` it rejects a true null in 3% of runs instead
    of 5%, in under 1% for an exactly uniform :math:`p`; at :math:`n = 600` it is at 5%.

    The radius estimates are upper estimates (the search error is one-sided): compare models evaluated with
    the same ``access`` and search settings, so the search error is alike.

    Examples
    --------
    Shifting the latent space by 1.5 along the classifier's normal makes one class dominate
    (:math:`p \approx (0.93, 0.07)`) and its region looser (class radius 1.56 instead of 0.80):

    >>> import torch, genloose
    >>> clf = lambda x: torch.stack([x[:, 0], -x[:, 0]], 1)
    >>> shift = torch.tensor([1.5, 0.0])
    >>> result = compare(lambda z: z, lambda z: z + shift, classifier=clf, latent_dim=2,
    ...                           num_samples=100, names=("plain", "shifted"), progress=False)
    >>> result.class_radius.more_diverse, result.collision_probability.more_diverse
    ('plain', 'plain')
    """
    reject_moved_arguments("compare", moved)
    progress = check_progress(progress)
    alpha = check_float("alpha", alpha, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    if (
        not isinstance(names, (tuple, list))
        or len(names) != 2
        or not all(isinstance(n, str) for n in names)
        or names[0] == names[1]
        or INCONCLUSIVE in names
    ):
        raise InvalidArgumentError(
            f"names must be two distinct strings other than {INCONCLUSIVE!r}; got {describe(names)}"
        )
    names = (names[0], names[1])
    reports_given = isinstance(a, Report), isinstance(b, Report)
    if any(reports_given):
        if not all(reports_given):
            raise InvalidArgumentError(
                f"a and b must both be Reports or both be generators; got {describe(a)} and {describe(b)}"
            )
        given = {
            "classifier": classifier,
            "latent_dim": latent_dim,
            "num_samples": num_samples,
            "seed": seed,
            "access": access,
            "num_classes": num_classes,
            "confidence": confidence,
            "config": config,
        }
        extra = [key for key, value in given.items() if value is not None]
        if extra:
            raise InvalidArgumentError(
                f"{', '.join(extra)} must not be given when a and b are Reports (they apply to generators); "
                f"got {', '.join(f'{k}={given[k]!r}' for k in extra)}"
            )
        report_a, report_b = a, b
    else:
        if classifier is None:
            raise InvalidArgumentError("classifier must be given to compare two generators; got None")
        if num_samples is None:
            raise InvalidArgumentError("num_samples must be given to compare two generators; got None")
        from genloose._evaluate import evaluate

        options: dict[str, Any] = {
            "latent_dim": latent_dim,
            "num_samples": num_samples,
            "seed": 0 if seed is None else seed,
            "access": "auto" if access is None else access,
            "num_classes": num_classes,
            "confidence": 0.95 if confidence is None else confidence,
            "batch_size": batch_size,
            "config": config,
            "progress": progress,
        }
        report_a = evaluate(a, classifier, **options)
        report_b = evaluate(b, classifier, **options)
    paired = _check_compatible(report_a, report_b)
    return _compare_reports(report_a, report_b, alpha=alpha, names=names, paired=paired)


def _compare_reports(a: Report, b: Report, *, alpha: float, names: tuple[str, str], paired: bool) -> Comparison:
    confidence = a.confidence
    common = {"confidence": confidence, "alpha": alpha, "names": names}
    ra, rb = a.radius_result, b.radius_result
    if paired:
        both = ~ra.censored & ~rb.censored
        d = ra.radii[both] - rb.radii[both]
        m = int(d.shape[0])
        mean = float(d.mean()) if m else math.nan
        se = float(d.std(ddof=1) / math.sqrt(m)) if m > 1 else math.nan
        excluded = int(both.size - m)
        test = "paired t-test on per-point radius differences" + (
            f" ({excluded} point(s) censored in a model excluded)" if excluded else ""
        )
        radius = _make("class_radius", a.class_radius, b.class_radius, mean, se, max(m - 1, 1), test, n=m, **common)
        ses = _paired_collision(ra.labels, rb.labels)
        q_test = "z-test on the difference of U-statistics, jackknife SE (paired labels)"
        derived = "delta via the collision-probability test (p-value); jackknife SE for the interval"
    else:
        diff, se, df = _welch(a.class_radius, b.class_radius)
        test = "Welch t-test on the mean radii (independent samples)"
        n = a.class_radius.n + b.class_radius.n
        radius = _make("class_radius", a.class_radius, b.class_radius, diff, se, df, test, n=n, **common)
        ses = {
            name: math.hypot(getattr(a, name).stderr, getattr(b, name).stderr)
            for name in ("collision_probability", "collision_entropy", "effective_number_of_classes")
        }
        q_test = "z-test on the difference of U-statistics with their standard errors (independent samples)"
        derived = "via the collision-probability test (p-value); delta-method SEs for the interval"
    n = a.collision_probability.n if paired else a.collision_probability.n + b.collision_probability.n
    q_diff = a.collision_probability.value - b.collision_probability.value
    collision = _make(
        "collision_probability",
        a.collision_probability,
        b.collision_probability,
        q_diff,
        ses["collision_probability"],
        None,
        q_test,
        n=n,
        **common,
    )
    shared = (collision.statistic, collision.p_value)
    others = {
        name: _make(
            name,
            getattr(a, name),
            getattr(b, name),
            getattr(a, name).value - getattr(b, name).value,
            ses[name],
            None,
            derived,
            n=n,
            shared_p=shared,
            **common,
        )
        for name in ("collision_entropy", "effective_number_of_classes")
    }
    return Comparison(
        class_radius=radius,
        collision_probability=collision,
        collision_entropy=others["collision_entropy"],
        effective_number_of_classes=others["effective_number_of_classes"],
        alpha=alpha,
        paired=paired,
        names=names,
        report_a=a,
        report_b=b,
    )
