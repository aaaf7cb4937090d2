"""Adapters that put any generator and classifier behind one checked, counted interface.

A user hands genloose a ``torch.nn.Module``, a function on torch tensors, or (with ``backend="numpy"``) a function on
numpy arrays. :class:`Generator` and :class:`Classifier` wrap them; the search's
:class:`~genloose.metrics.radius.labeler.LatentLabeler` composes them into the map z -> c(g(z)), calling each adapter
one block at a time through :meth:`Generator.call_block` and :meth:`Classifier.call_block`. Each call:

* runs the user's code in eval mode and without autograd unless a gradient is asked for;
* leaves the global torch, numpy and Python RNG states as they were (the user's code may draw from them);
* checks every output: shape, finiteness, label range, and for scores a consistent number of classes;
* is counted by the labeler, so that search budgets are reported in calls of c∘g.
"""

from __future__ import annotations

import cmath
import contextlib
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch

from genloose._errors import GenlooseError, InvalidArgumentError, ModelOutputError
from genloose._validation import (
    MAX_NUM_CLASSES,
    check_choice,
    check_int,
    check_num_classes,
    check_size,
    describe,
)

__all__ = [
    "Classifier",
    "Generator",
    "as_classifier",
    "as_generator",
]

Backend = Literal["torch", "numpy"]
_BACKENDS = ("torch", "numpy")


_ISOLATED = False  # set while a whole computation already runs inside isolated_rng


@contextlib.contextmanager
def isolated_rng(device: torch.device) -> Iterator[None]:
    """Run a block without changing the global torch, numpy or Python RNG states.

    Nested uses cost nothing: inside an outer block the states are restored once, by the outer one.
    """
    global _ISOLATED
    if _ISOLATED:
        yield
        return
    numpy_state = np.random.get_state()  # noqa: NPY002 (saving the legacy global state is the point)
    python_state = random.getstate()
    devices = [device] if device.type == "cuda" else []
    try:
        _ISOLATED = True
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        _ISOLATED = False
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)


@contextlib.contextmanager
def eval_mode(fn: Any) -> Iterator[None]:
    """Put a ``torch.nn.Module`` (and its submodules) in eval mode for a block, then restore each flag."""
    if not isinstance(fn, torch.nn.Module):
        yield
        return
    flags = [(module, module.training) for module in fn.modules()]
    fn.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


def _resolve_device(device: str | torch.device | None, fn: Any, name: str) -> torch.device:
    if device is not None:
        return check_device(device)
    _check_module_tensors(fn, name)
    if isinstance(fn, torch.nn.Module):
        for tensor in fn.parameters():
            return tensor.device
        for tensor in fn.buffers():
            return tensor.device
    return torch.device("cpu")


