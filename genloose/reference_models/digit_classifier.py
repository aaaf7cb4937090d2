"""A small CNN digit classifier: the classifier ``c`` of the VAE experiments.

It labels 1x28x28 digit images (those of :func:`~genloose.reference_models.digits.load_digits_28`,
or the decoders' outputs) with one of 10 classes and returns logits, so the class-radius search
can use its gradients (white-box access).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from genloose._errors import InvalidArgumentError
from genloose._validation import check_dense_tensor, check_int, check_progress, fail
from genloose.estimate import Estimate, normal_quantile
from genloose.reference_models._training import check_recipe, classification_training, evaluating
from genloose.reference_models.vae import IMAGE_SHAPE, TrainingLog, _isolated_init

__all__ = [
    "ClassifierConfig",
    "DigitClassifier",
    "TrainedClassifier",
    "classifier_accuracy",
    "train_digit_classifier",
]

NUM_CLASSES = 10


class DigitClassifier(nn.Module):
    """Three 3x3 convolutions (16, 32, 32 channels, each ReLU + 2x2 max-pool) and a 288-64-10 MLP.

    Maps ``(n, 1, 28, 28)`` images to ``(n, 10)`` logits. About 33,000 parameters.

    Parameters
    ----------
    seed : int or None
        Seed of the initial weights, drawn without touching torch's global RNG state; None draws
        them from the global RNG like any ``nn.Module``.

    Examples
    --------
    >>> classifier = DigitClassifier().eval()
    >>> classifier(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, *, seed: int | None = 0) -> None:
        super().__init__()
        with _isolated_init(seed):
            self._build()

    def _build(self) -> None:
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14 -> 7
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 7 -> 3
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(32 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, NUM_CLASSES))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The logits, ``(n, 10)``."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or (tuple(images.shape[1:]) != IMAGE_SHAPE):
            raise fail("images", "a tensor of shape (n, 1, 28, 28)", images)
        return self.head(self.features(images))


@dataclass(frozen=True)
class ClassifierConfig:
    """The training recipe of :func:`train_digit_classifier`.

    Attributes
    ----------
    epochs : int
        Passes over the data.
    batch_size : int
        Largest batch (epochs are split into nearly equal batches).
    learning_rate : float
        Adam's learning rate.
    weight_decay : float
        Adam's (L2) weight decay.
    max_shift : int
        Training-time augmentation: each batch is shifted by a random whole number of pixels in
        ``[-max_shift, max_shift]`` along each axis (zero-filled). 0 disables it.
    seed : int
        Seeds initial weights, batch order and augmentation.

    Examples
    --------
    >>> ClassifierConfig().epochs
    40
    """

    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    max_shift: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        check_recipe(self)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


class TrainedClassifier(NamedTuple):
    """What :func:`train_digit_classifier` returns: the model (eval mode) and its log."""

    model: DigitClassifier
    log: TrainingLog


