"""Tests of genloose.reference_models.vae: architecture, loss terms, LC-VAE penalty and clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from genloose._errors import InvalidArgumentError
from genloose.reference_models.vae import (
    VAE,
    Decoder,
    Encoder,
    TrainingLog,
    VAEConfig,
    channel_widths,
    clip_encoder_weights_,
    clipped_parameters,
    kl_divergence,
    lipschitz_penalty,
    reconstruction_error,
    train_vae,
)
from tests.reference_models._fixtures import one_torch_thread  # noqa: F401 (autouse)


def _images(count: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------------
# Architecture (Tables 1 and 2)


def test_full_width_matches_tables_1_and_2() -> None:
    model = VAE(10, width=1.0)
    convs = [m for m in model.encoder.features if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 128), (128, 256), (256, 512), (512, 1024)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.encoder.features) == 4
    # the paper's heads have 1024 inputs: the last feature map must be 1024 x 1 x 1
    assert model.encoder.mean.in_features == 1024
    assert model.encoder.log_variance.in_features == 1024
    assert model.encoder.mean.out_features == 10
    assert model.decoder.project[0].out_features == 12544  # 256 x 7 x 7
    transposed = [m for m in model.decoder.upsample if isinstance(m, nn.ConvTranspose2d)]
    assert [(t.in_channels, t.out_channels) for t in transposed] == [(256, 128), (128, 1)]
    assert all(t.kernel_size == (4, 4) and t.stride == (2, 2) for t in transposed)
    features = model.encoder.features.eval()(torch.zeros(2, 1, 28, 28))
    assert features.shape == (2, 1024)


@pytest.mark.parametrize("latent_dim", [1, 2, 10])
@pytest.mark.parametrize("width", [1 / 16, 1 / 8])
def test_shapes_and_output_range(latent_dim: int, width: float) -> None:
    model = VAE(latent_dim, width=width).eval()
    with torch.no_grad():
        mean, log_variance = model.encoder(_images(3))
        images = model.decoder(torch.randn(3, latent_dim, generator=torch.Generator()))
    assert mean.shape == log_variance.shape == (3, latent_dim)
    assert images.shape == (3, 1, 28, 28)
    assert float(images.min()) > 0.0
    assert float(images.max()) < 1.0


def test_channel_widths_rounding_and_validation() -> None:
    assert channel_widths(0.5) == ((64, 128, 256, 512), (128, 64))
    assert channel_widths(1e-6) == ((1, 1, 1, 1), (1, 1))
    with pytest.raises(InvalidArgumentError, match="width must be a number > 0"):
        channel_widths(0)


def test_forward_is_the_reconstruction_through_the_mean() -> None:
    model = VAE(2).eval()
    images = _images(4)
    with torch.no_grad():
        expected = model.decoder(model.encoder(images)[0])
        assert torch.equal(model(images), expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Encoder(2)(torch.zeros(2, 28, 28)), r"images must be a tensor of shape"),
        (lambda: Encoder(2)(torch.zeros(2, 3, 28, 28)), r"images must be a tensor of shape"),
        (lambda: Encoder(2)(torch.zeros(2, 1, 28, 28, dtype=torch.int64)), "floating-point"),
        (lambda: Decoder(2)(torch.zeros(2, 3)), r"latents must be a tensor of shape \(n, 2\)"),
        (lambda: VAE(0), "latent_dim must be an integer >= 1"),
    ],
)
def test_input_validation(call, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        call()


# --------------------------------------------------------------------------------------------
# KL term


def test_kl_divergence_matches_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(1)
    mean = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    log_variance = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * log_variance))
    prior = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(dim=1)
    torch.testing.assert_close(kl_divergence(mean, log_variance), expected)


def test_kl_divergence_validates_shapes() -> None:
    with pytest.raises(InvalidArgumentError, match="log_variance must be a tensor of shape"):
        kl_divergence(torch.zeros(2, 3), torch.zeros(2, 4))


# --------------------------------------------------------------------------------------------
# LC-VAE penalty


def _penalty_brute_force(codes: np.ndarray, images: np.ndarray) -> float:
    n = codes.shape[0] // 2
    total = 0.0
    for i in range(n):
        numerator = sum((codes[i, k] - codes[i + n, k]) ** 2 for k in range(codes.shape[1]))
        diff = images[i].ravel() - images[i + n].ravel()
        denominator = float(np.dot(diff, diff))
        if denominator > 0:
            total += numerator / denominator
    return total


@given(
    half=st.integers(1, 6),
    dim=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    identical=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_penalty_matches_brute_force(half: int, dim: int, seed: int, identical: list[bool]) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(2 * half, dim))
    images = rng.random(size=(2 * half, 1, 4, 4))
    for i in range(half):
        if identical[i]:
            images[i + half] = images[i]
    result = lipschitz_penalty(torch.from_numpy(codes), torch.from_numpy(images))
    assert math.isclose(float(result), _penalty_brute_force(codes, images), rel_tol=1e-12, abs_tol=1e-12)


def test_penalty_on_a_real_encoder_batch_matches_brute_force() -> None:
    encoder = Encoder(10).eval()
    images = _images(8, seed=3)
    with torch.no_grad():
        codes, _ = encoder(images)
    expected = _penalty_brute_force(codes.double().numpy(), images.double().numpy())
    assert math.isclose(float(lipschitz_penalty(codes, images)), expected, rel_tol=1e-5)


def test_identical_pairs_contribute_zero_and_leave_gradients_finite() -> None:
    codes = torch.tensor([[1.0, 2.0], [3.0, 0.0], [1.0, 2.0], [0.0, 4.0]], requires_grad=True)
    images = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    penalty = lipschitz_penalty(codes, images)  # pair 0 identical; pair 1: 25 / 2
    assert float(penalty.detach()) == pytest.approx(12.5)
    penalty.backward()
    assert torch.isfinite(codes.grad).all()
    assert torch.equal(codes.grad[0], torch.zeros(2))
    assert torch.equal(codes.grad[2], torch.zeros(2))
    torch.testing.assert_close(codes.grad[1], torch.tensor([3.0, -4.0]))  # 2 (a - b) / 2


def test_all_identical_batch_gives_zero() -> None:
    images = torch.ones(4, 1, 2, 2)
    assert float(lipschitz_penalty(torch.randn(4, 3, generator=torch.Generator()), images)) == 0.0


@pytest.mark.parametrize(
    ("codes", "images", "message"),
    [
        (torch.zeros(3, 2), torch.zeros(3, 5), "even size"),
        (torch.zeros(0, 2), torch.zeros(0, 5), "even size"),
        (torch.zeros(4), torch.zeros(4, 5), "codes must be a tensor of shape"),
        (torch.zeros(4, 2), torch.zeros(2, 5), "images must be a tensor of shape"),
    ],
)
def test_penalty_validation(codes: torch.Tensor, images: torch.Tensor, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        lipschitz_penalty(codes, images)


# --------------------------------------------------------------------------------------------
# Clipping


def test_clipped_parameters_are_all_multiplicative_weights() -> None:
    encoder = Encoder(2)
    chosen = clipped_parameters(encoder)
    expected = {
        name for name, module in encoder.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))
    }
    assert set(chosen) == {f"{name}.weight" for name in expected}
    all_names = {name for name, _ in encoder.named_parameters()}
    assert set(chosen) <= all_names
    assert all(name.endswith(".bias") for name in all_names - set(chosen))


def test_clip_leaves_biases_and_small_weights_alone() -> None:
    encoder = Encoder(2)
    with torch.no_grad():
        encoder.mean.bias.fill_(5.0)
        encoder.features[1].bias.fill_(-7.0)
        encoder.mean.weight[0, 0] = 9.0
        encoder.mean.weight[0, 1] = 0.01
    clip_encoder_weights_(encoder, 0.3)
    with torch.no_grad():
        assert float(encoder.mean.bias[0]) == 5.0
        assert float(encoder.features[1].bias[0]) == -7.0
        assert float(encoder.mean.weight[0, 0]) == pytest.approx(0.3)
        assert float(encoder.mean.weight[0, 1]) == pytest.approx(0.01)
        assert float(encoder.features[1].weight.max()) == pytest.approx(0.3)  # BN scale, was 1


def test_lc_vae_encoder_weights_stay_within_c_during_training() -> None:
    c = 0.05  # small enough that every layer's initial weights exceed it somewhere
    config = VAEConfig(latent_dim=2, epochs=2, batch_size=8, penalty_weight=30.0, clip_value=c)
    model, log = train_vae(_images(24), config, progress=False)
    c32 = float(torch.tensor(c))
    for name, parameter in clipped_parameters(model.encoder).items():
        assert float(parameter.detach().abs().max()) <= c32, name
    # the constraint is active: some weight sits on the boundary
    assert max(float(p.detach().abs().max()) for p in clipped_parameters(model.encoder).values()) == c32
    assert all(record["max_abs_clipped"] <= c32 for record in log.records)
    assert log.steps == 6


def test_vanilla_vae_is_not_clipped() -> None:
    _model, log = train_vae(_images(16), VAEConfig(latent_dim=2, epochs=1, batch_size=8), progress=False)
    assert log.final["max_abs_clipped"] > 0.3  # BN scales start at 1
    assert log.final["penalty"] == 0.0


# --------------------------------------------------------------------------------------------
# Trainer


def test_trainer_is_deterministic_and_leaves_global_rng_alone() -> None:
    config = VAEConfig(latent_dim=2, epochs=1, batch_size=8, penalty_weight=1.0, clip_value=0.3, seed=5)
    images = _images(16)
    state = torch.get_rng_state()
    first = train_vae(images, config, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    second = train_vae(images, config, progress=False)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert first.log.records == second.log.records
    other = train_vae(images, VAEConfig(latent_dim=2, epochs=1, batch_size=8, seed=6), progress=False)
    assert not torch.equal(other.model.decoder.project[0].weight, first.model.decoder.project[0].weight)


def test_trainer_returns_eval_model_and_a_complete_log() -> None:
    model, log = train_vae(_images(10), VAEConfig(latent_dim=2, epochs=2, batch_size=4), progress=False)
    assert not model.training
    assert log.steps == 2 * 3  # ceil(10 / 4) = 3 nearly equal batches per epoch
    frame = log.to_frame()
    assert list(frame["epoch"]) == [1.0, 2.0]
    assert {"loss", "reconstruction", "kl", "penalty", "skipped_pairs", "max_abs_clipped"} <= set(frame.columns)
    for record in log.records:
        assert record["loss"] == pytest.approx(record["reconstruction"] + record["kl"])


def test_identical_images_are_counted_as_skipped_pairs() -> None:
    images = torch.full((8, 1, 28, 28), 0.5)  # every pair identical
    _, log = train_vae(images, VAEConfig(latent_dim=2, epochs=1, batch_size=8, penalty_weight=30.0), progress=False)
    assert log.final["skipped_pairs"] == 4
    assert log.final["penalty"] == 0.0
    assert math.isfinite(log.final["loss"])


def test_training_reduces_the_loss_on_real_digits() -> None:
    from genloose.reference_models.digits import load_digits_28

    images = load_digits_28(split="train").images[:200]
    _, log = train_vae(images, VAEConfig(latent_dim=2, epochs=6, batch_size=50), progress=False)
    assert log.records[-1]["loss"] < 0.95 * log.records[0]["loss"]


def test_a_strong_penalty_contracts_the_encoder() -> None:
    from genloose.reference_models.digits import load_digits_28

    images = load_digits_28(split="train").images[:200]

    def mean_ratio(weight: float) -> float:
        config = VAEConfig(latent_dim=2, epochs=4, batch_size=50, penalty_weight=weight)
        model, _ = train_vae(images, config, progress=False)
        with torch.no_grad():
            codes, _ = model.encoder(images)
        return float(lipschitz_penalty(codes, images)) / 100

    assert mean_ratio(1e4) < 0.5 * mean_ratio(0.0)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(1, 1, 28, 28), "at least 2 images"),
        (torch.full((2, 1, 28, 28), 1.5), r"values in \[0, 1\]"),
        (torch.full((2, 1, 28, 28), math.nan), r"values in \[0, 1\]"),
        (np.zeros((2, 1, 28, 28)), "images must be a torch.Tensor"),
    ],
)
def test_trainer_validates_images(images, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        train_vae(images, VAEConfig(epochs=1), progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 1}, "batch_size must be an integer >= 2"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"penalty_weight": -1.0}, "penalty_weight must be a number >= 0"),
        ({"clip_value": 0.0}, "clip_value must be a number > 0"),
        ({"reconstruction": "l1"}, "reconstruction must be one of"),
        ({"learning_rate": math.inf}, "learning_rate must be a finite"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        VAEConfig(**kwargs)


def test_sse_reconstruction_trains() -> None:
    _, log = train_vae(
        _images(8), VAEConfig(latent_dim=2, epochs=1, batch_size=4, reconstruction="sse"), progress=False
    )
    assert 0 < log.final["reconstruction"] < 784  # squared errors of values in [0, 1]


def test_training_log_final_requires_a_record() -> None:
    with pytest.raises(InvalidArgumentError, match="at least one epoch"):
        _ = TrainingLog().final


# --------------------------------------------------------------------------------------------
# Reconstruction error


def test_reconstruction_error_matches_brute_force_and_batching() -> None:
    model = VAE(2)
    model.train()
    images = _images(7, seed=9)
    result = reconstruction_error(model, images, batch_size=3)
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        errors = [float(((model(images[i : i + 1]) - images[i : i + 1]) ** 2).sum()) for i in range(7)]
    assert result.value == pytest.approx(np.mean(errors), rel=1e-5)
    assert result.stderr == pytest.approx(np.std(errors, ddof=1) / math.sqrt(7), rel=1e-4)
    assert result.n == 7
    assert reconstruction_error(model, images, batch_size=7).value == pytest.approx(result.value, rel=1e-6)


def test_reconstruction_error_of_one_image_has_nan_stderr() -> None:
    assert math.isnan(reconstruction_error(VAE(2), _images(1)).stderr)


def test_construction_is_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    first, second, other = VAE(2, seed=1), VAE(2, seed=1), VAE(2, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.encoder.mean.weight, second.encoder.mean.weight)
    assert not torch.equal(first.encoder.mean.weight, other.encoder.mean.weight)
    # seed=None draws from (and advances) the global stream, like any nn.Module
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        unseeded = VAE(2, seed=None)
    assert torch.equal(unseeded.decoder.project[0].weight, first.decoder.project[0].weight)
