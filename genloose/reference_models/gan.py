"""A small MLP GAN for the 2D-grid task and a seeded, CPU-deterministic trainer.

The trainer follows Algorithm A.1 of the paper (Manoj 2018, Appendix A.2): alternate discriminator
steps minimising the cross-entropy of real against generated points and generator steps with the
non-saturating loss ``-log D(G(z))``. Optional packing of the discriminator input (PacGAN,
Lin et al. 2018) is available as a known mode-collapse remedy.

All randomness (weight initialisation, latents, data) comes from one :class:`torch.Generator`
seeded by the caller; the global torch RNG is never read or advanced. Training runs on CPU with one
intra-op thread (the previous thread count is restored afterwards), so a given seed reproduces the
same weights bit for bit on the same machine and torch build.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from genloose._validation import check_choice, check_float, check_int, check_progress, fail
from genloose.reference_models.grid import GRID_STD, _sample_grid_torch

__all__ = [
    "GANConfig",
    "GANTrainingResult",
    "GridDiscriminator",
    "GridGenerator",
    "TrainingLog",
    "train_gan",
]


def _mlp(
    in_features: int,
    out_features: int,
    width: int,
    depth: int,
    activation: Callable[[], nn.Module],
    generator: torch.Generator,
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units; weights drawn from ``generator`` only.

    Layers are created with :func:`torch.nn.utils.skip_init` (no RNG use at all), then initialised
    like PyTorch's default for ``nn.Linear``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights
    and biases.
    """
    sizes = [in_features] + [width] * depth + [out_features]
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out)
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            linear.weight.copy_((torch.rand(fan_out, fan_in, generator=generator) * 2.0 - 1.0) * bound)
            linear.bias.copy_((torch.rand(fan_out, generator=generator) * 2.0 - 1.0) * bound)
        layers.append(linear)
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def _default_generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise fail("generator", "a torch.Generator or None", generator)
    return generator


class GridGenerator(nn.Module):
    """MLP generator ``R^d -> R^2``: ``depth`` ReLU layers of ``hidden_width`` units.

    Parameters
    ----------
    latent_dim : int, default 2
        Dimension ``d`` of the latent ``z ~ N(0, I_d)``.
    hidden_width : int, default 128
        Units per hidden layer.
    depth : int, default 3
        Number of hidden layers (>= 1).
    generator : torch.Generator, optional
        Source of the initial weights (a fresh generator seeded with 0 when omitted); the global
        torch RNG is never used.

    Examples
    --------
    >>> g = GridGenerator(latent_dim=3, hidden_width=8, depth=2)
    >>> g(torch.zeros(5, 3)).shape
    torch.Size([5, 2])
    >>> sorted(g.expected_shapes())[:2]
    ['net.0.bias', 'net.0.weight']
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden_width: int = 128,
        depth: int = 3,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, min_value=1, max_value=4096)
        self.hidden_width = check_int("hidden_width", hidden_width, min_value=1, max_value=65536)
        self.depth = check_int("depth", depth, min_value=1, max_value=64)
        self.net = _mlp(self.latent_dim, 2, self.hidden_width, self.depth, nn.ReLU, _default_generator(generator))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map latents of shape ``(m, latent_dim)`` to points of shape ``(m, 2)``."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise fail("z", f"a tensor of shape (m, {self.latent_dim})", z)
        return self.net(z.to(self.net[0].weight.dtype))

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The state-dict keys and tensor shapes of this architecture (used to validate files)."""
        return {key: tuple(value.shape) for key, value in self.state_dict().items()}


