"""What the reference models' training and bundling code shares: recipe checks, the epochs of classifier training,
eval mode for a measurement, the digits splits a family trains on, the output directory of a retrain, and the
environment a manifest records.

Private: each helper is the code its callers held before, moved here unchanged, so trained weights stay
bit-identical.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from genloose._validation import check_float, check_int, fail
from genloose.reference_models.digits import LabelledImages, load_digits_28


def check_recipe(config: Any) -> None:
    """Check the fields every classifier recipe has: epochs, batch size, learning rate, weight decay, shift, seed.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> check_recipe(SimpleNamespace(epochs=1, batch_size=8, learning_rate=1e-3, weight_decay=0.0, max_shift=2, seed=0))
    """
    check_int("epochs", config.epochs, min_value=1)
    check_int("batch_size", config.batch_size, min_value=1)
    check_float("learning_rate", config.learning_rate, min_value=0.0, min_inclusive=False)
    check_float("weight_decay", config.weight_decay, min_value=0.0)
    check_int("max_shift", config.max_shift, min_value=0, max_value=13)
    check_int("seed", config.seed, min_value=0)


def classification_epoch(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    num_batches: int,
    augment: Callable[[torch.Tensor], torch.Tensor],
    scheduler: Any = None,
) -> tuple[dict[str, float], int]:
    """One epoch of summed cross-entropy over shuffled batches: the epoch's mean loss and accuracy, and its steps.

    The batch order is drawn from ``generator`` first, then ``augment`` (which may draw from it too) is applied
    to each batch of images in turn; ``scheduler`` (if any) steps after each optimiser step.

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> images, labels = torch.zeros(4, 2), torch.tensor([0, 1, 0, 1])
    >>> record, steps = classification_epoch(
    ...     model, images, labels, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
    ...     generator=torch.Generator().manual_seed(0), num_batches=2, augment=lambda batch: batch)
    >>> steps, sorted(record)
    (2, ['accuracy', 'loss'])
    """
    count = images.shape[0]
    total_loss = 0.0
    correct = 0
    steps = 0
    order = torch.randperm(count, generator=generator)
    for batch_index in torch.tensor_split(order, num_batches):
        batch = augment(images[batch_index])
        target = labels[batch_index]
        logits = model(batch)
        loss = nn.functional.cross_entropy(logits, target, reduction="sum")
        optimizer.zero_grad(set_to_none=True)
        (loss / batch.shape[0]).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        steps += 1
        total_loss += float(loss.detach())
        correct += int((logits.detach().argmax(dim=1) == target).sum())
    return {"loss": total_loss / count, "accuracy": correct / count}, steps


def classification_training(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    progress: bool | None,
    desc: str,
    **epoch_options: Any,
) -> tuple[tuple[dict[str, float], ...], int]:
    """Train ``model`` for ``epochs`` epochs of :func:`classification_epoch` (train mode, then eval mode).

    Returns the per-epoch records (``epoch``, then the epoch's ``loss`` and ``accuracy``) and the steps taken;
    ``epoch_options`` go to :func:`classification_epoch` unchanged.

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> records, steps = classification_training(
    ...     model, torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), epochs=2, progress=False, desc="demo",
    ...     optimizer=torch.optim.SGD(model.parameters(), lr=0.1), generator=torch.Generator().manual_seed(0),
    ...     num_batches=2, augment=lambda batch: batch)
    >>> [record["epoch"] for record in records], steps, model.training
    ([1.0, 2.0], 4, False)
    """
    from genloose._progress import progress_bar

    records: list[dict[str, float]] = []
    steps = 0
    model.train()
    for epoch in progress_bar(range(epochs), progress=progress, desc=desc):
        record, epoch_steps = classification_epoch(model, images, labels, **epoch_options)
        steps += epoch_steps
        records.append({"epoch": float(epoch + 1), **record})
    model.eval()
    return tuple(records), steps


#: The share of each class in the test split of the bundled digits (load_digits_28's default).
DIGITS_TEST_FRACTION = 0.2


class DigitsSplits(NamedTuple):
    """The training and test splits a family trains and measures on, and what its manifest records about them."""

    train: LabelledImages
    test: LabelledImages
    record: dict[str, Any]


def digits_splits(seed: int) -> DigitsSplits:
    """The splits of :func:`~genloose.reference_models.digits.load_digits_28` with ``seed``, and their record.

    Examples
    --------
    >>> splits = digits_splits(0)
    >>> splits.record["train_size"] == splits.train.labels.numel(), splits.record["test_fraction"]
    (True, 0.2)
    """
    train = load_digits_28(split="train", seed=seed, test_fraction=DIGITS_TEST_FRACTION)
    test = load_digits_28(split="test", seed=seed, test_fraction=DIGITS_TEST_FRACTION)
    record = {
        "source": "sklearn.datasets.load_digits, 8x8 -> 28x28 bilinear, values / 16",
        "split_seed": seed,
        "test_fraction": DIGITS_TEST_FRACTION,
        "train_size": int(train.labels.numel()),
        "test_size": int(test.labels.numel()),
    }
    return DigitsSplits(train, test, record)


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for a block, then back in the mode it was in.

    Examples
    --------
    >>> net = nn.Linear(1, 1)
    >>> with evaluating(net):
    ...     net.training
    False
    >>> net.training
    True
    """
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def prepare_out_dir(directory: Path, filenames: Sequence[str], *, overwrite: bool, what: str) -> None:
    """Create a retrain's output directory, refusing one that holds any of ``filenames`` unless ``overwrite``.

    ``what`` names the files' owners in the message (``"members"``, ``"models"``).

    Examples
    --------
    >>> import tempfile
    >>> prepare_out_dir(Path(tempfile.mkdtemp()) / "new", ["a.safetensors"], overwrite=False, what="models")
    """
    if not isinstance(overwrite, bool):
        raise fail("overwrite", "a bool", overwrite)
    directory.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        existing = [name for name in filenames if (directory / name).exists()]
        if existing:
            raise fail(
                "out_dir",
                f"a directory without these {what}' weights (or pass overwrite=True); it already holds {existing}",
                str(directory),
            )


def training_environment() -> dict[str, str]:
    """The software and machine a manifest records its weights were trained with.

    Examples
    --------
    >>> sorted(training_environment())
    ['machine', 'numpy', 'python', 'torch']
    """
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
