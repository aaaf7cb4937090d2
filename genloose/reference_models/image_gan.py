"""Image-scale reference models: a DCGAN generator of 28x28 digits (d = 64 and d = 128) and a CNN classifier.

The VAE decoders of Section 4 have latent dimensions 2 and 10; the class radius is also meant for the
generators people actually use, with latents of dimension 64 to 512 feeding transposed convolutions. This
module ships two such generators, trained as GANs on the digits of
:func:`~genloose.reference_models.digits.load_digits_28`, and a classifier good enough to label their
samples:

==================  =================================================================================
file                model
==================  =================================================================================
``digit_cnn``       :class:`DigitCNN`, four 3x3 convolutions, >= 98% test accuracy
``dcgan_d64``       :class:`DigitDCGANGenerator` with latent dimension 64
``dcgan_d128``      :class:`DigitDCGANGenerator` with latent dimension 128
==================  =================================================================================

each as ``<name>.safetensors`` in ``genloose/reference_models/weights/``, described by
``image_manifest.json`` (the recipe, the SHA-256 of the file, the training time, the classifier's test
accuracy and the class frequencies of 10,000 generated samples). :func:`load_digit_dcgan` and
:func:`load_digit_cnn` verify each file with :data:`IMAGE_MANIFEST`, the reader and verifier all
weights families share (:class:`~genloose.reference_models.weights_io.WeightsManifest`: the manifest's
fields, the file's size and digest, the recipe in the manifest and in the file's header against the recipe
in this module, tensor names, shapes, dtype, finiteness); :func:`retrain_image_models` remakes the files and
the manifest from the recipes.

Training is seeded and CPU-deterministic: initial weights are drawn inside
:func:`torch.random.fork_rng`, batch order, augmentation and latents come from a private
:class:`torch.Generator`, and training runs with one intra-op thread, so the global RNG state is never
changed and a seed reproduces the same weights bit for bit on the same machine and torch build.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from genloose._progress import progress_bar
from genloose._validation import (
    check_choice,
    check_dense_tensor,
    check_float,
    check_int,
    check_memory,
    check_progress,
    check_size,
    fail,
)
from genloose.reference_models._training import (
    check_recipe,
    classification_training,
    digits_splits,
    prepare_out_dir,
    training_environment,
)
from genloose.reference_models.digit_classifier import (
    NUM_CLASSES,
    _check_labelled,
    _shift,
    classifier_accuracy,
)
from genloose.reference_models.digits import load_digits_28
from genloose.reference_models.gan import _one_thread
from genloose.reference_models.vae import IMAGE_SHAPE, TrainingLog, _isolated_init
from genloose.reference_models.weights_io import WeightsFileError, WeightsManifest, weights_directory

__all__ = [
    "CNN_RECIPE",
    "DCGAN_LATENT_DIMS",
    "DCGAN_RECIPE",
    "DCGAN_SEED",
    "EVAL_NUM_SAMPLES",
    "EVAL_SEED",
    "IMAGE_MANIFEST",
    "IMAGE_MANIFEST_NAME",
    "IMAGE_MODEL_NAMES",
    "DCGANConfig",
    "DigitCNN",
    "DigitCNNConfig",
    "DigitDCGANDiscriminator",
    "DigitDCGANGenerator",
    "TrainedCNN",
    "TrainedDCGAN",
    "generated_class_frequencies",
    "image_model_recipe",
    "load_digit_cnn",
    "load_digit_dcgan",
    "read_image_manifest",
    "retrain_image_models",
    "train_digit_cnn",
    "train_digit_dcgan",
]

IMAGE_MANIFEST_NAME = "image_manifest.json"
"""File name of the manifest beside the weights."""

IMAGE_MODEL_NAMES = ("digit_cnn", "dcgan_d64", "dcgan_d128")
"""The bundled models, in training order (the classifier first: it measures the generators)."""

DCGAN_LATENT_DIMS = (64, 128)
"""The latent dimensions of the bundled generators."""

EVAL_SEED = 2018
"""Seed of the latents on which the manifest's class frequencies are measured."""

EVAL_NUM_SAMPLES = 10_000
"""Number of generated samples behind the manifest's class frequencies."""

DCGAN_SEED = 0
"""Training seed of both bundled generators."""

_MANIFEST_FORMAT = "genloose-image-models-1"
_DATA_SEED = 0

IMAGE_MANIFEST = WeightsManifest(
    file_name=IMAGE_MANIFEST_NAME,
    format=_MANIFEST_FORMAT,
    header_field="genloose_image_recipe",
    hint="retrain it with genloose.reference_models.image_gan.retrain_image_models(out_dir, names=[...])",
    floating_only=True,  # BatchNorm's integer num_batches_tracked counters are not used in eval mode
)
"""Where the image models keep what in their manifest (read and verified by :class:`WeightsManifest`)."""
_PROJECTION_CHANNELS = 16  # generator feature map after the linear layer: 16 x 7 x 7
_UPSAMPLE_CHANNELS = 64  # after the first transposed convolution: 64 x 14 x 14
_INIT_STD = 0.02  # DCGAN initialisation N(0, 0.02) (Radford et al., 2016)
_RECALIBRATION_BATCHES = 100


