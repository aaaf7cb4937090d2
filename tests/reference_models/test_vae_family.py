"""Tests of genloose.reference_models.vae_family: bundled weights, validation, retraining."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from genloose._errors import InvalidArgumentError
from genloose.reference_models import vae_family
from genloose.reference_models.digit_classifier import ClassifierConfig, classifier_accuracy
from genloose.reference_models.digits import load_digits_28
from genloose.reference_models.vae import VAE, reconstruction_error
from genloose.reference_models.vae_family import (
    FAMILY_NAMES,
    MANIFEST_NAME,
    bundle_vae_family,
    load_digit_classifier,
    load_vae,
    read_vae_manifest,
    vae_name,
    vae_recipe,
)
from tests.reference_models._fixtures import one_torch_thread  # noqa: F401 (autouse)

_BUNDLED = Path(vae_family.__file__).resolve().parent / "weights"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# The bundle as shipped


def test_manifest_lists_every_file_with_its_hash_and_the_bundle_is_small() -> None:
    manifest = read_vae_manifest()
    assert sorted(manifest["models"]) == sorted(FAMILY_NAMES)
    total = 0
    for name, entry in manifest["models"].items():
        path = _BUNDLED / entry["file"]
        assert entry["sha256"] == _sha(path), name
        assert entry["bytes"] == path.stat().st_size
        total += entry["bytes"]
    assert total < 5 * 2**20


@pytest.mark.parametrize("kind", ["vae", "lc-vae"])
@pytest.mark.parametrize("latent_dim", [2, 10])
def test_bundled_vaes_load_and_match_their_recipe(kind: str, latent_dim: int) -> None:
    model = load_vae(kind, latent_dim)  # type: ignore[arg-type]
    assert isinstance(model, VAE)
    assert not model.training
    assert model.latent_dim == latent_dim
    entry = read_vae_manifest()["models"][vae_name(kind, latent_dim)]  # type: ignore[arg-type]
    assert entry["recipe"] == vae_recipe(kind, latent_dim).to_dict()  # type: ignore[arg-type]
    recipe = vae_recipe(kind, latent_dim)  # type: ignore[arg-type]
    if recipe.clip_value is not None:
        from genloose.reference_models.vae import clipped_parameters

        c32 = float(torch.tensor(recipe.clip_value))
        for parameter in clipped_parameters(model.encoder).values():
            assert float(parameter.detach().abs().max()) <= c32


def test_bundled_metrics_are_reproduced_from_the_files() -> None:
    test = load_digits_28(split="test")
    manifest = read_vae_manifest()["models"]
    for kind, latent_dim in [("vae", 10), ("lc-vae", 10)]:
        error = reconstruction_error(load_vae(kind, latent_dim), test.images)
        recorded = manifest[vae_name(kind, latent_dim)]["metrics"]["test_reconstruction_error"]
        assert error.value == pytest.approx(recorded["value"], rel=1e-5)
    accuracy = classifier_accuracy(load_digit_classifier(), test.images, test.labels)
    assert accuracy.value == manifest["digit_classifier"]["metrics"]["test_accuracy"]["value"]


def test_loading_leaves_the_global_rng_alone() -> None:
    state = torch.get_rng_state()
    load_vae("vae", 2)
    assert torch.equal(torch.get_rng_state(), state)


# --------------------------------------------------------------------------------------------
# Failure modes


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: load_vae("gan"), InvalidArgumentError, "kind must be one of"),  # type: ignore[arg-type]
        (lambda: load_vae("vae", 3), InvalidArgumentError, "latent_dim must be 2 or 10"),
        (lambda: load_vae("vae", 10, retrain=1), InvalidArgumentError, "retrain must be a bool"),  # type: ignore[arg-type]
        (lambda: load_vae("vae", 10, weights_dir=3), InvalidArgumentError, "weights_dir must be"),  # type: ignore[arg-type]
        (lambda: load_digit_classifier(retrain="yes"), InvalidArgumentError, "retrain must be"),  # type: ignore[arg-type]
    ],
)
def test_argument_validation(call, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------------------------
# Retraining and bundling (with the epochs patched down so the test takes seconds)


@pytest.fixture
def short_recipes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vae_family, "_VAE_EPOCHS", 1)
    monkeypatch.setattr(vae_family, "CLASSIFIER_RECIPE", ClassifierConfig(epochs=1, batch_size=256))


@pytest.mark.usefixtures("short_recipes")
def test_retrain_is_seeded() -> None:
    first = load_vae("lc-vae", 2, retrain=True, progress=False)
    second = load_vae("lc-vae", 2, retrain=True, progress=False)
    assert not first.training
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    classifier = load_digit_classifier(retrain=True, progress=False)
    assert classifier(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.usefixtures("short_recipes")
def test_bundle_round_trip_and_overwrite_policy(tmp_path: Path) -> None:
    manifest = bundle_vae_family(tmp_path, progress=False)
    assert sorted(manifest["models"]) == sorted(FAMILY_NAMES)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text()) == manifest
    assert manifest["models"]["vae_vanilla_d10"]["recipe"]["epochs"] == 1
    loaded = load_vae("lc-vae", 10, weights_dir=tmp_path)
    retrained = load_vae("lc-vae", 10, retrain=True, progress=False)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, retrained.state_dict()[key]), key
    load_digit_classifier(weights_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match="overwrite=True"):
        bundle_vae_family(tmp_path, progress=False)
    assert not list(tmp_path.glob("*.tmp"))
    bundle_vae_family(tmp_path, overwrite=True, progress=False)


@pytest.mark.slow
def test_retraining_with_the_real_recipe_reproduces_the_bundled_quality() -> None:
    test = load_digits_28(split="test")
    retrained = load_vae("vae", 2, retrain=True, progress=False)
    recorded = read_vae_manifest()["models"]["vae_vanilla_d2"]["metrics"]
    error = reconstruction_error(retrained, test.images)
    stored = recorded["test_reconstruction_error"]
    # same recipe and seed: identical on the bundling platform, and otherwise the two test means
    # should agree within their sampling error
    assert abs(error.value - stored["value"]) <= 4 * math.hypot(error.stderr, stored["stderr"])
