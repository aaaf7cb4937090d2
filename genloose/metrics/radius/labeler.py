"""The search oracle: the composite z -> c(g(z)) of two model adapters, counted in calls and evaluated in fixed blocks.

Only the class-radius search uses it. It talks to :class:`~genloose.models.Generator` and
:class:`~genloose.models.Classifier` through their block interface (:meth:`~genloose.models.Generator.call_block`,
:meth:`~genloose.models.Classifier.call_block`) and runs a whole computation inside one
:func:`~genloose.models.isolated_rng` and :func:`~genloose.models.eval_mode` session.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from genloose._errors import ModelOutputError, NonDeterministicModelError
from genloose._validation import check_int, check_memory
from genloose.models import Classifier, Generator, RowPlace, eval_mode, indexed_rows, isolated_rng

__all__ = ["ACCELERATOR_BLOCK_SIZE", "CPU_BLOCK_SIZE", "LatentLabeler", "QueryCounter", "default_block_size"]

#: Rows per model call on a CPU when neither adapter sets ``batch_size``. A CPU's cost per row of a
#: convolutional model is flat from 16 rows up, so small blocks waste the fewest rows on padding: on the bundled
#: d = 64 digit DCGAN, 1.8 times faster per point than 128-row blocks at n = 50 and 1.3 times at n = 500
#: (``benchmarks/radius_padding.py``). A small MLP, whose calls cost little next to genloose's own per-call
#: work, is about 18% slower than with 128 rows: set ``batch_size=128`` on its adapter.
CPU_BLOCK_SIZE = 32
#: Rows per model call on an accelerator (CUDA, MPS...), where a call's cost barely grows with its rows.
ACCELERATOR_BLOCK_SIZE = 128


def default_block_size(device: torch.device) -> int:
    """Rows per model call when the adapters set no ``batch_size``: :data:`CPU_BLOCK_SIZE` on a CPU, else
    :data:`ACCELERATOR_BLOCK_SIZE`.

    Examples
    --------
    >>> default_block_size(torch.device("cpu"))
    32
    """
    return CPU_BLOCK_SIZE if torch.device(device).type == "cpu" else ACCELERATOR_BLOCK_SIZE


def _search_row(row: int) -> str:
    return f"row {row} of a batch of search probes, not one of the sampled latents"


@dataclass
class QueryCounter:
    """Calls of c∘g made so far, counted in points (a batch of n points counts n).

    ``forward`` counts points labelled or scored without a gradient; ``backward`` counts points whose score
    gradient was taken (each also costs a forward pass, counted there too).
    """

    forward: int = 0
    backward: int = 0
    #: Points labelled ahead of need (to fill a block that would otherwise be padded) that the search did not use;
    #: not part of ``forward`` or ``total``, which count the same for every batch layout.
    speculative: int = 0

    @property
    def total(self) -> int:
        """Forward plus backward point-evaluations."""
        return self.forward + self.backward

    def set_aside(self, points: int) -> None:
        """Move ``points`` forward evaluations that were labelled ahead and not used to ``speculative``."""
        self.forward -= points
        self.speculative += points


def _disagreeing_rows(first: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Indices of rows whose outputs (scores (n, K) or labels (n,)) differ beyond rounding."""
    if first.ndim == 1:
        return torch.nonzero(first != other)[:, 0]
    a, b = first.to(torch.float64), other.to(torch.float64)
    scale = a.abs().amax().clamp_min(1e-12)
    return torch.nonzero((a - b).abs().amax(dim=1) > 1e-3 * scale)[:, 0]