def _dcgan_init_(module: nn.Module) -> None:
    """DCGAN initialisation from the global RNG (call inside :func:`_isolated_init`)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, _INIT_STD)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, _INIT_STD)
            nn.init.zeros_(layer.bias)


def _float_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the floating-point tensors of a state dict (BatchNorm's integer
    ``num_batches_tracked`` counters are left out: they are not used with a fixed momentum or in eval mode)."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items() if value.is_floating_point()}


class DigitDCGANGenerator(nn.Module):
    """A DCGAN generator of 28x28 digits: ``R^d -> [0, 1]^(1 x 28 x 28)``.

    A linear layer maps the latent to a 16x7x7 feature map, then batch norm and ReLU, a transposed
    convolution to 64x14x14 (kernel 4, stride 2, padding 1), batch norm and ReLU, and a transposed
    convolution to 1x28x28 with a sigmoid, so images lie in ``[0, 1]`` like those of
    :func:`~genloose.reference_models.digits.load_digits_28`. Weights are initialised as in DCGAN
    (normal with standard deviation 0.02; batch-norm scales around 1). ``784 d + 17,569``
    parameters: 67,745 for ``d = 64``, 117,921 for ``d = 128``.

    Use it in eval mode (:meth:`~torch.nn.Module.eval`, as the loaders return it): batch norm then
    applies its stored statistics, so each image depends on its own latent only and not on the
    batch it is in.

    Parameters
    ----------
    latent_dim : int
        Latent dimension ``d`` (>= 1).
    seed : int or None
        Seed of the initial weights, drawn without touching torch's global RNG state; None draws
        them from the global RNG like any ``nn.Module``.

    Examples
    --------
    >>> generator = DigitDCGANGenerator(64).eval()
    >>> images = generator(torch.zeros(2, 64))
    >>> images.shape, bool(images.min() >= 0.0), bool(images.max() <= 1.0)
    (torch.Size([2, 1, 28, 28]), True, True)
    """

    def __init__(self, latent_dim: int, *, seed: int | None = 0) -> None:
        super().__init__()
        self.latent_dim = check_size(
            "latent_dim", latent_dim, min_value=1, bytes_each=4 * 6272, what="the first layer's weights"
        )
        with _isolated_init(seed):
            self.project = nn.Linear(self.latent_dim, _PROJECTION_CHANNELS * 7 * 7, bias=False)
            self.upsample = nn.Sequential(
                nn.BatchNorm2d(_PROJECTION_CHANNELS),
                nn.ReLU(),
                nn.ConvTranspose2d(_PROJECTION_CHANNELS, _UPSAMPLE_CHANNELS, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(_UPSAMPLE_CHANNELS),  # 14 x 14
                nn.ReLU(),
                nn.ConvTranspose2d(_UPSAMPLE_CHANNELS, 1, 4, stride=2, padding=1),  # 28 x 28
                nn.Sigmoid(),
            )
            _dcgan_init_(self)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """The images, ``(n, 1, 28, 28)`` in ``[0, 1]``."""
        if (
            not isinstance(latents, torch.Tensor)
            or latents.ndim != 2
            or latents.shape[1] != self.latent_dim
            or not latents.is_floating_point()
        ):
            raise fail("latents", f"a floating-point tensor of shape (n, {self.latent_dim})", latents)
        features = self.project(latents).view(latents.shape[0], _PROJECTION_CHANNELS, 7, 7)
        return self.upsample(features)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The tensors a weights file of this generator holds, with their shapes.

        Examples
        --------
        >>> DigitDCGANGenerator(64).expected_shapes()["project.weight"]
        (784, 64)
        """
        return _float_shapes(self)


