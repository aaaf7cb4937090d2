"""The VAE and the Lipschitz-constrained VAE (LC-VAE) of Section 4 of the paper, and their trainer.

Architecture (Tables 1 and 2, for 1x28x28 images; channel counts times ``width``):

* encoder: four convolutions 1→128→256→512→1024, kernel 4, stride 2, padding 1 (28→14→7→3→1,
  so the last feature map is 1024x1x1: the "1024 inputs" of the paper's fully connected layers),
  each followed by batch norm and ReLU; then two fully connected heads 1024→d (means) and 1024→d
  (log-variances);
* decoder: a fully connected layer d→256·7·7 with ReLU, then transposed convolutions 256→128
  (kernel 4, stride 2, padding 1, batch norm, ReLU; 7→14) and 128→1 (kernel 4, stride 2,
  padding 1, sigmoid; 14→28).

The LC-VAE (Section 4.1) is the same network trained with two changes: after every optimiser step
the encoder's multiplicative parameters are clipped to ``[-c, c]`` (:func:`clip_encoder_weights_`),
and the loss gains ``λ·Σ_i ||f(I_i) − f(I_{i+n})||² / ||I_i − I_{i+n}||²`` over the two halves of
each batch (:func:`lipschitz_penalty`), with ``f`` the encoder's mean.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from torch import nn

from genloose._errors import InvalidArgumentError
from genloose._progress import progress_bar
from genloose._validation import (
    check_choice,
    check_dense_tensor,
    check_float,
    check_int,
    check_progress,
    check_size,
    fail,
)
from genloose.estimate import Estimate
from genloose.reference_models._training import evaluating

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "VAE",
    "Decoder",
    "Encoder",
    "TrainedVAE",
    "TrainingLog",
    "VAEConfig",
    "channel_widths",
    "clip_encoder_weights_",
    "clipped_parameters",
    "kl_divergence",
    "lipschitz_penalty",
    "reconstruction_error",
    "train_vae",
]

IMAGE_SHAPE = (1, 28, 28)
_ENCODER_CHANNELS = (128, 256, 512, 1024)
_DECODER_CHANNELS = (256, 128)


def channel_widths(width: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Channel counts of the encoder's four and the decoder's two convolutional stages.

    Each of the paper's counts (encoder 128, 256, 512, 1024; decoder 256, 128) is multiplied by
    ``width`` and rounded to the nearest integer (at least 1).

    Parameters
    ----------
    width : float
        The multiplier, in ``(0, 1]``-ish (any positive number is accepted; 1 is the paper).

    Returns
    -------
    tuple
        ``(encoder_channels, decoder_channels)``.

    Examples
    --------
    >>> channel_widths(1.0)
    ((128, 256, 512, 1024), (256, 128))
    >>> channel_widths(1 / 16)
    ((8, 16, 32, 64), (16, 8))
    """
    width = check_float("width", width, min_value=0.0, min_inclusive=False)
    encoder = tuple(max(1, round(c * width)) for c in _ENCODER_CHANNELS)
    decoder = tuple(max(1, round(c * width)) for c in _DECODER_CHANNELS)
    return encoder, decoder


