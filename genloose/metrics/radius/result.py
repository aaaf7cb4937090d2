"""The result of a class-radius search."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from genloose.estimate import Estimate

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from genloose.metrics.radius.precision import PrecisionSummary

__all__ = ["RadiusResult"]


@dataclass(frozen=True, eq=False)
class RadiusResult:
    """Per-point upper bounds on r(z), the witnesses that prove them, and their mean.

    Every finite ``radii[i]`` is the distance from ``latents[i]`` to ``witnesses[i]``, a latent point the
    classifier labels ``witness_labels[i] != labels[i]`` (checked again after the search). So each radius is an
    *upper bound* on r(z) and ``estimate`` is an upper estimate of the class radius E[r(z)], with a Monte Carlo
    confidence interval (the search error is one-sided and not in the interval).

    Attributes
    ----------
    latents : ndarray of shape (n, d)
        The points, exactly as the models saw them (float64 copies of the model-dtype values).
    radii : ndarray of shape (n,)
        Witness distances; ``inf`` where censored.
    witnesses : ndarray of shape (n, d)
        The differently-labelled points found; NaN rows where censored.
    labels, witness_labels : ndarray of shape (n,)
        c(g(z)) and c(g(witness)); ``witness_labels`` is -1 where censored.
    censored : ndarray of shape (n,)
        Points for which no witness was found (see ``censoring`` for how the estimate treats them).
    queries : ndarray of shape (n,)
        Calls of c∘g spent on each point (forward and gradient evaluations, each counted once).
    pool_queries : int
        Calls spent labelling the shared seeding pool.
    estimate : Estimate
        Mean of the finite radii with its Monte Carlo standard error and CI.
    access : str
        ``"white-box"`` or ``"black-box"``.
    class_counts_with_pool : ndarray
        Label counts over the sample *and* the seeding pool (the p̂ behind ``fawzi_cap``); the sample's
        own counts are ``numpy.bincount(labels)`` (``Report.class_counts``).
    fawzi_cap : float
        The universal cap Σ φ(Φ⁻¹(p_k)) + p_k Φ⁻¹(p_k) at p̂ (:func:`genloose.metrics.bounds.fawzi_cap`):
        E[r] cannot exceed it for any classifier. ``Report.bounds.fawzi_cap`` is the same estimate.
    fawzi_cap_stderr : float
        The cap's standard error from the sampling error of p̂ (delta method).
    exceeds_cap : bool
        True when the estimate lies above the cap beyond both their errors (a one-sided z-test at level
        1e-3; the cap is attained by two classes split by a hyperplane, so a correct search can sit on it):
        the search has failed. The test applies to points drawn from N(0, I) (``num_samples``), at least two:
        for given ``latents`` or a single point it is not made, and this is False.
    lower_bounds : ndarray of shape (n,) or None
        Certified per-point lower bounds (Lipschitz margin), when a Lipschitz constant was given.
    lower_estimate : Estimate or None
        Their mean: with ``estimate`` it brackets the class radius (up to Monte Carlo error).
    still_improving : ndarray of shape (n,) or None
        Points whose radius still shrank by more than 0.1% in the last 10% of their budget: their search ended
        before it converged, so their radii are loose upper bounds (a larger ``max_queries`` tightens them).
    image_distances : ndarray of shape (n,) or None
        ||g(witness) - g(z)||_2, the distance in sample space (outputs flattened) between the generated
        samples at the point and at its witness; NaN where censored. Since the witness lies on the generator's
        image and is labelled differently, this is an upper bound on the in-distribution robustness of Fawzi
        et al. (2018) at g(z) (the smallest perturbation *along the generator's image* that changes the class).
        The paper's bounds are on the latent radius, not on this; Fawzi et al. bound it through the generator's
        modulus of continuity.
    metadata : dict
        The run's settings and call counts (``search_config``, ``block_size``, the rows per model call,
        ``forward_queries``, ...).
    precision : PrecisionSummary or None
        With ``precision=``: how the multilevel run spent its calls. Then the per-point arrays hold the points
        searched at the full budget (a random subset of the run's points), while ``estimate`` combines every
        level (:mod:`genloose.metrics.radius.precision`), so it is not the mean of ``radii``.

    Examples
    --------
    >>> import torch, genloose
    >>> result = genloose.class_radius(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2,
    ...                                num_samples=64, seed=0, progress=False)
    >>> bool((result.radii > 0).all()), result.num_censored
    (True, 0)
    """

    latents: np.ndarray
    radii: np.ndarray
    witnesses: np.ndarray
    labels: np.ndarray
    witness_labels: np.ndarray
    censored: np.ndarray
    queries: np.ndarray
    pool_queries: int
    estimate: Estimate
    access: str
    seed: int | None
    class_counts_with_pool: np.ndarray
    fawzi_cap: float
    fawzi_cap_stderr: float
    exceeds_cap: bool
    censoring: str
    lower_bounds: np.ndarray | None = None
    lower_estimate: Estimate | None = None
    still_improving: np.ndarray | None = None
    image_distances: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    precision: PrecisionSummary | None = None

    @property
    def num_samples(self) -> int:
        """The number of points."""
        return int(self.radii.shape[0])

    @property
    def latent_dim(self) -> int:
        """d."""
        return int(self.latents.shape[1])

    @property
    def num_censored(self) -> int:
        """Points with no witness."""
        return int(self.censored.sum())

    @property
    def num_still_improving(self) -> int:
        """Points whose radius was still shrinking when their budget ran out (0 when not recorded)."""
        return 0 if self.still_improving is None else int(self.still_improving.sum())

    @property
    def image_distance(self) -> Estimate | None:
        """Mean of ``image_distances`` over the uncensored points, with a Monte Carlo interval at the estimate's
        level (None when not recorded).

        Examples
        --------
        >>> import torch, genloose
        >>> r = genloose.class_radius(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=50,
        ...                           progress=False)
        >>> bool(abs(r.image_distance.value - r.estimate.value) < 1e-6)  # g = identity: the same distances
        True
        """
        if self.image_distances is None:
            return None
        from genloose.metrics.radius.aggregate import mean_estimate

        finite = self.image_distances[~self.censored]
        with warnings.catch_warnings():  # the class radius's own estimate has already said what is undefined
            warnings.simplefilter("ignore")
            estimate = mean_estimate(finite, self.num_samples, self.estimate.confidence)
        censored = self.num_censored
        method = "mean of ||g(witness) - g(z)|| (upper bounds in sample space), Monte Carlo Wald CI"
        if censored:
            method += f"; {censored} of {self.num_samples} points without a witness excluded"
        return dataclasses.replace(estimate, method=method)

    @property
    def total_queries(self) -> int:
        """All calls of c∘g, pool included (with ``precision``: every level's, the pilot's and the pools')."""
        if self.precision is not None:
            return self.precision.total_calls
        return int(self.queries.sum()) + self.pool_queries

    def to_frame(self) -> pd.DataFrame:
        """One row per point: index, label, witness label, radius, censored, queries, still improving (and lower
        bound).

        Examples
        --------
        >>> import torch, genloose
        >>> r = genloose.class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, num_samples=8,
        ...                           progress=False)
        >>> list(r.to_frame().columns)
        ['point', 'label', 'witness_label', 'radius', 'censored', 'queries', 'still_improving', 'image_distance']
        """
        import pandas as pd

        columns: dict[str, Any] = {
            "point": np.arange(self.num_samples, dtype=np.int64),
            "label": self.labels.astype(np.int64),
            "witness_label": self.witness_labels.astype(np.int64),
            "radius": self.radii.astype(np.float64),
            "censored": self.censored.astype(bool),
            "queries": self.queries.astype(np.int64),
        }
        if self.still_improving is not None:
            columns["still_improving"] = self.still_improving.astype(bool)
        if self.image_distances is not None:
            columns["image_distance"] = self.image_distances.astype(np.float64)
        if self.lower_bounds is not None:
            columns["lower_bound"] = self.lower_bounds.astype(np.float64)
        return pd.DataFrame(columns)

    def summary(self) -> dict[str, float]:
        """Median, quartiles, 5% and 95% quantiles of the finite radii, and the censored fraction.

        Examples
        --------
        >>> import torch, genloose
        >>> r = genloose.class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, num_samples=8,
        ...                           progress=False)
        >>> sorted(r.summary())
        ['censored_fraction', 'median', 'q05', 'q25', 'q75', 'q95']
        """
        finite = self.radii[~self.censored]
        levels = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}
        out = {name: float(np.quantile(finite, q)) if finite.size else float("nan") for name, q in levels.items()}
        out["censored_fraction"] = float(self.censored.mean())
        return out

    def per_class_frame(self) -> pd.DataFrame:
        """One row per class of the sampled points: count, censored, mean and median radius, queries.

        Examples
        --------
        >>> import torch, genloose
        >>> r = genloose.class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, num_samples=8,
        ...                           progress=False)
        >>> list(r.per_class_frame().columns)
        ['label', 'count', 'censored', 'mean_radius', 'median_radius', 'mean_queries']
        """
        frame = self.to_frame()
        frame["finite_radius"] = frame["radius"].where(~frame["censored"])
        grouped = frame.groupby("label", sort=True)
        return grouped.agg(
            count=("point", "size"),
            censored=("censored", "sum"),
            mean_radius=("finite_radius", "mean"),
            median_radius=("finite_radius", "median"),
            mean_queries=("queries", "mean"),
        ).reset_index()

    def plot(self, ax: Axes | None = None, *, kind: Literal["ecdf", "hist"] = "ecdf") -> tuple[Figure, Axes]:
        """Draw the distribution of the per-point radii with their mean and its confidence interval.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new pyplot figure when omitted.
        kind : {"ecdf", "hist"}, default "ecdf"
            The empirical distribution function of the finite radii, or their histogram.

        Returns
        -------
        (matplotlib.figure.Figure, matplotlib.axes.Axes)
            The figure and the axes drawn on, as torchmetrics' ``.plot()`` returns them.

        Raises
        ------
        InvalidArgumentError
            ``ax`` is not an Axes, or ``kind`` is not one of the two.

        Notes
        -----
        Censored points (no witness) are not drawn; the title counts them. When every point is censored the
        axes say so in their middle instead of drawing a curve.

        Examples
        --------
        >>> import matplotlib.pyplot as plt, torch, genloose
        >>> r = genloose.class_radius(torch.nn.Identity(), lambda x: x, latent_dim=2, num_samples=32,
        ...                           progress=False)
        >>> fig, ax = r.plot()
        >>> ax.get_xlabel()
        'witness distance r(z) (upper bound)'
        >>> plt.close(fig)
        """
        from genloose._plot import plot_radius_result

        return plot_radius_result(self, ax, kind=kind)

    def __repr__(self) -> str:
        cap = "EXCEEDS the universal cap" if self.exceeds_cap else "within the universal cap"
        return (
            f"RadiusResult(class radius <= {self.estimate}, n={self.num_samples}, "
            f"censored={self.num_censored}, access={self.access!r}, "
            f"queries/point={self.queries.mean():.0f}, fawzi_cap={self.fawzi_cap:.4g}, {cap})"
        )
