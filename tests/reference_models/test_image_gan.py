"""Tests of genloose.reference_models.image_gan: the bundled DCGAN generators and CNN classifier."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from genloose._errors import InvalidArgumentError
from genloose.reference_models import image_gan
from genloose.reference_models.digit_classifier import classifier_accuracy
from genloose.reference_models.digits import load_digits_28
from genloose.reference_models.image_gan import (
    DCGAN_LATENT_DIMS,
    EVAL_SEED,
    IMAGE_MANIFEST_NAME,
    IMAGE_MODEL_NAMES,
    DCGANConfig,
    DigitCNN,
    DigitCNNConfig,
    DigitDCGANGenerator,
    generated_class_frequencies,
    image_model_recipe,
    load_digit_cnn,
    load_digit_dcgan,
    read_image_manifest,
    retrain_image_models,
    train_digit_cnn,
    train_digit_dcgan,
)
from tests.reference_models._fixtures import copy_bundle, one_torch_thread  # noqa: F401 (autouse)

_BUNDLED = Path(image_gan.__file__).resolve().parent / "weights"


@pytest.fixture(scope="module")
def classifier() -> DigitCNN:
    return load_digit_cnn()


@pytest.fixture
def weights_copy(tmp_path: Path) -> Path:
    return copy_bundle(_BUNDLED, tmp_path / "weights", IMAGE_MODEL_NAMES, IMAGE_MANIFEST_NAME)


def _latents(count: int, latent_dim: int, seed: int = EVAL_SEED) -> torch.Tensor:
    return torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------------
# The bundle as shipped


def test_manifest_lists_every_file_with_its_hash_recipe_and_the_files_are_small() -> None:
    manifest = read_image_manifest()
    assert sorted(manifest["models"]) == sorted(IMAGE_MODEL_NAMES)
    for name, entry in manifest["models"].items():
        path = _BUNDLED / entry["file"]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), name
        assert entry["bytes"] == path.stat().st_size < 2**20, name
        assert entry["recipe"] == image_model_recipe(name)
    assert manifest["environment"]["torch"]


@pytest.mark.parametrize("latent_dim", DCGAN_LATENT_DIMS)
def test_bundled_generators_are_eval_mode_and_map_latents_to_images_in_the_unit_interval(latent_dim: int) -> None:
    generator = load_digit_dcgan(latent_dim)
    assert isinstance(generator, DigitDCGANGenerator)
    assert generator.latent_dim == latent_dim
    assert not generator.training
    assert not any(module.training for module in generator.modules())
    assert not any(parameter.requires_grad for parameter in generator.parameters())
    with torch.no_grad():
        images = generator(_latents(64, latent_dim))
    assert images.shape == (64, 1, 28, 28)
    assert images.dtype == torch.float32
    assert float(images.min()) >= 0.0
    assert float(images.max()) <= 1.0
    assert float(images.std()) > 0.1  # not a constant image


def test_bundled_classifier_reaches_98_percent_on_the_test_split(classifier: DigitCNN) -> None:
    assert not classifier.training
    test = load_digits_28(split="test")
    accuracy = classifier_accuracy(classifier, test.images, test.labels)
    assert accuracy.value >= 0.98
    recorded = read_image_manifest()["models"]["digit_cnn"]["metrics"]["test_accuracy"]["value"]
    assert accuracy.value == recorded


@pytest.mark.parametrize("latent_dim", DCGAN_LATENT_DIMS)
def test_generated_samples_cover_all_ten_classes(latent_dim: int, classifier: DigitCNN) -> None:
    frequencies = generated_class_frequencies(load_digit_dcgan(latent_dim), classifier, num_samples=2000)
    assert frequencies.shape == (10,)
    assert frequencies.sum() == pytest.approx(1.0)
    assert frequencies.min() >= 0.02, frequencies
    recorded = read_image_manifest()["models"][f"dcgan_d{latent_dim}"]["metrics"]["class_frequencies"]
    assert min(recorded) >= 0.03


@pytest.mark.parametrize(
    ("num_samples", "latent_dim", "rows"),
    [(1001, 3, 100), (37, 5, 4), (17, 1, 3), (19, 1, 16), (1000, 10, 7), (5, 7, 2), (3, 3, 1), (300, 64, 1000)],
)
def test_streamed_latents_are_the_whole_draw(num_samples: int, latent_dim: int, rows: int) -> None:
    # shapes whose parts are not all multiples of 16 entries: the cases where naive parts differ from one draw
    parts = list(image_gan._streamed_randn(num_samples, latent_dim, EVAL_SEED, rows))
    assert torch.equal(torch.cat(parts), _latents(num_samples, latent_dim))
    for part in parts[:-1]:
        assert part.shape[0] % rows == 0
        assert part.numel() % 16 == 0
    assert max(part.shape[0] for part in parts) < rows * 16 + 16  # a whole number of rows, and a tail under 16


def _whole_draw_frequencies(generator: torch.nn.Module, classifier: torch.nn.Module, n: int, d: int) -> np.ndarray:
    """generated_class_frequencies as it was: all n latents drawn at once, then labelled in batches of 7."""
    with torch.no_grad():
        labels = torch.cat([classifier(generator(chunk)).argmax(dim=1) for chunk in _latents(n, d).split(7)])
    return np.bincount(labels.numpy(), minlength=10).astype(np.float64) / n


def test_generated_class_frequencies_label_the_latents_one_part_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    generator, classifier = torch.nn.Linear(3, 10).eval(), torch.nn.Tanh()  # float32 matrix products: batch-sensitive
    expected = _whole_draw_frequencies(generator, classifier, 2001, 3)
    drawn: list[int] = []
    randn = torch.randn

    def recording(*size: int, **kwargs: object) -> torch.Tensor:
        drawn.append(size[0])
        return randn(*size, **kwargs)

    monkeypatch.setattr(torch, "randn", recording)
    frequencies = generated_class_frequencies(generator, classifier, num_samples=2001, latent_dim=3, batch_size=7)
    np.testing.assert_array_equal(frequencies, expected)
    assert max(drawn) <= 7 * 16 + 16  # one part: whole batches, a whole number of 16 entries; never the 2001 rows


def test_input_gradients_flow_through_generator_and_classifier(classifier: DigitCNN) -> None:
    generator = load_digit_dcgan(64)
    latents = _latents(5, 64).requires_grad_()
    (gradient,) = torch.autograd.grad(generator(latents).sum(), latents)
    assert gradient.shape == latents.shape
    assert bool(torch.isfinite(gradient).all())
    assert bool(gradient.abs().sum() > 0)
    logits = classifier(generator(latents))
    (gradient,) = torch.autograd.grad(logits[:, 3].sum(), latents)
    assert bool(gradient.abs().sum() > 0)


def test_outputs_are_deterministic_and_independent_of_the_batch(classifier: DigitCNN) -> None:
    generator = load_digit_dcgan(128)
    latents = _latents(64, 128)
    with torch.no_grad():
        batch = generator(latents)
        assert torch.equal(batch, generator(latents.clone()))
        singles = torch.cat([generator(latents[i : i + 1]) for i in range(64)])
        torch.testing.assert_close(singles, batch, rtol=1e-5, atol=1e-6)
        labels = classifier(batch).argmax(dim=1)
        single_labels = torch.cat([classifier(singles[i : i + 1]).argmax(dim=1) for i in range(64)])
    assert torch.equal(labels, single_labels)
    assert torch.equal(labels, classifier(batch).argmax(dim=1))


def test_loading_leaves_the_global_rng_alone() -> None:
    state = torch.get_rng_state()
    load_digit_dcgan(64)
    load_digit_cnn()
    assert torch.equal(torch.get_rng_state(), state)


# --------------------------------------------------------------------------------------------
# Failure modes


@pytest.mark.parametrize("latent_dim", [32, 10, 0, -64, "64", 64.0, True, None])
def test_unbundled_or_malformed_latent_dims_are_refused(latent_dim: object) -> None:
    with pytest.raises(InvalidArgumentError, match="latent_dim"):
        load_digit_dcgan(latent_dim)  # type: ignore[arg-type]


def test_the_message_names_the_accepted_latent_dims() -> None:
    with pytest.raises(InvalidArgumentError, match=r"64 or 128.*got 32"):
        load_digit_dcgan(32)


def test_wrong_latents_are_refused_with_the_expected_shape() -> None:
    generator = load_digit_dcgan(64)
    with pytest.raises(InvalidArgumentError, match=r"latents must be .*\(n, 64\)"):
        generator(torch.zeros(2, 128))
    with pytest.raises(InvalidArgumentError, match="images must be"):
        load_digit_cnn()(torch.zeros(2, 28, 28))


def test_retraining_refuses_existing_files_and_unknown_names_before_any_training(weights_copy: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="overwrite=True"):
        retrain_image_models(weights_copy)
    with pytest.raises(InvalidArgumentError, match="name must be one of"):
        retrain_image_models(weights_copy, names=["dcgan_d32"])
    with pytest.raises(InvalidArgumentError, match="names must be"):
        retrain_image_models(weights_copy, names="digit_cnn")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Retraining is deterministic given the seed


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in module.state_dict().items()}


def _equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_a_few_dcgan_steps_are_deterministic_given_the_seed_and_leave_the_global_rng_alone() -> None:
    images = load_digits_28(split="train").images[:32]
    config = DCGANConfig(epochs=2, batch_size=16)  # 4 steps
    state = torch.get_rng_state()
    first = train_digit_dcgan(16, seed=3, config=config, images=images, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    second = train_digit_dcgan(16, seed=3, config=config, images=images, progress=False)
    other = train_digit_dcgan(16, seed=4, config=config, images=images, progress=False)
    assert first.log.steps == 4
    assert len(first.log.records) == 2
    assert _equal_states(_state(first.generator), _state(second.generator))
    assert _equal_states(_state(first.discriminator), _state(second.discriminator))
    assert first.log.records == second.log.records
    assert not _equal_states(_state(first.generator), _state(other.generator))
    assert not first.generator.training
    # the initial weights are those of DigitDCGANGenerator(d, seed=seed)
    untrained = train_digit_dcgan(
        16, seed=3, config=DCGANConfig(epochs=1, batch_size=32, learning_rate=1e-30), images=images, progress=False
    )
    fresh = DigitDCGANGenerator(16, seed=3)
    torch.testing.assert_close(untrained.generator.project.weight, fresh.project.weight)


def test_a_short_cnn_training_is_deterministic_given_the_seed() -> None:
    train = load_digits_28(split="train")
    images, labels = train.images[:48], train.labels[:48]
    config = DigitCNNConfig(epochs=1, batch_size=16, seed=5)
    state = torch.get_rng_state()
    first = train_digit_cnn(images, labels, config, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    second = train_digit_cnn(images, labels, config, progress=False)
    assert first.log.steps == 3
    assert _equal_states(_state(first.model), _state(second.model))
    assert not first.model.training


def test_the_dcgan_recipe_is_the_documented_one() -> None:
    recipe = image_model_recipe("dcgan_d128")
    config = recipe["config"]
    assert recipe["latent_dim"] == 128
    assert recipe["seed"] == 0
    assert (config["learning_rate"], config["beta1"], config["beta2"]) == (2e-4, 0.5, 0.999)
    assert np.isclose(image_model_recipe("digit_cnn")["config"]["learning_rate"], 1e-3)