class LatentLabeler:
    """The composite z -> c(g(z)), counted, with labels, scores and score gradients.

    The models are always called on blocks of exactly ``block_size`` latents (the last block padded with
    copies of its last row, whose outputs are dropped and not counted as queries). Kernels such as CPU matrix
    products round differently for different batch sizes, so fixed blocks are what make every point's result
    independent of how many points are searched together: the same (seed, N) gives bit-identical results
    for any search batch size on CPU.

    Parameters
    ----------
    generator, classifier
        The adapters.
    block_size : int, optional
        Rows per model call. Default: the generator's ``batch_size``, else the classifier's, else
        :func:`default_block_size` of the generator's device (32 on a CPU, 128 on an accelerator).

    Examples
    --------
    >>> import torch
    >>> labeler = LatentLabeler(Generator(torch.nn.Identity(), latent_dim=2),
    ...                         Classifier(lambda x: x, num_classes=2))
    >>> labeler.labels(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    tensor([0, 1])
    >>> labeler.queries.forward
    2
    """

    def __init__(self, generator: Generator, classifier: Classifier, *, block_size: int | None = None) -> None:
        self.generator = generator
        self.classifier = classifier
        self.queries = QueryCounter()
        default = generator.batch_size or classifier.batch_size or default_block_size(generator.device)
        self.block_size = default if block_size is None else check_int("block_size", block_size, min_value=1)
        # every model call gets a full block (padded): a block no memory holds is refused before any call
        check_memory("batch_size", self.block_size, 16 * self.block_size * generator.latent_dim, "one block of latents")

    @property
    def device(self) -> torch.device:
        """The device latents are placed on."""
        return self.generator.device

    @property
    def dtype(self) -> torch.dtype:
        """The float dtype of latents passed to the generator."""
        return self.generator.dtype

    @property
    def num_classes(self) -> int | None:
        """K, once known."""
        return self.classifier.num_classes

    @contextlib.contextmanager
    def session(self) -> Iterator[LatentLabeler]:
        """Hold both models in eval mode and isolate the global RNG states for a whole computation.

        Saving and restoring RNG states once per computation instead of once per model call removes most of
        the adapters' overhead; the states are still exactly as they were when the session ends.
        """
        with isolated_rng(self.device), eval_mode(self.generator.fn), eval_mode(self.classifier.fn):
            yield self

    def to_latents(self, latents: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Latents as a tensor on the model's device and dtype."""
        return torch.as_tensor(latents).to(device=self.device, dtype=self.dtype)

    def _blocks(self, latents: torch.Tensor, size: int | None = None) -> Iterator[tuple[int, int, torch.Tensor]]:
        """(start, real rows, block of exactly ``size`` rows, default ``block_size``) over ``latents``."""
        size = self.block_size if size is None else size
        for start in range(0, latents.shape[0], size):
            block = latents[start : start + size]
            real = block.shape[0]
            if real < size:
                block = torch.cat([block, block[-1:].expand(size - real, -1)])
            yield start, real, block

    @staticmethod
    def _places(where: str | RowPlace | None, offset: int, start: int) -> RowPlace:
        """Names of the rows of the block that starts at row ``start`` of a call."""
        if isinstance(where, str):
            return indexed_rows(where, offset + start)
        name = _search_row if where is None else where
        return lambda row: name(offset + start + row)

    def _outputs(
        self,
        latents: torch.Tensor,
        *,
        grad: bool,
        where: str | RowPlace | None,
        offset: int,
        block_size: int | None = None,
    ) -> torch.Tensor:
        chunks = []
        for start, real, block in self._blocks(latents, block_size):
            place = self._places(where, offset, start)
            samples = self.generator.call_block(block, grad=grad, place=place, real=real)
            chunks.append(self.classifier.call_block(samples, grad=grad, place=place, real=real)[:real])
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def labels(
        self,
        latents: torch.Tensor,
        *,
        where: str | RowPlace | None = None,
        offset: int = 0,
        block_size: int | None = None,
    ) -> torch.Tensor:
        """Labels c(g(z)) as int64 on the model device; counts ``len(latents)`` forward queries.

        ``where`` names the rows in error messages: a name (row i is ``where`` number ``offset + i``, as in
        ``"latent index"``) or a function of ``offset + i``; by default they are search probes. ``block_size``
        overrides the rows per model call (1: every row alone, another batch layout for a robustness check).
        """
        if latents.shape[0] == 0:
            return torch.zeros(0, dtype=torch.long, device=self.device)
        self.queries.forward += latents.shape[0]
        with torch.no_grad():
            out = self._outputs(latents, grad=False, where=where, offset=offset, block_size=block_size)
        return (out if out.ndim == 1 else out.argmax(dim=1)).to(self.device)

    def scores(
        self, latents: torch.Tensor, *, where: str | RowPlace | None = None, offset: int = 0
    ) -> torch.Tensor | None:
        """Scores (n, K) without gradient, or None for a label-only classifier (``where`` as in :meth:`labels`)."""
        self.queries.forward += latents.shape[0]
        with torch.no_grad():
            out = self._outputs(latents, grad=False, where=where, offset=offset)
        return out if out.ndim == 2 else None

    def image_distances(self, latents: torch.Tensor, others: torch.Tensor) -> np.ndarray:
        """||g(others[i]) - g(latents[i])||_2 in sample space, in float64 (two generator calls per row, in blocks).

        The samples are flattened per row; the classifier is not called and no query is counted.
        """
        distances = []
        with torch.no_grad():
            for (start, real, block), (_, _, other) in zip(self._blocks(latents), self._blocks(others), strict=True):
                place = self._places("latent index", 0, start)
                here = self.generator.call_block(block, grad=False, place=place, real=real)[:real]
                there = self.generator.call_block(other, grad=False, place=place, real=real)[:real]
                wide = torch.complex128 if (here.is_complex() or there.is_complex()) else torch.float64
                difference = (there.to(wide) - here.to(wide)).reshape(real, -1)
                distances.append(torch.linalg.vector_norm(difference, dim=1).cpu().numpy())
        return np.concatenate(distances) if distances else np.zeros(0)

    def check_is_a_function(self, probe: torch.Tensor) -> None:
        """Raise :class:`NonDeterministicModelError` unless c∘g gives each row of ``probe`` one answer.

        The rows are evaluated three times: twice in the usual blocks, and once in a block whose other rows
        are other latents (the probe's rows negated). Outputs (scores, or labels for a label classifier) that
        change between the two usual calls mean a random model (dropout or sampling left on); outputs that
        change with the batch mean a model whose answer for one row depends on the other rows (BatchNorm using
        batch statistics, as in train mode or with ``track_running_stats=False``). Either would make every
        radius meaningless, so this runs before any search. Scores may differ by rounding between batch
        layouts: a difference counts when it exceeds ``1e-3`` of the largest score.
        """
        n = probe.shape[0]
        if n == 0:
            return
        m = min(n, self.block_size - 1)  # rows that share a block with other latents (none if blocks hold one row)
        self.queries.forward += 2 * n + m
        with torch.no_grad():
            first = self._outputs(probe, grad=False, where="latent index", offset=0)
            again = self._outputs(probe, grad=False, where="latent index", offset=0)
            mixed = torch.cat([probe[:m], (-probe).repeat(self.block_size // n + 1, 1)])[: self.block_size]
            among_others = self._outputs(mixed, grad=False, where="latent index", offset=0)[:m]
        checks = (
            (again, "the same latents got different outputs on two calls (dropout or sampling left on?)"),
            (
                among_others,
                "a latent's output depends on the other latents of its batch (BatchNorm using batch "
                "statistics: a model in train mode, inside a lambda or a function, or BatchNorm with "
                "track_running_stats=False?)",
            ),
        )
        for other, cause in checks:
            bad = _disagreeing_rows(first[: other.shape[0]], other)
            if bad.numel():
                raise NonDeterministicModelError(
                    f"c∘g is not a function of each latent: {cause}; {bad.numel()} of {other.shape[0]} probe "
                    f"rows differ (first: latent index {int(bad[0])}). Call model.eval() before wrapping a model "
                    "in a function, and turn off dropout and sampling."
                )

    def supports_gradients(self, probe: torch.Tensor) -> bool:
        """Whether scores are differentiable with respect to the latents (probes with the first sampled latents).

        The test is on the latents themselves: scores that require grad only because of the classifier's
        parameters (a generator that detaches or runs under ``torch.no_grad()``) are not differentiable with
        respect to the latents. A model that fails when its input requires grad (a classifier calling
        ``.numpy()``) does not support gradients either; it has already answered once without them.
        """
        if not (self.generator.differentiable and self.classifier.backend == "torch"):
            return False
        latents = probe.detach().clone().requires_grad_(True)
        self.queries.forward += latents.shape[0]
        try:
            with torch.enable_grad():
                out = self._outputs(latents, grad=True, where="latent index", offset=0)
                if out.ndim != 2 or not out.requires_grad:
                    return False
                (grad,) = torch.autograd.grad(out.sum(), latents, allow_unused=True)
        except (ModelOutputError, RuntimeError):
            return False
        return grad is not None

    def margin_gradients(
        self, latents: torch.Tensor, source: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Margin m = f_target - f_source at ``latents``, its gradient, and the labels there.

        ``source`` and ``target`` are int64 class indices, one per row; ``target=None`` takes, row by row, the
        highest-scoring class other than ``source``. Counts one backward query per row.
        """
        n = latents.shape[0]
        self.queries.forward += n
        self.queries.backward += n
        margins, grads, labels = [], [], []
        for start, real, block in self._blocks(latents):
            chunk = block.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                place = self._places(None, 0, start)
                samples = self.generator.call_block(chunk, grad=True, place=place, real=real)
                scores = self.classifier.call_block(samples, grad=True, place=place, real=real)
                if scores.ndim != 2 or not scores.requires_grad:
                    raise ModelOutputError(
                        "classifier scores are not differentiable with respect to the latents; use access='black-box'"
                    )
                scores = scores[:real]
                rows = torch.arange(real, device=chunk.device)
                src = source[start : start + real]
                if target is None:
                    others = scores.detach().clone()
                    others[rows, src] = -math.inf
                    tgt = others.argmax(dim=1)
                else:
                    tgt = target[start : start + real]
                margin = scores[rows, tgt] - scores[rows, src]
                (grad,) = torch.autograd.grad(margin.sum(), chunk, allow_unused=True)
                if grad is None:
                    raise ModelOutputError(
                        "classifier scores are not differentiable with respect to the latents (a generator that "
                        "detaches or runs under torch.no_grad()?); use access='black-box'"
                    )
            margins.append(margin.detach())
            grads.append(grad[:real].detach())
            labels.append(scores.detach().argmax(dim=1))
        return torch.cat(margins), torch.cat(grads), torch.cat(labels)
