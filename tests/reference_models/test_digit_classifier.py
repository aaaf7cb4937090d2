"""Tests of genloose.reference_models.digit_classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from genloose._errors import InvalidArgumentError
from genloose.reference_models.digit_classifier import (
    ClassifierConfig,
    DigitClassifier,
    _shift,
    classifier_accuracy,
    train_digit_classifier,
)
from tests.reference_models._fixtures import one_torch_thread  # noqa: F401 (autouse)


def _data(count: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 1, 28, 28, generator=generator), torch.arange(count) % 10


def test_logits_shape_and_parameter_count() -> None:
    model = DigitClassifier().eval()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert sum(p.numel() for p in model.parameters()) == (
        (9 * 16 + 16) + (9 * 16 * 32 + 32) + (9 * 32 * 32 + 32) + (288 * 64 + 64) + (64 * 10 + 10)
    )


def test_input_validation() -> None:
    with pytest.raises(InvalidArgumentError, match=r"images must be a tensor of shape"):
        DigitClassifier()(torch.zeros(2, 28, 28))


@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (2, 0), (0, -1), (-2, 3), (1, 1)])
def test_shift_matches_brute_force(dy: int, dx: int) -> None:
    images, _ = _data(2)
    shifted = _shift(images, dy, dx)
    expected = torch.zeros_like(images)
    for y in range(28):
        for x in range(28):
            if 0 <= y - dy < 28 and 0 <= x - dx < 28:
                expected[..., y, x] = images[..., y - dy, x - dx]
    assert torch.equal(shifted, expected)


def test_training_is_deterministic_and_leaves_global_rng_alone() -> None:
    images, labels = _data()
    config = ClassifierConfig(epochs=2, batch_size=8, max_shift=2, seed=3)
    state = torch.get_rng_state()
    first = train_digit_classifier(images, labels, config, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    second = train_digit_classifier(images, labels, config, progress=False)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert first.log.steps == 2 * 3
    assert not first.model.training


def test_training_fits_a_tiny_set() -> None:
    images, labels = _data(20)
    model, log = train_digit_classifier(
        images,
        labels,
        ClassifierConfig(epochs=60, batch_size=20, learning_rate=3e-3),
        progress=False,
    )
    assert log.records[-1]["loss"] < log.records[0]["loss"]
    assert classifier_accuracy(model, images, labels).value == 1.0


def test_accuracy_matches_brute_force_and_scipy_wilson_interval() -> None:
    images, _ = _data(37, seed=1)
    model = DigitClassifier().eval()
    with torch.no_grad():
        predictions = model(images).argmax(dim=1)
    labels = predictions.clone()
    labels[::3] = (labels[::3] + 1) % 10  # 13 of 37 wrong
    result = classifier_accuracy(model, images, labels, batch_size=5)
    correct = int((predictions == labels).sum())
    assert correct == 24
    assert result.value == pytest.approx(correct / 37)
    assert result.stderr == pytest.approx(np.sqrt(result.value * (1 - result.value) / 37))
    wilson = binomtest(correct, 37).proportion_ci(confidence_level=0.95, method="wilson")
    assert result.ci_low == pytest.approx(wilson.low, rel=1e-9)
    assert result.ci_high == pytest.approx(wilson.high, rel=1e-9)


def test_bundled_classifier_exceeds_95_percent_on_the_held_out_split() -> None:
    from genloose.reference_models.digits import load_digits_28
    from genloose.reference_models.vae_family import load_digit_classifier

    test = load_digits_28(split="test")
    result = classifier_accuracy(load_digit_classifier(), test.images, test.labels)
    assert result.value > 0.95


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (torch.zeros(3, 1, 28, 28), torch.zeros(2, dtype=torch.int64), "labels must be an int64"),
        (torch.zeros(3, 1, 28, 28), torch.zeros(3), "labels must be an int64"),
        (torch.zeros(2, 1, 28, 28), torch.tensor([0, 10]), r"labels must lie in 0\.\.9"),
        (torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.int64), "at least 1 image"),
        (torch.zeros(2, 1, 14, 14), torch.zeros(2, dtype=torch.int64), "images must be a"),
    ],
)
def test_labelled_input_validation(images: torch.Tensor, labels: torch.Tensor, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        classifier_accuracy(DigitClassifier(), images, labels)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"max_shift": 14}, "max_shift must be an integer <= 13"),
        ({"weight_decay": -1.0}, "weight_decay must be a number >= 0"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ClassifierConfig(**kwargs)