def check_device(device: Any, name: str = "device") -> torch.device:
    """``device`` as a :class:`torch.device` that exists on this machine and holds data.

    Parameters
    ----------
    device : str or torch.device
        The device, e.g. ``"cpu"`` or ``"cuda:0"``.
    name : str
        The argument's name, for the message.

    Returns
    -------
    torch.device

    Raises
    ------
    InvalidArgumentError
        A malformed name, the meta device, or a device this machine does not have (``cuda`` without a GPU, an
        index beyond the GPUs present).
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InvalidArgumentError(
            f"{name} must be a torch device such as 'cpu' or 'cuda'; got {describe(device)}"
        ) from error
    if resolved.type == "meta":
        raise InvalidArgumentError(f"{name} must be a device that holds data, such as 'cpu' or 'cuda'; got 'meta'")
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InvalidArgumentError(
            f"{name} must be a device available on this machine; got {str(resolved)!r} ({reason})"
        ) from None
    return resolved


def _check_module_tensors(fn: Any, name: str) -> None:
    """Refuse a module whose parameters or buffers hold no data (meta device) or are not dense."""
    if not isinstance(fn, torch.nn.Module):
        return
    for kind, tensors in (("parameter", fn.named_parameters()), ("buffer", fn.named_buffers())):
        for key, tensor in tensors:
            if tensor.is_meta:
                raise InvalidArgumentError(
                    f"{name} must have its weights loaded; got {kind} {key!r} on the meta device (no data: "
                    "materialise it with module.to_empty(device=...) and load a state dict)"
                )
            if tensor.layout != torch.strided:
                raise InvalidArgumentError(
                    f"{name} must have dense parameters and buffers; got {kind} {key!r} with layout "
                    f"{str(tensor.layout).removeprefix('torch.')}"
                )


def _resolve_dtype(dtype: torch.dtype | None, fn: Any) -> torch.dtype:
    if dtype is not None:
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise InvalidArgumentError(
                f"dtype must be a floating torch dtype such as torch.float32; got {describe(dtype)}"
            )
        return dtype
    if isinstance(fn, torch.nn.Module):
        for tensor in fn.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
    return torch.float32


def _module_float_dtype(fn: Any) -> torch.dtype | None:
    """The dtype of a module's first floating parameter (None for a function or a module without one)."""
    if isinstance(fn, torch.nn.Module):
        for tensor in fn.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
    return None


