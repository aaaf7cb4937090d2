"""Adapters that put any generator and classifier behind one checked, counted interface.

A user hands genloose a ``torch.nn.Module``, a function on torch tensors, or (with ``backend="numpy"``) a function on
numpy arrays. :class:`Generator` and :class:`Classifier` wrap them; :class:`LatentLabeler` composes them into the
map z -> c(g(z)) that every metric queries. Each call:

* runs the user's code in eval mode and without autograd unless a gradient is asked for;
* leaves the global torch, numpy and Python RNG states as they were (the user's code may draw from them);
* checks every output: shape, finiteness, label range, and for scores a consistent number of classes;
* is counted, so that search budgets are reported in calls of c∘g.
"""

from __future__ import annotations

import cmath
import contextlib
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from genloose._errors import GenlooseError, InvalidArgumentError, ModelOutputError, NonDeterministicModelError
from genloose._validation import (
    MAX_NUM_CLASSES,
    check_choice,
    check_int,
    check_memory,
    check_num_classes,
    check_size,
    describe,
)

__all__ = [
    "Classifier",
    "Generator",
    "LatentLabeler",
    "QueryCounter",
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


def _search_row(row: int) -> str:
    return f"row {row} of a batch of search probes, not one of the sampled latents"


def _indexed(name: str, offset: int) -> RowPlace:
    """Rows that are entries ``offset, offset + 1, ...`` of an array the user knows by ``name``."""
    return lambda row: f"{name} {offset + row}"


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
        # models are called on blocks of latents (128 rows by default): a dimension no block fits is refused
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
            outputs.append(self._call_once(block, grad=grad, place=_indexed("latent index", offset + start)))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def _call_once(
        self, latents: torch.Tensor, *, grad: bool, place: RowPlace, real: int | None = None
    ) -> torch.Tensor:
        """One call of ``fn``; only the first ``real`` rows (default: all) are checked (the rest are padding)."""
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
            chunks.append(self._call_once(samples[start : start + step], grad=grad, place=_batch_row))
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def labels(self, samples: torch.Tensor) -> torch.Tensor:
        """Integer labels (n,) for ``samples``."""
        out = self.outputs(samples)
        return out if out.ndim == 1 else out.argmax(dim=1)

    def _call_once(
        self, samples: torch.Tensor, *, grad: bool, place: RowPlace, real: int | None = None
    ) -> torch.Tensor:
        """One call of ``fn``; only the first ``real`` rows (default: all) are checked (the rest are padding)."""
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
        Rows per model call. Default: the generator's ``batch_size``, else the classifier's, else 128.

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
        default = generator.batch_size or classifier.batch_size or 128
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
            return _indexed(where, offset + start)
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
            samples = self.generator._call_once(block, grad=grad, place=place, real=real)
            chunks.append(self.classifier._call_once(samples, grad=grad, place=place, real=real)[:real])
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
                samples = self.generator._call_once(chunk, grad=True, place=place, real=real)
                scores = self.classifier._call_once(samples, grad=True, place=place, real=real)
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