@contextlib.contextmanager
def _isolated_init(seed: int | None) -> Iterator[None]:
    """Draw initial weights from ``torch.manual_seed(seed)`` without touching the global RNG state.

    ``seed=None`` does nothing: the weights then come from the global RNG, as for any
    ``nn.Module`` (used when an enclosing module has already isolated and seeded it).
    """
    if seed is None:
        yield
        return
    seed = check_int("seed", seed, min_value=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


#: Bytes of weights per latent dimension (the encoder's and decoder's latent layers, at least 4096 floats).
_BYTES_PER_LATENT_DIM = 4 * 4096


def _check_images(images: Any, name: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise fail(name, "a torch.Tensor of shape (n, 1, 28, 28)", images)
    check_dense_tensor(name, images)
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise fail(name, "a tensor of shape (n, 1, 28, 28)", images)
    if not images.is_floating_point():
        raise fail(name, "a floating-point tensor", images)
    return images


class Encoder(nn.Module):
    """The convolutional encoder of Table 1: image ``(n, 1, 28, 28)`` → ``(mean, log_variance)``.

    Parameters
    ----------
    latent_dim : int
        ``d``, the dimension of the latent space.
    width : float
        Channel multiplier (see :func:`channel_widths`).
    seed : int or None
        Seed of the initial weights, drawn without touching torch's global RNG state; None draws
        them from the global RNG like any ``nn.Module``.

    Examples
    --------
    >>> encoder = Encoder(2, width=1 / 16).eval()
    >>> mean, log_variance = encoder(torch.zeros(3, 1, 28, 28))
    >>> mean.shape, log_variance.shape
    (torch.Size([3, 2]), torch.Size([3, 2]))
    """

    def __init__(self, latent_dim: int, *, width: float = 1 / 16, seed: int | None = 0) -> None:
        super().__init__()
        self.latent_dim = check_size(
            "latent_dim", latent_dim, min_value=1, bytes_each=_BYTES_PER_LATENT_DIM, what="the latent layers"
        )
        channels, _ = channel_widths(width)
        with _isolated_init(seed):
            self._build(channels)

    def _build(self, channels: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        previous = IMAGE_SHAPE[0]
        for count in channels:
            # No conv bias: the batch norm that follows would cancel it.
            layers += [
                nn.Conv2d(previous, count, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(count),
                nn.ReLU(),
            ]
            previous = count
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.mean = nn.Linear(previous, self.latent_dim)
        self.log_variance = nn.Linear(previous, self.latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior means and log-variances, each ``(n, latent_dim)``."""
        hidden = self.features(_check_images(images))
        return self.mean(hidden), self.log_variance(hidden)


class Decoder(nn.Module):
    """The decoder of Table 2: latent ``(n, d)`` → image ``(n, 1, 28, 28)`` in ``(0, 1)``.

    Parameters
    ----------
    latent_dim : int
        ``d``.
    width : float
        Channel multiplier (see :func:`channel_widths`).
    seed : int or None
        Seed of the initial weights (see :class:`Encoder`).

    Examples
    --------
    >>> decoder = Decoder(10, width=1 / 16).eval()
    >>> decoder(torch.zeros(4, 10)).shape
    torch.Size([4, 1, 28, 28])
    """

    def __init__(self, latent_dim: int, *, width: float = 1 / 16, seed: int | None = 0) -> None:
        super().__init__()
        self.latent_dim = check_size(
            "latent_dim", latent_dim, min_value=1, bytes_each=_BYTES_PER_LATENT_DIM, what="the latent layers"
        )
        _, (first, second) = channel_widths(width)
        with _isolated_init(seed):
            self._build(first, second)

    def _build(self, first: int, second: int) -> None:
        self.project = nn.Sequential(
            nn.Linear(self.latent_dim, first * 7 * 7), nn.ReLU(), nn.Unflatten(1, (first, 7, 7))
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(first, second, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(second),
            nn.ReLU(),
            nn.ConvTranspose2d(second, IMAGE_SHAPE[0], kernel_size=4, stride=2, padding=1),
        )

    def logits(self, latents: torch.Tensor) -> torch.Tensor:
        """The pre-sigmoid output (used by the loss for numerical stability)."""
        if not isinstance(latents, torch.Tensor) or latents.ndim != 2 or (latents.shape[1] != self.latent_dim):
            raise fail("latents", f"a tensor of shape (n, {self.latent_dim})", latents)
        return self.upsample(self.project(latents))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """The decoded images, ``sigmoid(logits)``."""
        return torch.sigmoid(self.logits(latents))


class VAE(nn.Module):
    """A VAE with the encoder of Table 1 and the decoder of Table 2.

    ``forward`` is the deterministic reconstruction ``decoder(encoder mean)``; training samples
    the latent with explicit noise (see :func:`train_vae`). Call ``.eval()`` before using it for
    inference: batch norm then uses its running statistics and the output of one image does not
    depend on the rest of the batch.

    Parameters
    ----------
    latent_dim : int
        ``d`` (the paper: 10, and 2 for Figure 4.1).
    width : float
        Channel multiplier (1 is the paper's network; the bundled models use 1/16).
    seed : int or None
        Seed of the initial weights (encoder first, then decoder, from one stream), drawn without
        touching torch's global RNG state; None draws them from the global RNG.

    Examples
    --------
    >>> model = VAE(2, width=1 / 16).eval()
    >>> model(torch.zeros(5, 1, 28, 28)).shape
    torch.Size([5, 1, 28, 28])
    >>> model.decoder(torch.zeros(5, 2)).shape
    torch.Size([5, 1, 28, 28])
    """

    def __init__(self, latent_dim: int = 10, *, width: float = 1 / 16, seed: int | None = 0) -> None:
        super().__init__()
        self.latent_dim = check_size(
            "latent_dim", latent_dim, min_value=1, bytes_each=_BYTES_PER_LATENT_DIM, what="the latent layers"
        )
        self.width = check_float("width", width, min_value=0.0, min_inclusive=False)
        with _isolated_init(seed):
            self.encoder = Encoder(latent_dim, width=width, seed=None)
            self.decoder = Decoder(latent_dim, width=width, seed=None)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``images`` through the posterior mean."""
        mean, _ = self.encoder(images)
        return self.decoder(mean)


def kl_divergence(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """Per-sample KL divergence of ``N(mean, diag(exp(log_variance)))`` from ``N(0, I)``.

    .. math:: \\mathrm{KL} = \\tfrac12 \\sum_j (\\mu_j^2 + \\sigma_j^2 - \\log\\sigma_j^2 - 1)

    Parameters
    ----------
    mean, log_variance : torch.Tensor
        Shape ``(n, d)`` each.

    Returns
    -------
    torch.Tensor
        Shape ``(n,)``.

    Examples
    --------
    >>> kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3))
    tensor([0., 0.])
    >>> kl_divergence(torch.ones(1, 2), torch.zeros(1, 2))
    tensor([1.])
    """
    if not isinstance(mean, torch.Tensor) or mean.ndim != 2:
        raise fail("mean", "a tensor of shape (n, d)", mean)
    if not isinstance(log_variance, torch.Tensor) or log_variance.shape != mean.shape:
        raise fail("log_variance", f"a tensor of shape {tuple(mean.shape)} (that of mean)", log_variance)
    return 0.5 * (mean.square() + log_variance.exp() - log_variance - 1.0).sum(dim=1)


def lipschitz_penalty(codes: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """The LC-VAE regulariser of one batch: pairs the first half with the second half.

    .. math::

        \\sum_{i=1}^{n} \\omega(I_i, I_{i+n}), \\qquad
        \\omega(I, I') = \\frac{\\lVert f(I) - f(I')\\rVert_2^2}{\\lVert I - I'\\rVert_2^2}

    for a batch of ``b = 2n`` images ``I`` with codes ``f(I)`` (the encoder's means). It is a
    sum over pairs, not a mean (as in the paper), and the trainer multiplies it by ``λ``.

    **Identical images.** A pair with ``||I_i − I_{i+n}|| = 0`` has an undefined ratio (0/0 for a
    deterministic encoder, since then ``f(I_i) = f(I_{i+n})``). Such pairs contribute exactly 0 to
    the sum and to its gradient (no NaN): the rule is "a pair of identical images carries no
    Lipschitz information". :func:`train_vae` counts them in its log.

    Parameters
    ----------
    codes : torch.Tensor
        ``(b, d)`` encodings, ``b`` even and at least 2.
    images : torch.Tensor
        ``(b, ...)`` the images they encode (any trailing shape; the norm is over all of it).

    Returns
    -------
    torch.Tensor
        A scalar (differentiable in ``codes``).

    Notes
    -----
    Section 4.1 ("Implementation Details") of the paper.

    Examples
    --------
    >>> codes = torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 4.0], [1.0, 1.0]])
    >>> images = torch.tensor([[0.0], [2.0], [1.0], [2.0]])  # the second pair is identical
    >>> lipschitz_penalty(codes, images)  # 25 / 1 + 0
    tensor(25.)
    """
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2:
        raise fail("codes", "a tensor of shape (b, d)", codes)
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or images.shape[0] != codes.shape[0]:
        raise fail("images", f"a tensor of shape ({codes.shape[0]}, ...) matching codes", images)
    check_dense_tensor("codes", codes)
    check_dense_tensor("images", images)
    if not codes.is_floating_point():
        raise fail("codes", "a floating-point tensor", codes)
    size = codes.shape[0]
    if size < 2 or size % 2:
        raise fail("codes", "a batch of even size b = 2n >= 2", codes)
    half = size // 2
    numerator = (codes[:half] - codes[half:]).square().sum(dim=1)
    flat = images.reshape(size, -1).to(codes.dtype)
    denominator = (flat[:half] - flat[half:]).square().sum(dim=1)
    defined = denominator > 0
    safe = torch.where(defined, denominator, torch.ones_like(denominator))
    return torch.where(defined, numerator / safe, torch.zeros_like(numerator)).sum()


def clipped_parameters(encoder: nn.Module) -> dict[str, nn.Parameter]:
    """The encoder parameters that LC-VAE clips: every multiplicative one.

    These are the weights of the convolutions and of the linear heads, and the scales of the batch
    norms. Biases and batch-norm shifts are left free: an additive constant does not change a
    function's Lipschitz constant, which is what clipping is meant to bound (Section 4.1, after
    Arjovsky et al. 2017).

    Parameters
    ----------
    encoder : torch.nn.Module
        Usually ``model.encoder``.

    Returns
    -------
    dict
        Qualified name → parameter.

    Examples
    --------
    >>> sorted(clipped_parameters(Encoder(2, width=1 / 16)))[:3]
    ['features.0.weight', 'features.1.weight', 'features.10.weight']
    """
    if not isinstance(encoder, nn.Module):
        raise fail("encoder", "a torch.nn.Module", encoder)
    chosen: dict[str, nn.Parameter] = {}
    for module_name, module in encoder.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm)):
            weight = getattr(module, "weight", None)
            if isinstance(weight, nn.Parameter):
                chosen[f"{module_name}.weight" if module_name else "weight"] = weight
    return chosen


@torch.no_grad()
def clip_encoder_weights_(encoder: nn.Module, clip_value: float) -> None:
    """Clip the parameters of :func:`clipped_parameters` to ``[-clip_value, clip_value]``, in place.

    Parameters
    ----------
    encoder : torch.nn.Module
        Usually ``model.encoder``.
    clip_value : float
        ``c > 0`` (the paper: 0.30).

    Examples
    --------
    >>> encoder = Encoder(2, width=1 / 16)
    >>> clip_encoder_weights_(encoder, 0.3)
    >>> max(float(p.detach().abs().max()) for p in clipped_parameters(encoder).values())
    0.3...
    """
    clip_value = check_float("clip_value", clip_value, min_value=0.0, min_inclusive=False)
    for parameter in clipped_parameters(encoder).values():
        parameter.clamp_(-clip_value, clip_value)


_RECONSTRUCTIONS = ("bce", "sse")


@dataclass(frozen=True)
class VAEConfig:
    """A training recipe for :func:`train_vae`.

    Attributes
    ----------
    latent_dim : int
        ``d`` (paper: 10).
    width : float
        Channel multiplier (paper: 1; bundled models: 1/16).
    epochs : int
        Passes over the data (paper: 20 epochs of MNIST's 60,000 images).
    batch_size : int
        Largest batch (paper: 300). Each epoch is split into ``ceil(N / batch_size)`` batches of
        nearly equal size, so there is never a tiny last batch.
    learning_rate : float
        Adam's learning rate (paper: 1e-3).
    penalty_weight : float
        ``λ`` of :func:`lipschitz_penalty` (0 for the vanilla VAE; paper's LC-VAE: 30).
    clip_value : float or None
        ``c`` of :func:`clip_encoder_weights_` (None: no clipping; paper's LC-VAE: 0.30).
    reconstruction : {"bce", "sse"}
        Per-image reconstruction term: summed binary cross-entropy (PyTorch's example VAE, which
        the paper says it modified) or summed squared error (the "ℓ2" of Appendix A.1).
    seed : int
        Seeds the initial weights, the batch order and the reparameterisation noise.

    Examples
    --------
    >>> VAEConfig(latent_dim=2, penalty_weight=30.0, clip_value=0.3).is_lipschitz_constrained
    True
    """

    latent_dim: int = 10
    width: float = 1 / 16
    epochs: int = 20
    batch_size: int = 300
    learning_rate: float = 1e-3
    penalty_weight: float = 0.0
    clip_value: float | None = None
    reconstruction: Literal["bce", "sse"] = "bce"
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("latent_dim", self.latent_dim, min_value=1)
        check_float("width", self.width, min_value=0.0, min_inclusive=False)
        check_int("epochs", self.epochs, min_value=1)
        check_int("batch_size", self.batch_size, min_value=2)
        check_float("learning_rate", self.learning_rate, min_value=0.0, min_inclusive=False)
        check_float("penalty_weight", self.penalty_weight, min_value=0.0)
        if self.clip_value is not None:
            check_float("clip_value", self.clip_value, min_value=0.0, min_inclusive=False)
        check_choice("reconstruction", self.reconstruction, _RECONSTRUCTIONS)
        check_int("seed", self.seed, min_value=0)

    @property
    def is_lipschitz_constrained(self) -> bool:
        """Whether this is an LC-VAE recipe (a penalty or clipping)."""
        return self.penalty_weight > 0 or self.clip_value is not None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class TrainingLog:
    """Per-epoch training statistics of :func:`train_vae` (or the digit classifier's trainer).

    Attributes
    ----------
    records : tuple of dict
        One dict per epoch, with the same keys in each (e.g. ``epoch``, ``loss``, ...).
    steps : int
        Optimiser steps taken.

    Examples
    --------
    >>> log = TrainingLog(records=({"epoch": 1, "loss": 2.0},), steps=5)
    >>> log.final["loss"]
    2.0
    """

    records: tuple[Mapping[str, float], ...] = field(default_factory=tuple)
    steps: int = 0

    @property
    def final(self) -> Mapping[str, float]:
        """The last epoch's record."""
        if not self.records:
            raise InvalidArgumentError("records must hold at least one epoch; got 0 epoch(s)")
        return self.records[-1]

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch."""
        import pandas as pd

        return pd.DataFrame([dict(record) for record in self.records])


class TrainedVAE(NamedTuple):
    """What :func:`train_vae` returns: the model (in eval mode) and its training log."""

    model: VAE
    log: TrainingLog


def _reconstruction_term(logits: torch.Tensor, images: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "bce":
        loss = nn.functional.binary_cross_entropy_with_logits(logits, images, reduction="none")
    else:
        loss = (torch.sigmoid(logits) - images).square()
    return loss.flatten(1).sum(dim=1)


def train_vae(images: torch.Tensor, config: VAEConfig | None = None, *, progress: bool | None = None) -> TrainedVAE:
    """Train a VAE (or, with a penalty and/or clipping, an LC-VAE) on the CPU, reproducibly.

    Each step minimises, over a batch of ``b`` images,

    .. math::

        \\frac{1}{b}\\Big[\\sum_{i=1}^{b} \\big(R(I_i, g(z_i)) + \\mathrm{KL}_i\\big)
        + \\lambda \\sum_{i=1}^{n} \\omega(I_i, I_{i+n})\\Big],
        \\qquad z_i = \\mu_i + \\sigma_i \\varepsilon_i,\\; n = \\lfloor b/2 \\rfloor

    (the PyTorch-example VAE loss, summed over the batch, scaled by ``1/b``; Adam is insensitive
    to that constant). With an odd ``b`` the last image of the batch is left out of the penalty
    only. After each Adam step the encoder is clipped if ``config.clip_value`` is set (and once
    right after initialisation, so the constraint holds throughout).

    All randomness (initial weights, batch order, noise) comes from ``config.seed``: the initial
    weights are drawn inside :func:`torch.random.fork_rng` (``VAE(..., seed=config.seed)``), the
    rest from a private :class:`torch.Generator`, so the global RNG state is left untouched.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, 1, 28, 28)`` floats in ``[0, 1]``, ``N >= 2``.
    config : VAEConfig, optional
        The recipe (default ``VAEConfig()``: the vanilla VAE at d = 10, width 1/16).
    progress : bool or None
        Show a progress bar over epochs (None: only on a terminal; ``TQDM_DISABLE`` is honoured).

    Returns
    -------
    TrainedVAE
        ``model`` (in eval mode) and ``log`` (per epoch: ``loss``, ``reconstruction``, ``kl``,
        ``penalty`` — all means per image, ``penalty`` per pair and unweighted — ``skipped_pairs``
        with identical images, and ``max_abs_clipped`` — the largest clipped-parameter magnitude).

    Examples
    --------
    >>> images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> config = VAEConfig(latent_dim=2, epochs=1, batch_size=4, penalty_weight=30.0,
    ...                    clip_value=0.3)
    >>> trained = train_vae(images, config, progress=False)
    >>> c32 = float(torch.tensor(0.3))  # c rounded to float32, the parameters' dtype
    >>> trained.log.steps, trained.log.final["max_abs_clipped"] <= c32
    (2, True)
    """
    progress = check_progress(progress)
    images = _check_images(images)
    if images.shape[0] < 2:
        raise fail("images", "at least 2 images", images)
    images = images.detach().to(torch.float32)
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise InvalidArgumentError("images must hold finite values in [0, 1]; got values outside")
    if config is None:
        config = VAEConfig()
    if not isinstance(config, VAEConfig):
        raise fail("config", "a VAEConfig", config)

    model = VAE(config.latent_dim, width=config.width, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    clip = config.clip_value
    if clip is not None:
        clip_encoder_weights_(model.encoder, clip)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    count = images.shape[0]
    num_batches = math.ceil(count / config.batch_size)
    records: list[dict[str, float]] = []
    steps = 0
    model.train()
    for epoch in progress_bar(range(config.epochs), progress=progress, desc="training VAE"):
        totals = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0, "penalty": 0.0}
        pairs = skipped = 0
        order = torch.randperm(count, generator=generator)
        for batch_index in torch.tensor_split(order, num_batches):
            batch = images[batch_index]
            size = batch.shape[0]
            mean, log_variance = model.encoder(batch)
            noise = torch.randn(mean.shape, generator=generator)
            latents = mean + torch.exp(0.5 * log_variance) * noise
            reconstruction = _reconstruction_term(model.decoder.logits(latents), batch, config.reconstruction).sum()
            kl = kl_divergence(mean, log_variance).sum()
            total = reconstruction + kl
            half = size // 2
            penalty = torch.zeros(())
            if config.penalty_weight > 0:
                penalty = lipschitz_penalty(mean[: 2 * half], batch[: 2 * half])
                total = total + config.penalty_weight * penalty
                flat = batch[: 2 * half].flatten(1)
                skipped += int(((flat[:half] - flat[half:]).square().sum(dim=1) == 0).sum())
                pairs += half
            optimizer.zero_grad(set_to_none=True)
            (total / size).backward()
            optimizer.step()
            if clip is not None:
                clip_encoder_weights_(model.encoder, clip)
            steps += 1
            totals["loss"] += float(total.detach())
            totals["reconstruction"] += float(reconstruction.detach())
            totals["kl"] += float(kl.detach())
            totals["penalty"] += float(penalty.detach())
        record = {key: value / count for key, value in totals.items()}
        record["penalty"] = totals["penalty"] / pairs if pairs else 0.0
        record.update(
            epoch=float(epoch + 1),
            skipped_pairs=float(skipped),
            max_abs_clipped=max(float(p.detach().abs().max()) for p in clipped_parameters(model.encoder).values()),
        )
        records.append(record)
    model.eval()
    return TrainedVAE(model, TrainingLog(records=tuple(records), steps=steps))


@torch.no_grad()
def reconstruction_error(
    model: VAE, images: torch.Tensor, *, batch_size: int = 512, confidence: float = 0.95
) -> Estimate:
    """Mean squared ℓ2 reconstruction error per image, through the posterior mean.

    .. math:: \\frac{1}{N}\\sum_{i=1}^{N} \\lVert I_i - g(\\mu(I_i)) \\rVert_2^2

    with a normal-approximation CI over the images (standard error ``s / sqrt(N)``). The model is
    evaluated in eval mode (its mode is restored afterwards).

    Parameters
    ----------
    model : VAE
        The model.
    images : torch.Tensor
        ``(N, 1, 28, 28)``, ``N >= 1``.
    batch_size : int
        Images per forward pass (does not change the result).
    confidence : float
        CI level.

    Returns
    -------
    Estimate
        ``n = N``; ``stderr`` NaN when ``N = 1``.

    Examples
    --------
    >>> error = reconstruction_error(VAE(2), torch.zeros(4, 1, 28, 28))
    >>> error.n, error.value > 0
    (4, True)
    """
    if not isinstance(model, VAE):
        raise fail("model", "a VAE", model)
    images = _check_images(images)
    if images.shape[0] < 1:
        raise fail("images", "at least 1 image", images)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    with evaluating(model):
        errors = torch.cat(
            [
                (model(chunk.to(torch.float32)) - chunk).square().flatten(1).sum(dim=1)
                for chunk in images.split(batch_size)
            ]
        ).double()
    n = errors.numel()
    stderr = float(errors.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.nan
    return Estimate.from_normal(
        float(errors.mean()), stderr, n=n, confidence=confidence, method="mean squared l2 reconstruction error, wald"
    )