def _as_numpy_input(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as the numpy array a numpy-backend model receives (bfloat16, which numpy lacks, as float32)."""
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def _call_model(
    fn: Callable[[Any], Any],
    inputs: torch.Tensor,
    *,
    name: str,
    grad: bool,
    device: torch.device,
    to_numpy: Callable[[torch.Tensor], np.ndarray] | None = None,
) -> Any:
    """``fn(inputs)`` (or ``fn(to_numpy(inputs))`` for a numpy model) with autograd on or off, the global RNG
    states and grad mode left as they were, and any exception raised inside the user's model turned into a
    :class:`ModelOutputError` naming the model.

    Inside an :func:`isolated_rng` block (a whole computation) and with the grad mode already right, no context
    manager is entered: the call costs what the model costs.
    """
    if not _ISOLATED:
        with isolated_rng(device):
            return _call_model(fn, inputs, name=name, grad=grad, device=device, to_numpy=to_numpy)
    if torch.is_grad_enabled() != grad:
        with torch.set_grad_enabled(grad):
            return _call_model(fn, inputs, name=name, grad=grad, device=device, to_numpy=to_numpy)
    try:
        return fn(inputs if to_numpy is None else to_numpy(inputs))
    except GenlooseError:
        raise
    except Exception as error:
        raise ModelOutputError(
            f"{name} raised {type(error).__name__}: {error}; {_what_was_sent(name, inputs, to_numpy)}"
            + _likely_cause(name, inputs, error)
        ) from error
    finally:
        if torch.is_grad_enabled() != grad:  # the model switched the global mode: put back the caller's
            torch.set_grad_enabled(grad)


def _what_was_sent(name: str, inputs: torch.Tensor, to_numpy: Callable[[torch.Tensor], np.ndarray] | None) -> str:
    if to_numpy is not None:
        array = to_numpy(inputs)
        return f"genloose sent the {name} a numpy array of shape {tuple(array.shape)}, dtype {array.dtype}"
    dtype = str(inputs.dtype).removeprefix("torch.")
    return f"genloose sent the {name} a tensor of shape {tuple(inputs.shape)}, dtype {dtype}, on {inputs.device}"


_MATMUL = re.compile(r"shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def _likely_cause(name: str, inputs: torch.Tensor, error: Exception) -> str:
    """A hint for the common first-call failures, recognised from the error's message (empty if none)."""
    text = str(error)
    lowered = text.lower()
    if "cuda" in lowered and ("not compiled" in lowered or "no nvidia driver" in lowered or "cuda driver" in lowered):
        return (
            ". Likely cause: the model (or part of it) asks for a CUDA device, but this torch build or machine has "
            "none: move it to the CPU (model.to('cpu')) or run where CUDA is available"
        )
    if "same device" in lowered or ("device" in lowered and "expected" in lowered and "found" in lowered):
        return (
            f". Likely cause: the {name}'s parameters are on another device than {inputs.device}: move the "
            "model (model.to(device)), or give genloose.Generator(..., device=...) the model's device"
        )
    dtype_words = ("double", "float64", "same dtype", "scalar type", "half", "bfloat16")
    if any(word in lowered for word in dtype_words) and ("dtype" in lowered or "type" in lowered):
        sent = str(inputs.dtype).removeprefix("torch.")
        if name == "classifier":
            return (
                f". Likely cause: the generator's samples are {sent} and the classifier's weights another float "
                "type (e.g. a float64 generator feeding a float32 classifier): make them agree, by converting "
                "the generator's output (e.g. .float()) or the classifier (e.g. classifier.double())"
            )
        return (
            f". Likely cause: genloose sent {sent} latents but the generator's weights are another float type: "
            "pass genloose.Generator(g, latent_dim=d, dtype=...) with the weights' dtype"
        )
    if name == "generator" and inputs.ndim == 2:
        d = inputs.shape[1]
        match = _MATMUL.search(text)
        if match and int(match.group(2)) == d:
            return (
                f". Likely cause: latent_dim={d} disagrees with the generator's first layer, which takes "
                f"{match.group(3)} features: pass latent_dim={match.group(3)}"
            )
        if re.search(r"expected .*(3|4)d.*input|4-dimensional input|3D \(unbatched\) or 4D", text, flags=re.I):
            return (
                f". Likely cause: the generator takes latents of shape (n, {d}, 1, 1), as the PyTorch DCGAN recipe "
                f"does: pass genloose.Generator(g, latent_dim={d}, latent_shape=({d}, 1, 1)) (or --latent-shape "
                f"{d},1,1 on the command line)"
            )
    if name == "classifier" and ("shape" in lowered or "size" in lowered):
        return (
            ". Likely cause: the classifier expects samples of another shape than the generator returns (see the "
            "shape above): check that the two models belong together"
        )
    return ""


def _generator_numpy_input(latents: torch.Tensor) -> np.ndarray:
    """Latents as a numpy generator receives them: float64."""
    return _as_numpy_input(latents).astype(np.float64)


def _check_latent_shape(latent_shape: Any, latent_dim: int) -> tuple[int, ...] | None:
    if latent_shape is None:
        return None
    expected = f"a sequence of positive ints whose product is latent_dim={latent_dim}, e.g. ({latent_dim}, 1, 1)"
    if isinstance(latent_shape, (str, bytes)) or not isinstance(latent_shape, (Sequence, torch.Size)):
        raise InvalidArgumentError(f"latent_shape must be {expected}; got {describe(latent_shape)}")
    shape = tuple(latent_shape)
    valid = bool(shape) and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) and s >= 1 for s in shape
    )
    if not valid or math.prod(int(s) for s in shape) != latent_dim:
        raise InvalidArgumentError(f"latent_shape must be {expected}; got {describe(latent_shape)}")
    return tuple(int(s) for s in shape)


def _check_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise InvalidArgumentError(f"{name} must be callable (a torch.nn.Module or a function); got {describe(fn)}")


def _to_tensor(output: Any, *, name: str, device: torch.device) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        if output.is_meta:
            raise ModelOutputError(
                f"{name} returned a meta-device tensor, which holds no values; got {describe(output)}"
            )
        if output.layout != torch.strided:
            raise ModelOutputError(f"{name} must return a dense (strided) tensor; got {describe(output)}")
        return output.to(device)
    if isinstance(output, np.ndarray):
        if output.dtype == object:
            raise ModelOutputError(f"{name} returned an object array; expected numbers")
        return torch.from_numpy(np.ascontiguousarray(output)).to(device)
    raise ModelOutputError(f"{name} must return a torch.Tensor or numpy.ndarray; got {type(output).__name__}")