class GridDiscriminator(nn.Module):
    """MLP discriminator ``R^{2·pack} -> R`` (a logit) with LeakyReLU(0.2) hidden layers.

    With ``pack > 1`` the discriminator judges ``pack`` points at once, concatenated (PacGAN).

    Parameters
    ----------
    hidden_width : int, default 128
        Units per hidden layer.
    depth : int, default 3
        Number of hidden layers (>= 1).
    pack : int, default 1
        Number of points per discriminator input.
    generator : torch.Generator, optional
        Source of the initial weights (seeded with 0 when omitted).

    Examples
    --------
    >>> d = GridDiscriminator(hidden_width=8, depth=1, pack=2)
    >>> d(torch.zeros(6, 2)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        hidden_width: int = 128,
        depth: int = 3,
        pack: int = 1,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.hidden_width = check_int("hidden_width", hidden_width, min_value=1, max_value=65536)
        self.depth = check_int("depth", depth, min_value=1, max_value=64)
        self.pack = check_int("pack", pack, min_value=1, max_value=64)
        self.net = _mlp(
            2 * self.pack, 1, self.hidden_width, self.depth, lambda: nn.LeakyReLU(0.2), _default_generator(generator)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(m / pack,)`` for points of shape ``(m, 2)`` (m divisible by pack)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
            raise fail("x", "a tensor of shape (m, 2)", x)
        if x.shape[0] % self.pack:
            raise fail("x", f"a number of rows divisible by pack={self.pack}", x)
        return self.net(x.reshape(-1, 2 * self.pack)).squeeze(1)


@dataclass(frozen=True)
class GANConfig:
    """Hyper-parameters of one GAN on the 2D grid (architecture, optimiser, schedule).

    Attributes
    ----------
    latent_dim, g_width, g_depth : int
        Generator latent dimension, hidden width and number of hidden layers.
    d_width, d_depth, pack : int
        Discriminator hidden width, number of hidden layers and PacGAN packing degree.
    steps : int
        Generator updates.
    d_steps : int
        Discriminator updates per generator update.
    batch_size : int
        Real and generated points per update (a multiple of ``pack``).
    lr_g, lr_d, beta1, beta2 : float
        Adam learning rates and betas.
    n, std : int, float
        The grid trained on (:func:`~genloose.reference_models.grid.sample_grid`).
    loss : {"nonsaturating", "minimax"}
        Generator loss: ``-log D(G(z))`` (Algorithm A.1) or ``log(1 - D(G(z)))`` (the original
        minimax form, known to saturate).

    Examples
    --------
    >>> GANConfig(steps=10).steps
    10
    >>> GANConfig.from_dict(GANConfig(g_width=16).to_dict()) == GANConfig(g_width=16)
    True
    """

    latent_dim: int = 2
    g_width: int = 128
    g_depth: int = 3
    d_width: int = 128
    d_depth: int = 3
    pack: int = 1
    steps: int = 2000
    d_steps: int = 1
    batch_size: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    n: int = 2
    std: float = GRID_STD
    loss: Literal["nonsaturating", "minimax"] = "nonsaturating"

    def __post_init__(self) -> None:
        for name in ("latent_dim", "g_width", "g_depth", "d_width", "d_depth", "pack", "d_steps", "batch_size"):
            check_int(name, getattr(self, name), min_value=1)
        check_int("steps", self.steps, min_value=0)
        check_int("n", self.n, min_value=0, max_value=1000)
        for name in ("lr_g", "lr_d"):
            check_float(name, getattr(self, name), min_value=0.0, min_inclusive=False)
        for name in ("beta1", "beta2"):
            check_float(name, getattr(self, name), min_value=0.0, max_value=1.0, max_inclusive=False)
        check_float("std", self.std, min_value=0.0)
        check_choice("loss", self.loss, ("nonsaturating", "minimax"))
        if self.batch_size % self.pack:
            raise fail("batch_size", f"a multiple of pack={self.pack}", self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        """The hyper-parameters as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GANConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are refused."""
        if not isinstance(data, dict):
            raise fail("data", "a dict of GANConfig fields", data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise fail("data", f"a dict with keys among {sorted(known)} (unknown: {unknown})", data)
        return cls(**data)

    def build_generator(self, *, generator: torch.Generator | None = None) -> GridGenerator:
        """A freshly initialised generator with this architecture."""
        return GridGenerator(self.latent_dim, self.g_width, self.g_depth, generator=generator)

    def build_discriminator(self, *, generator: torch.Generator | None = None) -> GridDiscriminator:
        """A freshly initialised discriminator with this architecture."""
        return GridDiscriminator(self.d_width, self.d_depth, self.pack, generator=generator)


@dataclass(frozen=True)
class TrainingLog:
    """Losses recorded during training, every ``log_every`` generator steps.

    Attributes
    ----------
    step : numpy.ndarray
        Generator step at which each row was recorded (int64).
    d_loss, g_loss : numpy.ndarray
        Discriminator loss (cross-entropy, real + fake) and generator loss at that step.
    d_real : numpy.ndarray
        Mean sigmoid output of the discriminator on the real batch.
    """

    step: np.ndarray
    d_loss: np.ndarray
    g_loss: np.ndarray
    d_real: np.ndarray

    def to_frame(self) -> Any:
        """The log as a :class:`pandas.DataFrame` (one row per record)."""
        import pandas as pd

        return pd.DataFrame({"step": self.step, "d_loss": self.d_loss, "g_loss": self.g_loss, "d_real": self.d_real})


@dataclass(frozen=True)
class GANTrainingResult:
    """What :func:`train_gan` returns: the trained networks (eval mode, CPU) and the log."""

    generator: GridGenerator
    discriminator: GridDiscriminator
    log: TrainingLog


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_gan(
    config: GANConfig,
    *,
    seed: int,
    log_every: int = 50,
    callback: Callable[[int, GridGenerator], None] | None = None,
    progress: bool | None = False,
) -> GANTrainingResult:
    """Train a GAN on the 2D grid with all randomness drawn from ``torch.Generator(seed)``.

    Each generator step is preceded by ``config.d_steps`` discriminator steps minimising

    .. math::

        -\\mathbb{E}_x \\log D(x) - \\mathbb{E}_z \\log(1 - D(G(z))),

    and the generator minimises ``-E_z log D(G(z))`` (non-saturating, Algorithm A.1) or
    ``E_z log(1 - D(G(z)))`` (``loss="minimax"``). Both use Adam.

    Parameters
    ----------
    config : GANConfig
        Architecture and schedule.
    seed : int
        Seed of the one :class:`torch.Generator` used for initialisation, latents and data.
    log_every : int, default 50
        Record the losses every this many generator steps (and at the last step).
    callback : callable, optional
        Called as ``callback(step, generator)`` at each recorded step, e.g. to monitor mode
        coverage; it must not change the generator (it runs under ``torch.no_grad``) and must not
        draw from the training generator.
    progress : bool or None, default False
        Show a tqdm bar over steps (None: on unless ``TQDM_DISABLE`` is set).

    Returns
    -------
    GANTrainingResult
        Generator and discriminator in eval mode on CPU, and the :class:`TrainingLog`.

    Notes
    -----
    Runs on CPU with one intra-op thread (restored afterwards), so the same seed gives bit-identical
    weights on the same machine and torch build; across CPUs with different vector units the float
    results may differ in the last bits and the trajectories can then drift apart.

    Examples
    --------
    >>> result = train_gan(GANConfig(g_width=8, d_width=8, steps=3, batch_size=16), seed=0)
    >>> result.log.step.tolist()
    [3]
    >>> result.generator(torch.zeros(2, 2)).shape
    torch.Size([2, 2])
    """
    progress = check_progress(progress)
    if not isinstance(config, GANConfig):
        raise fail("config", "a GANConfig", config)
    seed = check_int("seed", seed, min_value=0)
    log_every = check_int("log_every", log_every, min_value=1)
    if callback is not None and not callable(callback):
        raise fail("callback", "a callable (step, generator) or None", callback)
    from genloose._progress import progress_bar

    rng = torch.Generator().manual_seed(seed)
    with _one_thread(), torch.enable_grad():
        gen = config.build_generator(generator=rng)
        disc = config.build_discriminator(generator=rng)
        gen.train()
        disc.train()
        opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
        opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
        bce = nn.functional.binary_cross_entropy_with_logits
        m = config.batch_size // config.pack
        ones, zeros = torch.ones(m), torch.zeros(m)
        records: list[tuple[int, float, float, float]] = []
        d_loss = torch.tensor(math.nan)
        d_real = torch.tensor(math.nan)
        for step in progress_bar(range(1, config.steps + 1), progress=progress, desc="train GAN"):
            for _ in range(config.d_steps):
                real = _sample_grid_torch(config.batch_size, n=config.n, std=config.std, generator=rng)
                z = torch.randn(config.batch_size, config.latent_dim, generator=rng)
                with torch.no_grad():
                    fake = gen(z)
                logits_real = disc(real)
                d_loss = bce(logits_real, ones) + bce(disc(fake), zeros)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                d_real = torch.sigmoid(logits_real.detach()).mean()
            z = torch.randn(config.batch_size, config.latent_dim, generator=rng)
            logits_fake = disc(gen(z))
            nonsaturating = config.loss == "nonsaturating"
            g_loss = bce(logits_fake, ones) if nonsaturating else -bce(logits_fake, zeros)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            if step % log_every == 0 or step == config.steps:
                records.append((step, d_loss.item(), g_loss.item(), d_real.item()))
                if callback is not None:
                    with torch.no_grad():
                        callback(step, gen)
        gen.eval()
        disc.eval()
        for parameter in (*gen.parameters(), *disc.parameters()):
            parameter.requires_grad_(False)
    columns = list(zip(*records, strict=True)) if records else [(), (), (), ()]
    log = TrainingLog(
        step=np.asarray(columns[0], dtype=np.int64),
        d_loss=np.asarray(columns[1], dtype=np.float64),
        g_loss=np.asarray(columns[2], dtype=np.float64),
        d_real=np.asarray(columns[3], dtype=np.float64),
    )
    return GANTrainingResult(generator=gen, discriminator=disc, log=log)