class DigitDCGANDiscriminator(nn.Module):
    """The DCGAN discriminator of :func:`train_digit_dcgan` (used in training only; not bundled).

    Two strided 4x4 convolutions, ``1 -> width`` (28 -> 14, LeakyReLU 0.2) and ``width -> 2 width``
    (14 -> 7, batch norm, LeakyReLU 0.2), and a linear layer to one logit.

    Parameters
    ----------
    width : int
        Channels of the first convolution (>= 1).
    seed : int or None
        Seed of the initial weights (see :class:`DigitDCGANGenerator`).

    Examples
    --------
    >>> DigitDCGANDiscriminator(8)(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3])
    """

    def __init__(self, width: int = 32, *, seed: int | None = 0) -> None:
        super().__init__()
        width = check_int("width", width, min_value=1)
        with _isolated_init(seed):
            self.features = nn.Sequential(
                nn.Conv2d(1, width, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(2 * width),
                nn.LeakyReLU(0.2),
                nn.Flatten(),
            )
            self.head = nn.Linear(2 * width * 7 * 7, 1)
            _dcgan_init_(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The logits, ``(n,)`` (positive: "real")."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
            raise fail("images", "a tensor of shape (n, 1, 28, 28)", images)
        return self.head(self.features(images)).squeeze(1)


class DigitCNN(nn.Module):
    """A CNN digit classifier: two blocks of two 3x3 convolutions (32 and 64 channels) and a linear layer.

    ``conv 1->32, ReLU, conv 32->32, ReLU, max-pool 2`` (28 -> 14), ``conv 32->64, ReLU,
    conv 64->64, ReLU, max-pool 2`` (14 -> 7), then dropout (training only) and a linear layer
    ``64*7*7 -> 10``. Maps ``(n, 1, 28, 28)`` images in ``[0, 1]`` to ``(n, 10)`` logits. About
    96,000 parameters. No batch norm, so in eval mode the logits of an image do not depend on the
    rest of its batch.

    Parameters
    ----------
    dropout : float
        Dropout probability before the linear layer in training mode, in ``[0, 1)``.
    seed : int or None
        Seed of the initial weights (PyTorch's default initialisation), drawn without touching the
        global RNG state; None draws them from the global RNG.

    Examples
    --------
    >>> DigitCNN().eval()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, *, dropout: float = 0.3, seed: int | None = 0) -> None:
        super().__init__()
        self.dropout = check_float("dropout", dropout, min_value=0.0, max_value=1.0, max_inclusive=False)
        with _isolated_init(seed):
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # 28 -> 14
                nn.Conv2d(32, 64, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # 14 -> 7
                nn.Flatten(),
            )
            self.head = nn.Linear(64 * 7 * 7, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The logits, ``(n, 10)``."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
            raise fail("images", "a tensor of shape (n, 1, 28, 28)", images)
        features = nn.functional.dropout(self.features(images), p=self.dropout, training=self.training)
        return self.head(features)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The tensors a weights file of this classifier holds, with their shapes.

        Examples
        --------
        >>> DigitCNN().expected_shapes()["head.weight"]
        (10, 3136)
        """
        return _float_shapes(self)


def _shift_each(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own random whole number of pixels in ``[-max_shift, max_shift]``
    along each axis (zero-filled)."""
    if max_shift == 0:
        return images
    offsets = torch.randint(-max_shift, max_shift + 1, (images.shape[0], 2), generator=generator)
    shifted = torch.empty_like(images)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            members = (offsets[:, 0] == dy) & (offsets[:, 1] == dx)
            if bool(members.any()):
                shifted[members] = _shift(images[members], dy, dx)
    return shifted


@dataclass(frozen=True)
class DigitCNNConfig:
    """The training recipe of :func:`train_digit_cnn`.

    Attributes
    ----------
    epochs : int
        Passes over the data.
    batch_size : int
        Largest batch (epochs are split into nearly equal batches).
    learning_rate : float
        Peak learning rate of AdamW, decayed to 0 along a cosine over all steps.
    weight_decay : float
        AdamW's decoupled weight decay.
    max_shift : int
        Augmentation: each image is shifted by its own random whole number of pixels in
        ``[-max_shift, max_shift]`` along each axis (zero-filled). 0 disables it.
    dropout : float
        Dropout probability before the linear layer, in ``[0, 1)``.
    seed : int
        Seeds initial weights, batch order, augmentation and dropout.

    Examples
    --------
    >>> DigitCNNConfig().max_shift
    2
    """

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_shift: int = 2
    dropout: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        check_recipe(self)
        check_float("dropout", self.dropout, min_value=0.0, max_value=1.0, max_inclusive=False)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


class TrainedCNN(NamedTuple):
    """What :func:`train_digit_cnn` returns: the model (eval mode) and its per-epoch log."""

    model: DigitCNN
    log: TrainingLog


def train_digit_cnn(
    images: torch.Tensor,
    labels: torch.Tensor,
    config: DigitCNNConfig | None = None,
    *,
    progress: bool | None = None,
) -> TrainedCNN:
    """Train :class:`DigitCNN` with cross-entropy, AdamW and a cosine schedule, on the CPU, reproducibly.

    Each batch is augmented with independent random shifts of up to ``config.max_shift`` pixels per
    image. Initial weights are drawn inside :func:`torch.random.fork_rng` seeded with
    ``config.seed``; batch order, shifts and dropout masks come from a private
    :class:`torch.Generator` (dropout through a forked global RNG seeded from it). Training uses one
    intra-op thread. The global RNG state is left untouched.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, 1, 28, 28)`` floats in ``[0, 1]``.
    labels : torch.Tensor
        ``(N,)`` int64 in ``0..9``.
    config : DigitCNNConfig, optional
        The recipe (default ``DigitCNNConfig()``, the bundled classifier's).
    progress : bool or None
        Progress bar over epochs (None: only on a terminal, honouring ``TQDM_DISABLE``).

    Returns
    -------
    TrainedCNN
        ``model`` (eval mode) and ``log`` (per epoch: mean ``loss`` and training ``accuracy`` on
        the augmented batches).

    Examples
    --------
    >>> gen = torch.Generator().manual_seed(0)
    >>> images, labels = torch.rand(20, 1, 28, 28, generator=gen), torch.arange(20) % 10
    >>> trained = train_digit_cnn(images, labels, DigitCNNConfig(epochs=1), progress=False)
    >>> trained.model(images).shape, trained.log.steps
    (torch.Size([20, 10]), 1)
    """
    progress = check_progress(progress)
    images, labels = _check_labelled(images, labels)
    if config is None:
        config = DigitCNNConfig()
    if not isinstance(config, DigitCNNConfig):
        raise fail("config", "a DigitCNNConfig", config)
    model = DigitCNN(dropout=config.dropout, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    count = images.shape[0]
    num_batches = math.ceil(count / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * num_batches)
    dropout_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with _one_thread(), torch.enable_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(dropout_seed)  # dropout draws from the (forked) global RNG
        records, steps = classification_training(
            model,
            images,
            labels,
            epochs=config.epochs,
            progress=progress,
            desc="training digit CNN",
            optimizer=optimizer,
            generator=generator,
            num_batches=num_batches,
            augment=lambda batch: _shift_each(batch, config.max_shift, generator),
            scheduler=scheduler,
        )
    return TrainedCNN(model, TrainingLog(records=records, steps=steps))


@dataclass(frozen=True)
class DCGANConfig:
    """The training recipe of :func:`train_digit_dcgan` (everything but the latent dimension and seed).

    Attributes
    ----------
    epochs : int
        Passes over the data; each is ``N // batch_size`` steps (the last, incomplete batch of a
        shuffled epoch is dropped so that batch norm always sees full batches).
    batch_size : int
        Real and generated images per step.
    learning_rate : float
        Adam's learning rate, for the generator and the discriminator.
    beta1, beta2 : float
        Adam's moment decay rates (DCGAN: 0.5 and 0.999).
    loss : {"non-saturating", "hinge"}
        ``"non-saturating"``: the discriminator minimises the cross-entropy of real against
        generated images and the generator ``-log D(G(z))``; ``"hinge"``: the discriminator
        minimises ``E relu(1 - D(x)) + E relu(1 + D(G(z)))`` and the generator ``-E D(G(z))``.
    max_shift : int
        Augmentation of the real images: each is shifted by its own random whole number of pixels
        in ``[-max_shift, max_shift]`` along each axis (zero-filled). 0 disables it.
    augment_generated : bool
        Shift the generated images too, in the same way and differentiably, before the
        discriminator sees them (DiffAugment, Zhao et al., 2020): the discriminator then cannot
        tell real from generated by the augmentation, and overfits the small training set less.
    d_width : int
        Channels of the discriminator's first convolution (:class:`DigitDCGANDiscriminator`).

    Examples
    --------
    >>> DCGANConfig().loss
    'non-saturating'
    """

    epochs: int = 250
    batch_size: int = 64
    learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    loss: Literal["non-saturating", "hinge"] = "non-saturating"
    max_shift: int = 2
    augment_generated: bool = True
    d_width: int = 32

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, min_value=1)
        check_int("batch_size", self.batch_size, min_value=2)
        check_float("learning_rate", self.learning_rate, min_value=0.0, min_inclusive=False)
        check_float("beta1", self.beta1, min_value=0.0, max_value=1.0, max_inclusive=False)
        check_float("beta2", self.beta2, min_value=0.0, max_value=1.0, max_inclusive=False)
        check_choice("loss", self.loss, ("non-saturating", "hinge"))
        check_int("max_shift", self.max_shift, min_value=0, max_value=13)
        if not isinstance(self.augment_generated, bool):
            raise fail("augment_generated", "a bool", self.augment_generated)
        check_int("d_width", self.d_width, min_value=1)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


class TrainedDCGAN(NamedTuple):
    """What :func:`train_digit_dcgan` returns.

    Attributes
    ----------
    generator : DigitDCGANGenerator
        In eval mode, with recalibrated batch-norm statistics.
    discriminator : DigitDCGANDiscriminator
        In eval mode.
    log : TrainingLog
        Per epoch: mean ``d_loss``, ``g_loss`` and ``d_real`` (the discriminator's mean probability
        that a real batch is real).
    """

    generator: DigitDCGANGenerator
    discriminator: DigitDCGANDiscriminator
    log: TrainingLog


def _discriminator_loss(loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if loss == "hinge":
        return torch.relu(1.0 - real_logits).mean() + torch.relu(1.0 + fake_logits).mean()
    softplus = nn.functional.softplus  # -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def _generator_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if loss == "hinge":
        return -fake_logits.mean()
    return nn.functional.softplus(-fake_logits).mean()  # -log sigmoid(D(G(z))), non-saturating


@torch.no_grad()
def _recalibrate_batch_norm(
    generator: DigitDCGANGenerator, rng: torch.Generator, batch_size: int, batches: int
) -> None:
    """Replace the generator's running batch-norm statistics by their average over ``batches`` fresh
    batches of latents (the exponential moving average of training lags behind the last weights)."""
    norms = [layer for layer in generator.modules() if isinstance(layer, nn.BatchNorm2d)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average
    generator.train()
    for _ in range(batches):
        generator(torch.randn(batch_size, generator.latent_dim, generator=rng))
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
        layer.num_batches_tracked.zero_()
    generator.eval()


def train_digit_dcgan(
    latent_dim: int,
    *,
    seed: int = 0,
    config: DCGANConfig | None = None,
    images: torch.Tensor | None = None,
    progress: bool | None = None,
) -> TrainedDCGAN:
    """Train a :class:`DigitDCGANGenerator` as a GAN on the digits, on the CPU, reproducibly.

    The recipe is DCGAN's (Radford et al., 2016): a discriminator of strided convolutions with
    LeakyReLU (:class:`DigitDCGANDiscriminator`), batch norm in both networks, weights initialised
    from ``N(0, 0.02)``, and Adam for both with learning rate ``2e-4`` and betas ``(0.5, 0.999)``.
    Each step draws a batch of real images (shuffled epochs, each image shifted at random by up to
    ``config.max_shift`` pixels) and a batch of latents ``z ~ N(0, I_d)``, takes one discriminator
    step on the real and the generated batch, then one generator step on the same latents. After
    the last step the generator's batch-norm statistics are recomputed over 100 batches of fresh
    latents, so that eval mode reproduces the distribution the generator was trained to produce.

    Initial weights are drawn inside :func:`torch.random.fork_rng` seeded with ``seed`` (the
    generator's first, so they equal ``DigitDCGANGenerator(latent_dim, seed=seed)``); batch order,
    shifts and latents come from ``torch.Generator().manual_seed(seed)``. Training runs with one
    intra-op thread. The global RNG state is left untouched.

    Parameters
    ----------
    latent_dim : int
        Latent dimension ``d`` (>= 1).
    seed : int
        Training seed (>= 0).
    config : DCGANConfig, optional
        The recipe (default ``DCGANConfig()``, the bundled generators').
    images : torch.Tensor, optional
        ``(N, 1, 28, 28)`` training images in ``[0, 1]``, ``N >= config.batch_size``; default: the
        training split of :func:`~genloose.reference_models.digits.load_digits_28` (1,438 images).
    progress : bool or None
        Progress bar over epochs (None: only on a terminal, honouring ``TQDM_DISABLE``).

    Returns
    -------
    TrainedDCGAN
        The generator and discriminator (eval mode) and the per-epoch log.

    Examples
    --------
    >>> images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> trained = train_digit_dcgan(8, config=DCGANConfig(epochs=1, batch_size=8), images=images,
    ...                             progress=False)
    >>> trained.generator(torch.zeros(1, 8)).shape, trained.log.steps
    (torch.Size([1, 1, 28, 28]), 2)
    """
    progress = check_progress(progress)
    latent_dim = check_size(
        "latent_dim", latent_dim, min_value=1, bytes_each=4 * 6272, what="the first layer's weights"
    )
    seed = check_int("seed", seed, min_value=0)
    if config is None:
        config = DCGANConfig()
    if not isinstance(config, DCGANConfig):
        raise fail("config", "a DCGANConfig", config)
    if images is None:
        images = load_digits_28(split="train", seed=_DATA_SEED).images
    if (
        not isinstance(images, torch.Tensor)
        or images.ndim != 4
        or tuple(images.shape[1:]) != IMAGE_SHAPE
        or not images.is_floating_point()
    ):
        raise fail("images", "a floating-point tensor of shape (N, 1, 28, 28)", images)
    check_dense_tensor("images", images)
    if images.shape[0] < config.batch_size:
        raise fail("images", f"at least config.batch_size = {config.batch_size} images", images)
    images = images.to(torch.float32)
    with _isolated_init(seed):
        generator = DigitDCGANGenerator(latent_dim, seed=None)
        discriminator = DigitDCGANDiscriminator(config.d_width, seed=None)
    rng = torch.Generator().manual_seed(seed)
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.learning_rate, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.learning_rate, betas=betas)
    count = images.shape[0]
    batches_per_epoch = count // config.batch_size
    records: list[dict[str, float]] = []
    steps = 0
    with _one_thread(), torch.enable_grad():
        generator.train()
        discriminator.train()
        for epoch in progress_bar(range(config.epochs), progress=progress, desc=f"training DCGAN d={latent_dim}"):
            totals = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0}
            order = torch.randperm(count, generator=rng)
            for batch in range(batches_per_epoch):
                index = order[batch * config.batch_size : (batch + 1) * config.batch_size]
                real = _shift_each(images[index], config.max_shift, rng)
                latents = torch.randn(config.batch_size, latent_dim, generator=rng)
                fake = generator(latents)
                if config.augment_generated:
                    fake = _shift_each(fake, config.max_shift, rng)
                real_logits = discriminator(real)
                d_loss = _discriminator_loss(config.loss, real_logits, discriminator(fake.detach()))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                g_loss = _generator_loss(config.loss, discriminator(fake))
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                steps += 1
                totals["d_loss"] += float(d_loss.detach())
                totals["g_loss"] += float(g_loss.detach())
                totals["d_real"] += float(torch.sigmoid(real_logits.detach()).mean())
            records.append(
                {"epoch": float(epoch + 1), **{key: value / batches_per_epoch for key, value in totals.items()}}
            )
        _recalibrate_batch_norm(generator, rng, config.batch_size, _RECALIBRATION_BATCHES)
    discriminator.eval()
    return TrainedDCGAN(generator, discriminator, TrainingLog(records=tuple(records), steps=steps))


@torch.no_grad()
def generated_class_frequencies(
    generator: nn.Module,
    classifier: nn.Module,
    *,
    num_samples: int = EVAL_NUM_SAMPLES,
    seed: int = EVAL_SEED,
    latent_dim: int | None = None,
    batch_size: int = 1000,
) -> np.ndarray:
    """Fraction of generated images that the classifier puts in each of the 10 classes.

    The latents are ``torch.randn(num_samples, latent_dim, generator=torch.Generator().manual_seed(seed))``,
    drawn a few batches at a time (the same values, bit for bit) so that memory for them is
    O(``batch_size`` · ``latent_dim``) and only their int64 labels are kept; both modules run in eval mode
    (restored afterwards) with one intra-op thread.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps ``(m, latent_dim)`` latents to ``(m, 1, 28, 28)`` images.
    classifier : torch.nn.Module
        Maps images to ``(m, 10)`` logits.
    num_samples : int
        Images generated (>= 1).
    seed : int
        Seed of the latents.
    latent_dim : int, optional
        Latent dimension; default ``generator.latent_dim``.
    batch_size : int
        Latents per forward pass (does not change the result).

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(10,)`` summing to 1.

    Examples
    --------
    >>> frequencies = generated_class_frequencies(load_digit_dcgan(64), load_digit_cnn(), num_samples=200)
    >>> frequencies.shape, round(float(frequencies.sum()), 6)
    ((10,), 1.0)
    """
    for name, module in (("generator", generator), ("classifier", classifier)):
        if not isinstance(module, nn.Module):
            raise fail(name, "a torch.nn.Module", module)
    num_samples = check_size("num_samples", num_samples, min_value=1, bytes_each=8, what="the int64 labels")
    seed = check_int("seed", seed, min_value=0)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    if latent_dim is None:
        latent_dim = getattr(generator, "latent_dim", None)
        if latent_dim is None:
            raise fail("latent_dim", "an integer >= 1 (the generator has no latent_dim attribute)", latent_dim)
    latent_dim = check_int("latent_dim", latent_dim, min_value=1)
    rows = min(num_samples, 16 * batch_size + 15)  # the most rows drawn at once (see _streamed_randn)
    check_memory("latent_dim", latent_dim, 4 * rows * latent_dim, f"{rows} latents of dimension {latent_dim}")
    labels = np.empty(num_samples, dtype=np.int64)
    start = 0
    modes = (generator.training, classifier.training)
    generator.eval()
    classifier.eval()
    try:
        with _one_thread():
            for latents in _streamed_randn(num_samples, latent_dim, seed, batch_size):
                for chunk in latents.split(batch_size):
                    labels[start : start + chunk.shape[0]] = classifier(generator(chunk)).argmax(dim=1).numpy()
                    start += chunk.shape[0]
    finally:
        generator.train(modes[0])
        classifier.train(modes[1])
    return np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64) / num_samples


def _streamed_randn(num_samples: int, latent_dim: int, seed: int, rows: int) -> Iterator[torch.Tensor]:
    """``torch.randn(num_samples, latent_dim, generator=torch.Generator().manual_seed(seed))``, in consecutive parts.

    Each part but the last is a whole number of ``rows`` (so model batches fall where they fall in the whole
    array) and of 16 entries; the last holds at least 16 entries (or is the whole draw). torch's CPU normal
    sampler draws one uniform per entry and transforms them 16 at a time, redrawing the last 16 when the count
    is not a multiple of 16, so such parts are bit-for-bit the rows of the one whole draw
    (``tests/reference_models/test_image_gan.py::test_streamed_latents_are_the_whole_draw``), in O(rows·d) memory.
    """
    span = math.lcm(rows, 16 // math.gcd(16, latent_dim))
    rng = torch.Generator().manual_seed(seed)
    start = 0
    while start < num_samples:
        stop = min(num_samples, start + span)
        if (num_samples - stop) * latent_dim < 16:  # a tail under 16 entries is drawn with this part
            stop = num_samples
        yield torch.randn(stop - start, latent_dim, generator=rng)
        start = stop


# ------------------------------------------------------------------------------------------------------------
# The bundle: recipes, manifest, loading and retraining

CNN_RECIPE = DigitCNNConfig(epochs=30, batch_size=64, learning_rate=1e-3, weight_decay=1e-4, max_shift=2, dropout=0.3)
"""The recipe of the bundled :class:`DigitCNN` (seed 0)."""

DCGAN_RECIPE = DCGANConfig(
    epochs=250,
    batch_size=64,
    learning_rate=2e-4,
    beta1=0.5,
    beta2=0.999,
    loss="non-saturating",
    max_shift=2,
    augment_generated=True,
    d_width=32,
)
"""The recipe of both bundled generators (with seed :data:`DCGAN_SEED`)."""


def _dcgan_name(latent_dim: Any) -> str:
    latent_dim = check_int("latent_dim", latent_dim)
    if latent_dim not in DCGAN_LATENT_DIMS:
        raise fail("latent_dim", "64 or 128 (the bundled latent dimensions)", latent_dim)
    return f"dcgan_d{latent_dim}"


def image_model_recipe(name: str) -> dict[str, Any]:
    """The recipe of a bundled image model, as recorded in the manifest.

    Parameters
    ----------
    name : {"digit_cnn", "dcgan_d64", "dcgan_d128"}
        The model.

    Returns
    -------
    dict
        ``model`` (the class name), the training ``config``, ``fixed`` (the settings the code
        fixes: architecture, initialisation, optimiser, data) and, for the generators,
        ``latent_dim`` and ``seed``.

    Examples
    --------
    >>> recipe = image_model_recipe("dcgan_d64")
    >>> recipe["latent_dim"], recipe["config"]["learning_rate"], recipe["config"]["beta1"]
    (64, 0.0002, 0.5)
    """
    name = check_choice("name", name, IMAGE_MODEL_NAMES)
    data = f"load_digits_28(split='train', seed={_DATA_SEED}): 1,438 images"
    if name == "digit_cnn":
        fixed = {
            "architecture": "conv 1-32-32, max-pool, conv 32-64-64, max-pool (3x3, padding 1, ReLU), dropout, "
            "linear 3136-10",
            "initialisation": "PyTorch default",
            "optimiser": "AdamW, cosine annealing of the learning rate to 0 over all steps",
            "loss": "cross-entropy",
            "data": data,
            "torch_num_threads": 1,
        }
        return {"model": "DigitCNN", "config": CNN_RECIPE.to_dict(), "fixed": fixed}
    fixed = {
        "generator": f"linear d-{_PROJECTION_CHANNELS}x7x7 (no bias), BN, ReLU, convT {_PROJECTION_CHANNELS}-"
        f"{_UPSAMPLE_CHANNELS} (4, 2, 1; no bias), BN, ReLU, convT {_UPSAMPLE_CHANNELS}-1 (4, 2, 1), sigmoid",
        "discriminator": "conv 1-w (4, 2, 1), LeakyReLU 0.2, conv w-2w (4, 2, 1; no bias), BN, LeakyReLU 0.2, "
        "linear 2w*7*7-1 (w = d_width)",
        "initialisation": f"weights N(0, {_INIT_STD}), biases 0, batch-norm scales N(1, {_INIT_STD})",
        "optimiser": "Adam for both networks; one discriminator step, then one generator step on the same latents",
        "batch_norm_recalibration_batches": _RECALIBRATION_BATCHES,
        "data": data,
        "torch_num_threads": 1,
    }
    return {
        "model": "DigitDCGANGenerator",
        "latent_dim": int(name.removeprefix("dcgan_d")),
        "seed": DCGAN_SEED,
        "config": DCGAN_RECIPE.to_dict(),
        "fixed": fixed,
    }


def read_image_manifest(weights_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The manifest of the image models in a weights directory (the bundled one by default).

    Parameters
    ----------
    weights_dir : str or os.PathLike, optional
        A directory written by :func:`retrain_image_models`.

    Returns
    -------
    dict
        ``models`` maps each name to its ``file``, ``sha256``, ``bytes``, ``recipe``,
        ``training_seconds`` and ``metrics``; ``environment`` and ``evaluation`` say how it was made.

    Raises
    ------
    WeightsFileError
        If the manifest is missing or not a valid manifest.

    Examples
    --------
    >>> sorted(read_image_manifest()["models"]) == sorted(IMAGE_MODEL_NAMES)
    True
    """
    return IMAGE_MANIFEST.read(weights_directory(weights_dir))


def _load_into(model: nn.Module, name: str, weights_dir: Any) -> nn.Module:
    """Fill ``model`` from its file in ``weights_dir``, verified by :data:`IMAGE_MANIFEST`; eval mode, parameters
    frozen (gradients with respect to the input still flow)."""
    IMAGE_MANIFEST.load_into(model, weights_directory(weights_dir), name, image_model_recipe(name))
    return model.requires_grad_(False)


def load_digit_dcgan(latent_dim: int, *, weights_dir: str | os.PathLike[str] | None = None) -> DigitDCGANGenerator:
    """A bundled DCGAN generator of digits, in eval mode with frozen parameters.

    Parameters
    ----------
    latent_dim : {64, 128}
        Latent dimension.
    weights_dir : str or os.PathLike, optional
        Directory written by :func:`retrain_image_models`; the bundled weights by default.

    Returns
    -------
    DigitDCGANGenerator
        Maps ``(n, latent_dim)`` latents to ``(n, 1, 28, 28)`` images in ``[0, 1]``. Its parameters
        have ``requires_grad=False``; gradients with respect to the latents still flow.

    Raises
    ------
    InvalidArgumentError
        If ``latent_dim`` is not 64 or 128.
    WeightsFileError
        If the manifest or the file is missing, the file's SHA-256 differs from the manifest's, the
        manifest's recipe differs from the code's, or the tensors do not match the architecture.

    Examples
    --------
    >>> generator = load_digit_dcgan(128)
    >>> generator(torch.zeros(3, 128)).shape
    torch.Size([3, 1, 28, 28])
    """
    name = _dcgan_name(latent_dim)
    model = DigitDCGANGenerator(int(latent_dim), seed=0)  # seeded: building leaves the global RNG alone
    return _load_into(model, name, weights_dir)  # type: ignore[return-value]


def load_digit_cnn(*, weights_dir: str | os.PathLike[str] | None = None) -> DigitCNN:
    """The bundled CNN digit classifier (logits ``(n, 10)``), in eval mode with frozen parameters.

    Parameters
    ----------
    weights_dir : str or os.PathLike, optional
        Directory written by :func:`retrain_image_models`; the bundled weights by default.

    Returns
    -------
    DigitCNN

    Raises
    ------
    WeightsFileError
        If the manifest or the file is missing, corrupt, stale or does not match the architecture.

    Examples
    --------
    >>> classifier = load_digit_cnn()
    >>> classifier(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 10])
    """
    model = DigitCNN(dropout=CNN_RECIPE.dropout, seed=0)
    return _load_into(model, "digit_cnn", weights_dir)  # type: ignore[return-value]


def _check_names(names: Any) -> list[str]:
    if names is None:
        return list(IMAGE_MODEL_NAMES)
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise fail("names", f"a non-empty list of model names ({', '.join(IMAGE_MODEL_NAMES)}) or None", names)
    chosen = {check_choice("name", name, IMAGE_MODEL_NAMES) for name in names}
    return [name for name in IMAGE_MODEL_NAMES if name in chosen]


def retrain_image_models(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    names: Iterable[str] | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train the image models from their recipes and write weights and manifest into ``out_dir``.

    The classifier is trained first with :func:`train_digit_cnn` and :data:`CNN_RECIPE` on the
    training split of :func:`~genloose.reference_models.digits.load_digits_28`, and its accuracy
    is measured on the test split. Each generator is trained with :func:`train_digit_dcgan`,
    :data:`DCGAN_RECIPE` and seed :data:`DCGAN_SEED`, and measured with
    :func:`generated_class_frequencies` (:data:`EVAL_NUM_SAMPLES` latents, seed :data:`EVAL_SEED`)
    under the classifier of ``out_dir``. This is how the bundled files were made; the three models
    take about 25 minutes on one CPU core. When ``names`` selects a subset, the manifest keeps the
    other entries, and the generators are measured with the classifier already in ``out_dir``.

    Parameters
    ----------
    out_dir : str or os.PathLike, optional
        Destination directory (created if needed); the package's bundled weights by default, which
        then needs ``overwrite=True``.
    names : list of str, optional
        Models to retrain, among :data:`IMAGE_MODEL_NAMES` (all by default).
    overwrite : bool
        Replace existing weight files; otherwise an existing file is an
        :class:`~genloose.InvalidArgumentError`, raised before any training.
    progress : bool or None
        Progress bars.

    Returns
    -------
    dict
        The manifest written.

    Notes
    -----
    On the same machine and torch build the weights are bit-identical from run to run; across CPUs
    floating-point results can differ in the last bits and GAN training amplifies such differences,
    so a generator retrained elsewhere has the same recipe but different weights and frequencies.

    Examples
    --------
    >>> import tempfile  # doctest: +SKIP
    >>> retrain_image_models(tempfile.mkdtemp())["models"]["digit_cnn"]["metrics"]  # doctest: +SKIP
    """
    progress = check_progress(progress)
    directory = weights_directory(out_dir, "out_dir")
    chosen = _check_names(names)
    prepare_out_dir(directory, [f"{name}.safetensors" for name in chosen], overwrite=overwrite, what="models")
    try:
        models: dict[str, Any] = dict(read_image_manifest(directory)["models"])
    except WeightsFileError:
        models = {}
    classifier: nn.Module | None = None
    if "digit_cnn" not in chosen:  # the generators are measured with the classifier already there: fail fast
        classifier = _load_into(DigitCNN(dropout=CNN_RECIPE.dropout, seed=0), "digit_cnn", directory)
    train, test, data = digits_splits(_DATA_SEED)
    for name in chosen:
        start = time.perf_counter()
        path = directory / f"{name}.safetensors"
        if name == "digit_cnn":
            cnn, log = train_digit_cnn(train.images, train.labels, CNN_RECIPE, progress=progress)
            seconds = time.perf_counter() - start
            IMAGE_MANIFEST.save(cnn, path, image_model_recipe(name), overwrite=True)
            classifier = cnn
            metrics: dict[str, Any] = {
                "final_train_loss": log.final["loss"],
                "final_train_accuracy": log.final["accuracy"],
                "test_accuracy": classifier_accuracy(cnn, test.images, test.labels).to_dict(),
            }
        else:
            latent_dim = int(name.removeprefix("dcgan_d"))
            trained = train_digit_dcgan(latent_dim, seed=DCGAN_SEED, config=DCGAN_RECIPE, progress=progress)
            seconds = time.perf_counter() - start
            IMAGE_MANIFEST.save(trained.generator, path, image_model_recipe(name), overwrite=True)
            assert classifier is not None  # trained or loaded above
            frequencies = generated_class_frequencies(trained.generator, classifier)
            metrics = {
                "class_frequencies": [float(value) for value in frequencies],
                "min_class_frequency": float(frequencies.min()),
                "classifier_sha256": models["digit_cnn"]["sha256"],
                **{f"final_{key}": value for key, value in trained.log.final.items() if key != "epoch"},
            }
            log = trained.log
        models[name] = {
            **IMAGE_MANIFEST.record(path),
            "recipe": image_model_recipe(name),
            "steps": log.steps,
            "training_seconds": round(seconds, 1),
            "metrics": metrics,
        }
    manifest = {
        "format": _MANIFEST_FORMAT,
        "description": "DCGAN generators of 28x28 digits and a CNN digit classifier; see "
        "genloose.reference_models.image_gan",
        "data": data,
        "evaluation": {
            "seed": EVAL_SEED,
            "num_samples": EVAL_NUM_SAMPLES,
            "latents": "torch.randn(num_samples, latent_dim, generator=torch.Generator().manual_seed(seed))",
            "classifier": "digit_cnn (arg-max of its logits)",
        },
        "environment": {**training_environment(), "torch_num_threads": 1},
        "models": {name: models[name] for name in IMAGE_MODEL_NAMES if name in models},  # written sorted by name
    }
    from genloose._io import atomic_write_text

    atomic_write_text(
        directory / IMAGE_MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n", overwrite=True
    )
    return manifest