def _first_bad_rows(values: torch.Tensor) -> tuple[int, int]:
    """(number of rows holding NaN or Inf, index of the first); one reduction when all is finite."""
    if values.numel() == 0:
        return 0, -1
    # one reduction, accumulated in at least float32 (a float16 sum of 65504 would overflow); .item() is
    # cheaper than a tensor-valued isfinite
    total = values.sum(dtype=torch.promote_types(values.dtype, torch.float32)).item()
    if cmath.isfinite(total):
        # a finite sum means every entry is finite (an overflow to inf only triggers the exact scan below)
        return 0, -1
    bad = ~torch.isfinite(values.reshape(values.shape[0], -1)).all(dim=1)
    count = int(bad.sum())
    first = int(torch.nonzero(bad)[0, 0]) if count else -1
    return count, first


RowPlace = Callable[[int], str]
"""Names row ``i`` of a batch passed to the models, for error messages."""


def _batch_row(row: int) -> str:
    return f"row {row} of the batch"


def indexed_rows(name: str, offset: int) -> RowPlace:
    """Names rows as entries ``offset, offset + 1, ...`` of an array the user knows by ``name``.

    Parameters
    ----------
    name : str
        What the user calls the array, e.g. ``"latent index"``.
    offset : int
        The index of the block's first row in that array.

    Returns
    -------
    RowPlace
        A function of a row of the block that names it in error messages.

    Examples
    --------
    >>> indexed_rows("latent index", 10)(2)
    'latent index 12'
    """
    return lambda row: f"{name} {offset + row}"


