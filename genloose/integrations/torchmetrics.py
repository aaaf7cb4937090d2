r"""The class radius and the collision probability as ``torchmetrics.Metric``\ s, for evaluation loops.

Needs the optional ``torchmetrics`` package: ``pip install 'genloose[torchmetrics]'``.

* :class:`ClassRadius`: ``update(latents)`` searches the given latents with :func:`genloose.class_radius`
  and adds their radii to the state; ``compute()`` is the class-radius estimate, exactly that of a
  :class:`genloose.RadiusAccumulator` updated with the same batches.
* :class:`CollisionProbability`: ``update(labels)`` adds class counts; ``compute()`` is
  :func:`genloose.metrics.collision_probability_from_counts` of all the labels seen.

Both states are sums (``add_state(..., dist_reduce_fx="sum")``): under ``torch.distributed`` torchmetrics'
own synchronisation in ``compute()`` adds the ranks' states, which gives the answer of one process that saw
every rank's batches (in the rank order), and :meth:`~torchmetrics.Metric.merge_state` merges two metric
objects the same way.

``compute()`` returns a dict of 0-d tensors, as torchmetrics' metrics with several outputs do:
``value``, ``stderr``, ``ci_low``, ``ci_high`` (``float64``) and ``n`` (``int64``), plus ``censored``
(``int64``) for :class:`ClassRadius`. :meth:`ClassRadius.estimate` and :meth:`CollisionProbability.estimate`
give the same numbers as a :class:`genloose.Estimate` (with its ``confidence`` and ``method``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch

from genloose._errors import InvalidArgumentError
from genloose._optional import missing_dependency
from genloose._validation import (
    check_batch_size,
    check_choice,
    check_confidence,
    check_int,
    check_num_classes,
    fail,
)
from genloose.accumulators import CollisionAccumulator, RadiusAccumulator
from genloose.estimate import Estimate
from genloose.metrics.collision import collision_probability_from_counts
from genloose.metrics.radius import SearchConfig, class_radius
from genloose.metrics.radius.config import as_search_config

try:
    import torchmetrics
except ModuleNotFoundError as _error:  # tested by hiding torchmetrics
    raise missing_dependency(
        _error, "torchmetrics", extra="torchmetrics", needed_for="genloose.integrations.torchmetrics"
    ) from None

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ClassRadius", "CollisionProbability"]

_ACCESS = ("auto", "white-box", "black-box")
_METHODS = ("unbiased", "plugin")
_OUTPUT_KEYS = ("value", "stderr", "ci_low", "ci_high", "n")


class _EstimateMetric(torchmetrics.Metric):
    """What both metrics share: sum states, an :class:`~genloose.Estimate` as output, option checks, the plot."""

    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False
    _ylabel: ClassVar[str] = ""

    def _options(self) -> dict[str, Any]:
        raise NotImplementedError

    def _estimate(self) -> Estimate:
        """The estimate of the current (possibly synchronised) state."""
        raise NotImplementedError

    def _extra_outputs(self) -> dict[str, torch.Tensor]:
        return {}

    def compute(self) -> dict[str, torch.Tensor]:
        """The estimate as a dict of 0-d tensors: value, stderr, ci_low, ci_high (float64) and n (int64).

        Synchronised over the ranks when ``torch.distributed`` is initialised (a collective call then).
        """
        est = self._estimate()
        out = {
            key: torch.tensor(getattr(est, key), dtype=torch.float64)
            for key in ("value", "stderr", "ci_low", "ci_high")
        }
        out["n"] = torch.tensor(est.n, dtype=torch.int64)
        out.update(self._extra_outputs())
        return out

    def estimate(self) -> Estimate:
        """The same numbers as :meth:`compute`, as a :class:`genloose.Estimate` (with confidence and method).

        Synchronised over the ranks like :meth:`compute` (a collective call under ``torch.distributed``).
        """
        with self.sync_context(
            dist_sync_fn=self.dist_sync_fn, process_group=self.process_group, should_sync=self.sync_on_compute
        ):
            return self._estimate()

    def merge_state(self, incoming_state: dict[str, Any] | torchmetrics.Metric) -> None:
        """Add the state of another metric of this class (same options), or a state dict, to this one.

        Raises
        ------
        InvalidArgumentError
            A metric of another class or with other options, or a dict without exactly this metric's states,
            or with a state of another shape or dtype; the state is then unchanged.
        """
        if isinstance(incoming_state, torchmetrics.Metric):
            if type(incoming_state) is not type(self):
                raise fail("incoming_state", f"a {type(self).__name__} or a state dict", incoming_state)
            if incoming_state._options() != self._options():
                raise InvalidArgumentError(
                    f"incoming_state must have the options of this {type(self).__name__} {self._options()}; "
                    f"got {incoming_state._options()}"
                )
        elif isinstance(incoming_state, Mapping):
            if set(incoming_state) != set(self._defaults):
                raise InvalidArgumentError(
                    f"incoming_state must have exactly the keys {sorted(self._defaults)}; "
                    f"got {sorted(map(str, incoming_state))}"
                )
            for name, value in incoming_state.items():
                mine = getattr(self, name)
                if not isinstance(value, torch.Tensor) or value.shape != mine.shape or value.dtype != mine.dtype:
                    expected = f"a tensor of dtype {mine.dtype} and shape {tuple(mine.shape)}"
                    raise fail(f"incoming_state[{name!r}]", expected, value)
        super().merge_state(incoming_state)

    def plot(
        self,
        val: Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor]] | None = None,
        ax: Axes | None = None,
    ) -> tuple[Figure, Axes]:
        """Plot one output of :meth:`compute` (or several, e.g. one per epoch) with its confidence interval.

        Parameters
        ----------
        val : dict or sequence of dicts, optional
            Outputs of :meth:`compute`; by default :meth:`compute` is called.
        ax : matplotlib Axes, optional
            Axes to draw on; by default a new figure.

        Returns
        -------
        (Figure, Axes)
            As torchmetrics' ``Metric.plot``. An undefined estimate (NaN: every radius censored, or fewer than
            two labels) is drawn as no point, with a note saying why.
        """
        from matplotlib.axes import Axes

        if val is None:
            val = self.compute()
        values = [val] if isinstance(val, Mapping) else val
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise fail("val", "an output of compute() or a non-empty sequence of them", val)
        for i, item in enumerate(values):
            if not isinstance(item, Mapping) or not set(_OUTPUT_KEYS) <= set(item):
                raise fail(f"val[{i}]", f"an output of compute() (a dict with the keys {list(_OUTPUT_KEYS)})", item)
        if ax is None:
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
        elif isinstance(ax, Axes):
            fig = ax.figure
        else:
            raise fail("ax", "a matplotlib Axes or None", ax)
        x = np.arange(len(values))
        value, low, high = (np.array([float(item[key]) for item in values]) for key in ("value", "ci_low", "ci_high"))
        shown = np.isfinite(value)
        lower = np.where(np.isfinite(low), value - low, 0.0)[shown]
        upper = np.where(np.isfinite(high), high - value, 0.0)[shown]
        ax.errorbar(x[shown], value[shown], yerr=[lower, upper], fmt="o-", capsize=4, label=self._legend(values[-1]))
        if not shown.all():
            ax.text(0.5, 0.5, self._undefined_note(values), transform=ax.transAxes, ha="center", va="center")
        ax.set_xticks(x)
        ax.set_xlabel("compute() call" if len(values) > 1 else "")
        ax.set_ylabel(self._ylabel)
        ax.set_title(type(self).__name__)
        if shown.any():
            ax.legend(loc="best")
        return fig, ax

    def _legend(self, last: Mapping[str, torch.Tensor]) -> str:
        return f"{self._options()['confidence']:.0%} CI, n={int(last['n'])}"

    def _undefined_note(self, values: Sequence[Mapping[str, torch.Tensor]]) -> str:
        return "undefined: fewer than 2 labels"


class ClassRadius(_EstimateMetric):
    r"""The class radius :math:`E_z[r(z)]` of c∘g over the latents given to :meth:`update`, as a torchmetrics metric.

    Each :meth:`update` runs :func:`genloose.class_radius` on its batch of latents (every radius an upper
    bound on r(z), backed by a re-verified witness) and adds the batch's sums to the state:

    .. math:: m = \#\{\text{uncensored}\},\quad S_1 = \sum r_i,\quad S_2 = \sum r_i^2,\quad
              \bar r = S_1/m,\quad \mathrm{se} = \sqrt{\tfrac{S_2 - S_1^2/m}{m(m-1)}}

    plus the number of censored points (no witness found, or a witness that failed re-verification with
    ``on_unverified="censor"``): they are excluded from the mean, counted in ``censored`` and named in the
    estimate's ``method``, never dropped silently. :meth:`compute` equals
    :meth:`genloose.RadiusAccumulator.compute` of an accumulator updated with the same batches' results.

    Parameters
    ----------
    generator, classifier
        As for :func:`genloose.class_radius`: adapters, ``torch.nn.Module``\ s or functions on tensors. They are
        not registered as submodules: the metric's ``state_dict`` holds its sums only, and ``metric.to(device)``
        does not move the models.
    latent_dim : int, optional
        d. By default the generator adapter's, or the second dimension of the first batch; later batches must
        agree.
    access : {"auto", "white-box", "black-box"}
        As for :func:`genloose.class_radius`. The search leaves ``torch.inference_mode`` and ``no_grad`` (which
        torchmetrics and PyTorch Lightning's validation loop put around it), so ``"auto"`` finds the gradients
        of a differentiable model there too.
    num_classes : int, optional
        K, needed to check a classifier that returns labels.
    confidence : float
        Level of the Wald interval of the mean.
    seed : int
        Seeds each batch's search (its seeding pool, the black-box probes and restarts). A point's radius
        depends on the seed, its batch and its place in the batch: the same batches give the same state on
        any rank and in any order of updates.
    batch_size : int
        Passed to :func:`genloose.class_radius`.
    config : SearchConfig, optional
        The search's settings, passed to :func:`genloose.class_radius` (each batch labels its own pool of
        ``config.pool_size`` points). With ``on_unverified="raise"`` (the default) a witness that fails
        re-verification raises and leaves the state unchanged; with ``"censor"`` the point is censored.
    process_group : optional
        The torch.distributed group to synchronise over (default: the whole world).
    sync_on_compute : bool
        Synchronise the states over the ranks in :meth:`compute` (torchmetrics' option).

    Notes
    -----
    The class radius is Definition 2.5 of Manoj, *Looser is Worse* (2018); the mean of per-point upper
    bounds is an upper estimate of it.

    Examples
    --------
    >>> import torch, genloose
    >>> from genloose.testing import sectors
    >>> bed = sectors(3, 5)                                  # exact: E r = 0.3743...
    >>> metric = ClassRadius(bed.generator, bed.classifier, config=genloose.SearchConfig(pool_size=64))
    >>> for batch in torch.randn(4, 50, 3, generator=torch.Generator().manual_seed(0)):
    ...     metric.update(batch)
    >>> out = metric.compute()
    >>> sorted(out)
    ['censored', 'ci_high', 'ci_low', 'n', 'stderr', 'value']
    >>> int(out["n"]), int(out["censored"]), bool(out["ci_low"] < 0.3743 < out["ci_high"])
    (200, 0, True)
    """

    higher_is_better: ClassVar[bool | None] = None
    plot_lower_bound: ClassVar[float | None] = 0.0
    _ylabel: ClassVar[str] = "class radius (upper estimate)"

    count: torch.Tensor
    sum: torch.Tensor
    sum_sq: torch.Tensor
    censored: torch.Tensor

    def __init__(
        self,
        generator: Any,
        classifier: Any,
        *,
        latent_dim: int | None = None,
        access: Literal["auto", "white-box", "black-box"] = "auto",
        num_classes: int | None = None,
        confidence: float = 0.95,
        seed: int = 0,
        batch_size: int = 256,
        config: SearchConfig | None = None,
        process_group: Any = None,
        sync_on_compute: bool = True,
    ) -> None:
        super().__init__(process_group=process_group, sync_on_compute=sync_on_compute)
        for name, model in (("generator", generator), ("classifier", classifier)):
            if not callable(model):
                raise fail(name, "a callable (a torch.nn.Module, a function or a genloose adapter)", model)
        # a tuple, not attributes: the models must not become submodules (state_dict, .to(device))
        self._models = (generator, classifier)
        self.latent_dim = None if latent_dim is None else check_int("latent_dim", latent_dim, min_value=1)
        self.access = check_choice("access", access, _ACCESS)
        self.num_classes = None if num_classes is None else check_num_classes(num_classes)
        self.confidence = check_confidence(confidence)
        self.seed = check_int("seed", seed, min_value=0)
        self.batch_size = check_batch_size(batch_size)
        self.config = as_search_config(config)
        for name, dtype in (("count", torch.int64), ("sum", torch.float64), ("sum_sq", torch.float64)):
            self.add_state(name, default=torch.zeros((), dtype=dtype), dist_reduce_fx="sum", persistent=True)
        self.add_state("censored", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum", persistent=True)

    def _options(self) -> dict[str, Any]:
        return {
            "latent_dim": self.latent_dim,
            "access": self.access,
            "num_classes": self.num_classes,
            "confidence": self.confidence,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "config": self.config.to_dict(),
        }

    def update(self, latents: Any) -> None:
        """Search a batch of latents and add its radii to the state.

        Parameters
        ----------
        latents : tensor, array or nested sequence, shape (n, d)
            The points (``float32`` or ``float64``). An empty batch (n = 0) changes nothing.

        Raises
        ------
        InvalidArgumentError
            Latents that are not a 2-D float array, or whose d differs from ``latent_dim`` (or from the first
            batch's).
        NonDeterministicModelError
            A witness failed re-verification and ``on_unverified="raise"``; the state is unchanged.
        """
        shape = tuple(latents.shape) if isinstance(latents, (torch.Tensor, np.ndarray)) else np.shape(latents)
        if len(shape) != 2:
            raise fail("latents", f"a 2-D array of shape (n, {self.latent_dim or 'd'})", latents)
        if self.latent_dim is not None and shape[1] != self.latent_dim:
            raise fail("latents", f"of shape (n, {self.latent_dim}) (latent_dim={self.latent_dim})", latents)
        if shape[0] == 0:
            return
        generator, classifier = self._models
        with torch.inference_mode(False), torch.enable_grad():
            result = class_radius(
                generator,
                classifier,
                latents=latents,
                latent_dim=self.latent_dim,
                seed=self.seed,
                access=self.access,
                num_classes=self.num_classes,
                confidence=self.confidence,
                batch_size=self.batch_size,
                config=self.config,
                progress=False,
            )
        if self.latent_dim is None:
            self.latent_dim = int(result.latents.shape[1])
        batch = RadiusAccumulator(confidence=self.confidence)
        batch.update(result)
        for name, value in batch.state_dict().items():
            if name in self._defaults:
                state = getattr(self, name)
                setattr(self, name, state + torch.as_tensor(value, device=state.device))

    def _estimate(self) -> Estimate:
        if int(self.count) + int(self.censored) == 0:
            raise InvalidArgumentError(
                "ClassRadius must have seen at least one point (call update(latents)) before compute(); got 0 points"
            )
        state = {name: getattr(self, name).detach().cpu().numpy() for name in self._defaults}
        return RadiusAccumulator.from_state_dict({**state, "confidence": self.confidence}).compute()

    def _extra_outputs(self) -> dict[str, torch.Tensor]:
        return {"censored": self.censored.detach().clone().cpu()}

    def _legend(self, last: Mapping[str, torch.Tensor]) -> str:
        return super()._legend(last) + f", censored={int(last.get('censored', 0))}"

    def _undefined_note(self, values: Sequence[Mapping[str, torch.Tensor]]) -> str:
        return "undefined where every point is censored (no finite radius)"


class CollisionProbability(_EstimateMetric):
    r"""The collision probability :math:`\|p\|_2^2` of the labels given to :meth:`update`, as a torchmetrics metric.

    The state is the class counts :math:`n_k` (``int64``, ``num_classes`` entries); :meth:`compute` is
    :func:`genloose.metrics.collision_probability_from_counts` of them: by default the unbiased U-statistic

    .. math:: \hat q = \frac{\sum_k n_k (n_k - 1)}{n (n - 1)}

    with its standard error and Wald interval. Fewer than two labels give NaN with an
    :class:`~genloose.UndefinedMetricWarning`.

    Parameters
    ----------
    num_classes : int
        K; labels must lie in ``0, ..., K - 1``.
    method : {"unbiased", "plugin"}
        The estimator (see :func:`genloose.metrics.collision_probability_from_counts`).
    confidence : float
        Level of the interval.
    process_group : optional
        The torch.distributed group to synchronise over (default: the whole world).
    sync_on_compute : bool
        Synchronise the states over the ranks in :meth:`compute` (torchmetrics' option).

    Notes
    -----
    The collision probability and its entropy :math:`-\log\|p\|_2^2` are the diversity measures of Manoj,
    *Looser is Worse* (2018), Theorem 3.1.

    Examples
    --------
    >>> import torch
    >>> metric = CollisionProbability(num_classes=3)
    >>> metric.update(torch.tensor([0, 0, 1]))
    >>> metric.update(torch.tensor([1, 2]))
    >>> out = metric.compute()
    >>> round(float(out["value"]), 4), int(out["n"])    # (2 + 2) / (5 * 4)
    (0.2, 5)
    >>> metric.counts.tolist()
    [2, 2, 1]
    """

    higher_is_better: ClassVar[bool | None] = False
    plot_lower_bound: ClassVar[float | None] = 0.0
    plot_upper_bound: ClassVar[float | None] = 1.0
    _ylabel: ClassVar[str] = "collision probability"

    counts: torch.Tensor

    def __init__(
        self,
        num_classes: int,
        *,
        method: Literal["unbiased", "plugin"] = "unbiased",
        confidence: float = 0.95,
        process_group: Any = None,
        sync_on_compute: bool = True,
    ) -> None:
        super().__init__(process_group=process_group, sync_on_compute=sync_on_compute)
        self.num_classes = check_num_classes(num_classes)
        self.method = check_choice("method", method, _METHODS)
        self.confidence = check_confidence(confidence)
        default = torch.zeros(self.num_classes, dtype=torch.int64)
        self.add_state("counts", default=default, dist_reduce_fx="sum", persistent=True)

    def _options(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "method": self.method, "confidence": self.confidence}

    def update(self, labels: Any) -> None:
        """Add a batch of labels to the class counts (an empty batch changes nothing).

        Parameters
        ----------
        labels : tensor, array or sequence of int, shape (m,)
            Class labels in ``0, ..., num_classes - 1`` (for scores, pass ``scores.argmax(1)``).

        Raises
        ------
        InvalidArgumentError
            Labels that are not a 1-D integer array (floats and booleans are refused), negative, or
            ``>= num_classes``; the state is unchanged.
        """
        batch = CollisionAccumulator(num_classes=self.num_classes)
        batch.update(labels)
        self.counts = self.counts + torch.as_tensor(batch.counts, device=self.counts.device)

    def _estimate(self) -> Estimate:
        counts = self.counts.detach().cpu().numpy()
        if not counts.any():
            raise InvalidArgumentError(
                "CollisionProbability must have seen at least one label (call update(labels)) before compute(); "
                "got 0 labels"
            )
        return collision_probability_from_counts(counts, method=self.method, confidence=self.confidence)
