"""Tests of the MLP GAN and its seeded trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genloose._errors import InvalidArgumentError
from genloose.reference_models.gan import (
    GANConfig,
    GANTrainingResult,
    GridDiscriminator,
    GridGenerator,
    TrainingLog,
    train_gan,
)

TINY = GANConfig(g_width=8, g_depth=1, d_width=8, d_depth=1, steps=5, batch_size=16)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_generator_shapes_and_architecture() -> None:
    g = GridGenerator(latent_dim=3, hidden_width=5, depth=2)
    assert g(torch.zeros(4, 3)).shape == (4, 2)
    assert g.expected_shapes() == {
        "net.0.weight": (5, 3),
        "net.0.bias": (5,),
        "net.2.weight": (5, 5),
        "net.2.bias": (5,),
        "net.4.weight": (2, 5),
        "net.4.bias": (2,),
    }
    assert sum(isinstance(m, torch.nn.ReLU) for m in g.net) == 2


def test_init_is_seeded_bounded_and_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a = GridGenerator(2, 16, 2, generator=torch.Generator().manual_seed(1))
    b = GridGenerator(2, 16, 2, generator=torch.Generator().manual_seed(1))
    c = GridGenerator(2, 16, 2, generator=torch.Generator().manual_seed(2))
    d = GridGenerator(2, 16, 2)
    e = GridGenerator(2, 16, 2)
    GridDiscriminator(16, 2, pack=2)
    assert torch.equal(torch.get_rng_state(), state)
    _assert_same_state(_state(a), _state(b))
    _assert_same_state(_state(d), _state(e))  # the default generator is seeded with 0
    assert not torch.equal(a.net[0].weight, c.net[0].weight)
    for layer in a.net:
        if isinstance(layer, torch.nn.Linear):
            bound = 1 / math.sqrt(layer.in_features)
            assert float(layer.weight.detach().abs().max()) <= bound
            assert float(layer.bias.detach().abs().max()) <= bound


def test_generator_rejects_bad_input() -> None:
    g = GridGenerator(latent_dim=2, hidden_width=4, depth=1)
    with pytest.raises(InvalidArgumentError, match=r"z must be a tensor of shape \(m, 2\)"):
        g(torch.zeros(3, 3))
    with pytest.raises(InvalidArgumentError, match="z must be"):
        g(np.zeros((3, 2)))  # type: ignore[arg-type]
    for kwargs in ({"latent_dim": 0}, {"hidden_width": 0}, {"depth": 0}, {"depth": 1.5}):
        with pytest.raises(InvalidArgumentError):
            GridGenerator(**kwargs)
    with pytest.raises(InvalidArgumentError, match="generator"):
        GridGenerator(generator=0)  # type: ignore[arg-type]


def test_discriminator_packing_concatenates_points() -> None:
    d = GridDiscriminator(hidden_width=6, depth=2, pack=3)
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(0))
    logits = d(x)
    assert logits.shape == (3,)
    torch.testing.assert_close(logits, d.net(x.reshape(3, 6)).squeeze(1))
    with pytest.raises(InvalidArgumentError, match="divisible by pack=3"):
        d(torch.zeros(4, 2))
    with pytest.raises(InvalidArgumentError, match=r"x must be a tensor of shape \(m, 2\)"):
        d(torch.zeros(3, 3))


def test_config_validation_and_round_trip() -> None:
    config = GANConfig(g_width=7, lr_g=3e-4, loss="minimax", pack=2)
    assert GANConfig.from_dict(config.to_dict()) == config
    for kwargs, match in [
        ({"batch_size": 15, "pack": 2}, "batch_size must be a multiple of pack=2"),
        ({"lr_g": 0.0}, "lr_g"),
        ({"beta1": 1.0}, "beta1"),
        ({"steps": -1}, "steps"),
        ({"loss": "wasserstein"}, "loss"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"std": -0.1}, "std"),
    ]:
        with pytest.raises(InvalidArgumentError, match=match):
            GANConfig(**kwargs)
    with pytest.raises(InvalidArgumentError, match="unknown"):
        GANConfig.from_dict({"g_widht": 3})


def test_training_is_deterministic_and_isolated() -> None:
    rng_state = torch.get_rng_state()
    threads = torch.get_num_threads()
    seen: list[int] = []
    a = train_gan(TINY, seed=3, log_every=2, callback=lambda step, g: seen.append(step))
    b = train_gan(TINY, seed=3, log_every=2)
    c = train_gan(TINY, seed=4, log_every=2)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads
    assert isinstance(a, GANTrainingResult)
    _assert_same_state(_state(a.generator), _state(b.generator))
    _assert_same_state(_state(a.discriminator), _state(b.discriminator))
    np.testing.assert_array_equal(a.log.d_loss, b.log.d_loss)
    assert not torch.equal(a.generator.net[0].weight, c.generator.net[0].weight)
    assert seen == [2, 4, 5]
    assert a.log.step.tolist() == [2, 4, 5]
    assert isinstance(a.log, TrainingLog)
    assert list(a.log.to_frame().columns) == ["step", "d_loss", "g_loss", "d_real"]
    assert np.isfinite(a.log.d_loss).all()
    assert np.isfinite(a.log.g_loss).all()
    assert not a.generator.training
    assert not a.discriminator.training
    assert not any(p.requires_grad for p in a.generator.parameters())


def test_training_changes_weights_and_zero_steps_does_not() -> None:
    init = GANConfig(**{**TINY.to_dict(), "steps": 0})
    untrained = train_gan(init, seed=0)
    assert untrained.log.step.size == 0
    trained = train_gan(TINY, seed=0)
    assert not torch.equal(untrained.generator.net[0].weight, trained.generator.net[0].weight)
    # The untrained generator is the initialisation from the same seed.
    fresh = init.build_generator(generator=torch.Generator().manual_seed(0))
    _assert_same_state(_state(fresh), _state(untrained.generator))


def test_latent_gradients_flow_through_a_trained_generator() -> None:
    g = train_gan(TINY, seed=0).generator
    z = torch.zeros(2, 2, requires_grad=True)
    g(z).sum().backward()
    assert z.grad is not None
    assert z.grad.shape == (2, 2)


def test_training_moves_the_generator_to_the_data_scale() -> None:
    # On the 9-mode grid (coordinates in {-2, 0, 2}, per-coordinate std sqrt(8/3) = 1.63) the
    # initial generator's output has std < 0.2; a few hundred steps spread it to the data scale.
    config = GANConfig(n=1, steps=400, g_width=32, d_width=32, g_depth=2, d_depth=2, batch_size=128)
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    before = config.build_generator(generator=torch.Generator().manual_seed(0))(z).detach()
    after = train_gan(config, seed=0).generator(z)
    assert float(before.std(dim=0).max()) < 0.2
    assert float(after.std(dim=0).max()) > 0.5


def test_minimax_loss_trains() -> None:
    result = train_gan(GANConfig(**{**TINY.to_dict(), "loss": "minimax", "d_steps": 2}), seed=1)
    assert np.isfinite(result.log.g_loss).all()
    assert float(result.log.g_loss[-1]) <= 0.0  # log(1 - D) is non-positive


def test_train_gan_validates() -> None:
    with pytest.raises(InvalidArgumentError, match="config"):
        train_gan({"steps": 1}, seed=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="seed"):
        train_gan(TINY, seed=-1)
    with pytest.raises(InvalidArgumentError, match="log_every"):
        train_gan(TINY, seed=0, log_every=0)
    with pytest.raises(InvalidArgumentError, match="callback"):
        train_gan(TINY, seed=0, callback=3)  # type: ignore[arg-type]