class Generator:
    """A generator g: latents (n, latent_dim) -> samples (n, ...), checked and batched.

    Parameters
    ----------
    fn : callable
        A ``torch.nn.Module`` or a function. With ``backend="torch"`` it receives a float tensor of shape
        ``(n, latent_dim)`` on ``device``; with ``backend="numpy"`` a float64 numpy array.
    latent_dim : int
        The dimension d of the latent space.
    backend : {"torch", "numpy"}
        What ``fn`` takes and returns. A numpy generator cannot be differentiated (black-box access only).
    batch_size : int, optional
        The largest batch passed to ``fn`` in one call; larger requests are split. Default: no split.
    device : str or torch.device, optional
        Where latents are sent. Default: the device of the module's parameters, else CPU.
    dtype : torch.dtype, optional
        The float dtype of the latents passed to ``fn``. Default: the module's parameter dtype, else float32.
    latent_shape : sequence of int, optional
        The shape of one latent as ``fn`` takes it, when that is not ``(latent_dim,)``: the PyTorch DCGAN
        recipe's generator takes ``(n, d, 1, 1)``, so ``latent_shape=(d, 1, 1)``. Its product must be
        ``latent_dim``. genloose still samples and measures distances in :math:`\\mathbb{R}^d`; each batch
        is reshaped to ``(n, *latent_shape)`` just before ``fn`` is called (gradients flow through).

    Raises
    ------
    InvalidArgumentError
        A bad argument, ``latent_shape`` whose product is not ``latent_dim``, or a CUDA ``device`` on a
        torch build or machine without CUDA.

    Notes
    -----
    When ``fn`` raises, genloose raises a :class:`~genloose.ModelOutputError` that adds what it sent (shape,
    dtype, device) and, for the usual first-call mistakes, the likely cause: a ``latent_dim`` that
    disagrees with the first layer, a generator that wants ``latent_shape=(d, 1, 1)``, float types that
    differ between the generator's output and the classifier's weights, a model on another device.

    Examples
    --------
    >>> import torch
    >>> g = Generator(torch.nn.Linear(2, 3), latent_dim=2)
    >>> g(torch.zeros(4, 2)).shape
    torch.Size([4, 3])

    A DCGAN-style generator, which takes latents of shape (n, d, 1, 1):

    >>> dcgan = torch.nn.ConvTranspose2d(8, 1, kernel_size=4)
    >>> Generator(dcgan, latent_dim=8, latent_shape=(8, 1, 1))(torch.zeros(5, 8)).shape
    torch.Size([5, 1, 4, 4])
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        latent_dim: int,
        backend: Backend = "torch",
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        latent_shape: Sequence[int] | None = None,
    ) -> None:
        _check_callable(fn, "generator")
        self.fn = fn
        # models are called on blocks of latents (at most 128 rows by default): a dimension no block fits is refused
        self.latent_dim = check_size(
            "latent_dim", latent_dim, min_value=1, bytes_each=8 * 128, what="a block of latents"
        )
        self.latent_shape = _check_latent_shape(latent_shape, self.latent_dim)
        self.backend = check_choice("backend", backend, _BACKENDS)
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size, min_value=1)
        self.device = _resolve_device(device, fn, "generator")
        self.dtype = _resolve_dtype(dtype, fn)

    @property
    def differentiable(self) -> bool:
        """Whether gradients can flow through this generator (torch backend)."""
        return self.backend == "torch"

    def __repr__(self) -> str:
        shape = "" if self.latent_shape is None else f", latent_shape={self.latent_shape}"
        return (
            f"Generator({getattr(self.fn, '__name__', type(self.fn).__name__)}, latent_dim="
            f"{self.latent_dim}{shape}, backend={self.backend!r}, device={str(self.device)!r})"
        )

    def __call__(self, latents: torch.Tensor, *, grad: bool = False, offset: int = 0) -> torch.Tensor:
        """Generate samples for ``latents`` (already on device and of the right dtype).

        ``offset`` is the index of the first row among the caller's points, used in error messages.
        """
        outputs = []
        step = self.batch_size or max(1, latents.shape[0])
        for start in range(0, latents.shape[0], step):
            block = latents[start : start + step]
            outputs.append(self.call_block(block, grad=grad, place=indexed_rows("latent index", offset + start)))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def call_block(
        self, latents: torch.Tensor, *, grad: bool, place: RowPlace, real: int | None = None
    ) -> torch.Tensor:
        """One call of ``fn`` on one block of latents, unsplit, with its output checked.

        This is the interface a caller that lays out its own blocks (the class-radius search's
        :class:`~genloose.metrics.radius.labeler.LatentLabeler`) uses; :meth:`__call__` splits a batch by
        ``batch_size`` and calls it per block.

        Parameters
        ----------
        latents : torch.Tensor of shape (n, latent_dim)
            On :attr:`device`, of :attr:`dtype`.
        grad : bool
            Whether autograd records the call (for a gradient with respect to ``latents``).
        place : RowPlace
            Names row ``i`` of the block in error messages (see :func:`indexed_rows`).
        real : int, optional
            Only the first ``real`` rows (default: all) are checked; the rest are padding.

        Returns
        -------
        torch.Tensor
            The samples, one per latent, on :attr:`device`.

        Raises
        ------
        ModelOutputError
            ``fn`` raised, returned the wrong number of rows, or NaN or Inf in a real row.

        Examples
        --------
        >>> import torch
        >>> g = Generator(torch.nn.Identity(), latent_dim=2)
        >>> g.call_block(torch.ones(3, 2), grad=False, place=indexed_rows("latent index", 0), real=2).shape
        torch.Size([3, 2])
        """
        n = latents.shape[0]
        real = n if real is None else real
        to_numpy = _generator_numpy_input if self.backend == "numpy" else None
        shaped = latents if self.latent_shape is None else latents.reshape(n, *self.latent_shape)
        raw = _call_model(self.fn, shaped, name="generator", grad=grad, device=self.device, to_numpy=to_numpy)
        samples = _to_tensor(raw, name="generator", device=self.device)
        if samples.ndim == 0 or samples.shape[0] != n:
            raise ModelOutputError(
                f"generator must return one sample per latent: expected first dimension {n}, got "
                f"output of shape {tuple(samples.shape)}"
            )
        if samples.is_floating_point() or samples.is_complex():
            count, first = _first_bad_rows(samples.detach()[:real])
            if count:
                raise ModelOutputError(
                    f"generator returned NaN or Inf for {count} of {real} latents (first at {place(first)})"
                )
        return samples


class Classifier:
    """A classifier c: samples -> integer labels (n,) or scores (n, K), checked and batched.

    Parameters
    ----------
    fn : callable
        A ``torch.nn.Module`` or a function returning labels or scores (logits, probabilities: any scores whose
        argmax is the class).
    num_classes : int, optional
        K. Required to validate labels returned directly; inferred from the score width otherwise.
    backend : {"torch", "numpy"}
        What ``fn`` takes and returns.
    batch_size : int, optional
        The largest batch passed to ``fn`` in one call.

    Examples
    --------
    >>> import torch
    >>> c = Classifier(lambda x: x, num_classes=3)
    >>> c.labels(torch.tensor([[0.0, 2.0, 1.0]]))
    tensor([1])
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        num_classes: int | None = None,
        backend: Backend = "torch",
        batch_size: int | None = None,
    ) -> None:
        _check_callable(fn, "classifier")
        self.fn = fn
        self.num_classes = None if num_classes is None else check_num_classes(num_classes)
        self.backend = check_choice("backend", backend, _BACKENDS)
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size, min_value=1)
        _check_module_tensors(fn, "classifier")
        # a module receives samples in its own float dtype (a bfloat16 classifier behind a float32 generator)
        self.dtype = _module_float_dtype(fn)
        self.gives_scores: bool | None = None

    def __repr__(self) -> str:
        return (
            f"Classifier({getattr(self.fn, '__name__', type(self.fn).__name__)}, num_classes="
            f"{self.num_classes}, backend={self.backend!r})"
        )

    def outputs(self, samples: torch.Tensor, *, grad: bool = False) -> torch.Tensor:
        """The checked raw output: int64 labels (n,) or float scores (n, K)."""
        chunks = []
        step = self.batch_size or max(1, samples.shape[0])
        for start in range(0, samples.shape[0], step):
            chunks.append(self.call_block(samples[start : start + step], grad=grad, place=_batch_row))
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def labels(self, samples: torch.Tensor) -> torch.Tensor:
        """Integer labels (n,) for ``samples``."""
        out = self.outputs(samples)
        return out if out.ndim == 1 else out.argmax(dim=1)

    def call_block(
        self, samples: torch.Tensor, *, grad: bool, place: RowPlace, real: int | None = None
    ) -> torch.Tensor:
        """One call of ``fn`` on one block of samples, unsplit, with its output checked.

        The interface a caller that lays out its own blocks uses (see :meth:`Generator.call_block`);
        :meth:`outputs` splits a batch by ``batch_size`` and calls it per block. The first call with scores fixes
        ``num_classes`` (when not given) and :attr:`gives_scores`.

        Parameters
        ----------
        samples : torch.Tensor
            One block of samples (as the generator returns them); cast to the module's float dtype if it has one.
        grad : bool
            Whether autograd records the call.
        place : RowPlace
            Names row ``i`` of the block in error messages.
        real : int, optional
            Only the first ``real`` rows (default: all) are checked; the rest are padding.

        Returns
        -------
        torch.Tensor
            int64 labels of shape (n,) or float scores of shape (n, K), on the samples' device.

        Raises
        ------
        ModelOutputError
            ``fn`` raised, returned a wrong shape, switched between labels and scores, labels out of range, or
            NaN or Inf scores in a real row.

        Examples
        --------
        >>> import torch
        >>> c = Classifier(lambda x: x)
        >>> c.call_block(torch.tensor([[0.0, 1.0]]), grad=False, place=lambda row: f"row {row}")
        tensor([[0., 1.]])
        """
        n = samples.shape[0]
        real = n if real is None else real
        device = samples.device
        if self.dtype is not None and samples.is_floating_point() and samples.dtype != self.dtype:
            samples = samples.to(self.dtype)
        to_numpy = _as_numpy_input if self.backend == "numpy" else None
        raw = _call_model(self.fn, samples, name="classifier", grad=grad, device=device, to_numpy=to_numpy)
        out = _to_tensor(raw, name="classifier", device=device)
        if out.ndim not in (1, 2) or out.shape[0] != n:
            raise ModelOutputError(
                f"classifier must return labels of shape ({n},) or scores of shape ({n}, K); got shape "
                f"{tuple(out.shape)}"
            )
        gives_scores = out.ndim == 2
        if self.gives_scores is not None and gives_scores != self.gives_scores:
            raise ModelOutputError("classifier switched between returning labels and scores")
        self.gives_scores = gives_scores
        if gives_scores:
            return self._check_scores(out, real, place)
        return self._check_labels(out, real)

    def _check_scores(self, scores: torch.Tensor, real: int, place: RowPlace) -> torch.Tensor:
        if not scores.is_floating_point():
            raise ModelOutputError(f"classifier scores must be floats; got dtype {scores.dtype}")
        width = scores.shape[1]
        if self.num_classes is None:
            self.num_classes = width
        elif width != self.num_classes:
            raise ModelOutputError(
                f"classifier returned scores for {width} classes; expected num_classes={self.num_classes}"
            )
        count, first = _first_bad_rows(scores.detach()[:real])
        if count:
            raise ModelOutputError(
                f"classifier returned NaN or Inf scores for {count} of {real} samples (first at {place(first)})"
            )
        return scores

    def _check_labels(self, labels: torch.Tensor, real: int) -> torch.Tensor:
        if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
            raise ModelOutputError(
                f"classifier labels must be integers; got dtype {labels.dtype} (return scores of "
                "shape (n, K) for probabilities)"
            )
        labels = labels.long()
        if real:
            low, high = int(labels[:real].min()), int(labels[:real].max())
            top = self.num_classes
            if low < 0 or high >= (top if top is not None else MAX_NUM_CLASSES):
                expected = (
                    f"[0, {top})"
                    if top is not None
                    else f"[0, {MAX_NUM_CLASSES}) (genloose counts at most 2**24 classes)"
                )
                raise ModelOutputError(f"classifier returned labels outside {expected}: min {low}, max {high}")
        return labels


def as_generator(generator: Any, *, latent_dim: int | None) -> Generator:
    """Wrap a bare module or function as a :class:`Generator` (an adapter is returned unchanged).

    Examples
    --------
    >>> import torch
    >>> as_generator(torch.nn.Identity(), latent_dim=2).latent_dim
    2
    """
    if isinstance(generator, Generator):
        if latent_dim is not None and latent_dim != generator.latent_dim:
            raise InvalidArgumentError(
                f"latent_dim must match the generator's latent_dim={generator.latent_dim}; got {latent_dim}"
            )
        return generator
    if latent_dim is None:
        raise InvalidArgumentError(
            "latent_dim must be given for a bare generator (or wrap it in genloose.Generator); got None"
        )
    return Generator(generator, latent_dim=latent_dim)


def as_classifier(classifier: Any, *, num_classes: int | None = None) -> Classifier:
    """Wrap a bare module or function as a :class:`Classifier` (an adapter is returned unchanged).

    Examples
    --------
    >>> as_classifier(lambda x: x).num_classes is None
    True
    """
    if isinstance(classifier, Classifier):
        return classifier
    return Classifier(classifier, num_classes=num_classes)