def _shift(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate by (dy, dx) pixels, filling with zeros."""
    shifted = torch.zeros_like(images)
    height, width = images.shape[-2:]
    source_y = slice(max(0, -dy), height - max(0, dy))
    source_x = slice(max(0, -dx), width - max(0, dx))
    target_y = slice(max(0, dy), height - max(0, -dy))
    target_x = slice(max(0, dx), width - max(0, -dx))
    shifted[..., target_y, target_x] = images[..., source_y, source_x]
    return shifted


def _check_labelled(images: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if (
        not isinstance(images, torch.Tensor)
        or images.ndim != 4
        or (tuple(images.shape[1:]) != IMAGE_SHAPE)
        or not images.is_floating_point()
    ):
        raise fail("images", "a floating-point tensor of shape (n, 1, 28, 28)", images)
    check_dense_tensor("images", images)
    if images.shape[0] < 1:
        raise fail("images", "at least 1 image", images)
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],) or (labels.dtype != torch.int64):
        raise fail("labels", f"an int64 tensor of shape ({images.shape[0]},)", labels)
    check_dense_tensor("labels", labels)
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise InvalidArgumentError(
            f"labels must lie in 0..{NUM_CLASSES - 1}; got values from {int(labels.min())} to {int(labels.max())}"
        )
    return images.to(torch.float32), labels


def train_digit_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    config: ClassifierConfig | None = None,
    *,
    progress: bool | None = None,
) -> TrainedClassifier:
    """Train :class:`DigitClassifier` with cross-entropy and Adam on the CPU, reproducibly.

    Initial weights are drawn inside :func:`torch.random.fork_rng` seeded with ``config.seed``;
    batch order and shifts come from a private :class:`torch.Generator`. The global RNG state is
    left untouched.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, 1, 28, 28)`` floats.
    labels : torch.Tensor
        ``(N,)`` int64 in ``0..9``.
    config : ClassifierConfig, optional
        The recipe (default ``ClassifierConfig()``).
    progress : bool or None
        Progress bar over epochs (None: only on a terminal, honouring ``TQDM_DISABLE``).

    Returns
    -------
    TrainedClassifier
        ``model`` (eval mode) and ``log`` (per epoch: mean ``loss`` and training ``accuracy``).

    Examples
    --------
    >>> gen = torch.Generator().manual_seed(0)
    >>> images, labels = torch.rand(20, 1, 28, 28, generator=gen), torch.arange(20) % 10
    >>> trained = train_digit_classifier(images, labels, ClassifierConfig(epochs=1),
    ...                                  progress=False)
    >>> trained.model(images).shape, trained.log.steps
    (torch.Size([20, 10]), 1)
    """
    progress = check_progress(progress)
    images, labels = _check_labelled(images, labels)
    if config is None:
        config = ClassifierConfig()
    if not isinstance(config, ClassifierConfig):
        raise fail("config", "a ClassifierConfig", config)
    model = DigitClassifier(seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    num_batches = math.ceil(images.shape[0] / config.batch_size)

    def augment(batch: torch.Tensor) -> torch.Tensor:
        if not config.max_shift:
            return batch
        dy, dx = torch.randint(-config.max_shift, config.max_shift + 1, (2,), generator=generator).tolist()
        return _shift(batch, dy, dx)

    records, steps = classification_training(
        model,
        images,
        labels,
        epochs=config.epochs,
        progress=progress,
        desc="training classifier",
        optimizer=optimizer,
        generator=generator,
        num_batches=num_batches,
        augment=augment,
    )
    return TrainedClassifier(model, TrainingLog(records=records, steps=steps))


@torch.no_grad()
def classifier_accuracy(
    classifier: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 512,
    confidence: float = 0.95,
) -> Estimate:
    """Fraction of ``images`` whose arg-max logit equals the label, with a Wilson interval.

    .. math:: \\hat a = \\frac{1}{N} \\sum_i \\mathbb{1}[\\arg\\max_k c(I_i)_k = y_i]

    Parameters
    ----------
    classifier : torch.nn.Module
        Returns ``(n, 10)`` logits (it is put in eval mode for the call, then restored).
    images : torch.Tensor
        ``(N, 1, 28, 28)``.
    labels : torch.Tensor
        ``(N,)`` int64.
    batch_size : int
        Images per forward pass (does not change the result).
    confidence : float
        CI level.

    Returns
    -------
    Estimate
        ``stderr`` is the binomial ``sqrt(a(1-a)/N)``; ``[ci_low, ci_high]`` the Wilson interval.

    Examples
    --------
    >>> classifier = DigitClassifier()
    >>> images = torch.zeros(4, 1, 28, 28)
    >>> guess = int(classifier.eval()(images[:1]).argmax())
    >>> classifier_accuracy(classifier, images, torch.full((4,), guess)).value
    1.0
    """
    if not isinstance(classifier, nn.Module):
        raise fail("classifier", "a torch.nn.Module", classifier)
    images, labels = _check_labelled(images, labels)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    z = normal_quantile(confidence)
    with evaluating(classifier):
        predictions = torch.cat([classifier(chunk).argmax(dim=1) for chunk in images.split(batch_size)])
    n = labels.numel()
    accuracy = float((predictions == labels).double().mean())
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Estimate(
        value=accuracy,
        stderr=math.sqrt(accuracy * (1 - accuracy) / n),
        ci_low=max(0.0, centre - half),
        ci_high=min(1.0, centre + half),
        confidence=confidence,
        n=n,
        method="accuracy, wilson",
    )
