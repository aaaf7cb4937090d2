"""The bundled VAE family of Section 4: recipes, loading of the shipped weights, and retraining.

Five small models are shipped under ``genloose/reference_models/weights/``, all trained on the
training split of :func:`~genloose.reference_models.digits.load_digits_28` (seed 0):

==========================  ===========================================================
file                        model
==========================  ===========================================================
``vae_vanilla_d2``          VAE, latent dimension 2 (Figure 4.1, left)
``vae_lc_d2``               LC-VAE, latent dimension 2 (Figure 4.1, right)
``vae_vanilla_d10``         VAE, latent dimension 10 (Figures 4.2, 4.3, metrics)
``vae_lc_d10``              LC-VAE, latent dimension 10
``digit_classifier``        the CNN classifier ``c`` (:mod:`.digit_classifier`)
==========================  ===========================================================

each as ``<name>.safetensors`` (tensors only: no pickle, no code runs on load), described by
``vae_manifest.json`` (recipe, SHA-256, size, metrics recorded when the file was made). Loading goes
through :data:`VAE_MANIFEST`, the reader and verifier all weights families share
(:class:`~genloose.reference_models.weights_io.WeightsManifest`): the manifest's fields, the file's size
and SHA-256, the recipe in the manifest and in the file's header against the recipe in this module, and
every tensor's name, shape, dtype and finiteness against the model; otherwise it raises
:class:`~genloose.reference_models.weights_io.WeightsFileError` naming the file and the field.
``retrain=True`` trains a fresh model with the same seeded recipe instead (seconds to a minute each on
one CPU core).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Literal

import torch

from genloose._validation import check_choice, check_int, check_progress, fail
from genloose.reference_models._training import digits_splits
from genloose.reference_models.digit_classifier import (
    ClassifierConfig,
    DigitClassifier,
    classifier_accuracy,
    train_digit_classifier,
)
from genloose.reference_models.digits import load_digits_28
from genloose.reference_models.vae import VAE, VAEConfig, reconstruction_error, train_vae
from genloose.reference_models.weights_io import WeightsManifest, weights_directory

__all__ = [
    "CLASSIFIER_RECIPE",
    "FAMILY_NAMES",
    "MANIFEST_NAME",
    "VAE_MANIFEST",
    "bundle_vae_family",
    "load_digit_classifier",
    "load_vae",
    "read_vae_manifest",
    "vae_name",
    "vae_recipe",
]

MANIFEST_NAME = "vae_manifest.json"
"""File name of the manifest beside the weights."""

FAMILY_NAMES = ("vae_vanilla_d2", "vae_lc_d2", "vae_vanilla_d10", "vae_lc_d10", "digit_classifier")
"""The bundled models, in training order."""

_KINDS = ("vae", "lc-vae")
_LATENT_DIMS = (2, 10)
_DATA_SEED = 0
_FORMAT = "genloose-vae-family-1"

VAE_MANIFEST = WeightsManifest(
    file_name=MANIFEST_NAME,
    format=_FORMAT,
    header_field="recipe",
    hint="regenerate the bundle with genloose.reference_models.vae_family.bundle_vae_family, or use retrain=True",
    header_extra={"format": _FORMAT},
)
"""Where the VAE family keeps what in its manifest (read and verified by :class:`WeightsManifest`)."""

# The recipe. The paper trains 20 epochs of MNIST (60,000 images, batch 300: 4,000 steps); the
# bundled data set has 1,438 training images, so one epoch is 5 steps of ~288 images and the
# recipe runs 150 epochs (750 steps) instead. Everything else is the paper's: batch 300, Adam 1e-3,
# lambda = 30, c = 0.30. The width multiplier 1/16 keeps each file near 0.2 MB.
_VAE_EPOCHS = 150
_VAE_WIDTH = 1 / 16
_LC_PENALTY = 30.0
_LC_CLIP = 0.30

CLASSIFIER_RECIPE = ClassifierConfig(
    epochs=40, batch_size=64, learning_rate=1e-3, weight_decay=0.0, max_shift=0, seed=0
)
"""The recipe of the bundled digit classifier."""


def vae_name(kind: Literal["vae", "lc-vae"], latent_dim: int) -> str:
    """The bundle name of a VAE (``"vae_vanilla_d10"``, ``"vae_lc_d2"``, ...).

    Examples
    --------
    >>> vae_name("lc-vae", 10)
    'vae_lc_d10'
    """
    kind = check_choice("kind", kind, _KINDS)
    latent_dim = check_int("latent_dim", latent_dim)
    if latent_dim not in _LATENT_DIMS:
        raise fail("latent_dim", "2 or 10 (the bundled latent dimensions)", latent_dim)
    return f"vae_{'lc' if kind == 'lc-vae' else 'vanilla'}_d{int(latent_dim)}"


def vae_recipe(kind: Literal["vae", "lc-vae"], latent_dim: int) -> VAEConfig:
    """The training recipe of a bundled VAE.

    Batch 300, Adam with learning rate 1e-3, and for the LC-VAE ``λ = 30`` and ``c = 0.30``, as
    in Section 4.2 of the paper; width 1/16 and 150 epochs of the 1,438 training digits (750
    steps; the paper's 20 MNIST epochs are 4,000 steps); seed 0 for both kinds, so the VAE and
    the LC-VAE start from the same weights (before clipping) and see the same batches.

    Examples
    --------
    >>> recipe = vae_recipe("lc-vae", 10)
    >>> recipe.penalty_weight, recipe.clip_value, recipe.batch_size
    (30.0, 0.3, 300)
    """
    name = vae_name(kind, latent_dim)  # validates
    lc = "_lc_" in name
    return VAEConfig(
        latent_dim=int(latent_dim),
        width=_VAE_WIDTH,
        epochs=_VAE_EPOCHS,
        batch_size=300,
        learning_rate=1e-3,
        penalty_weight=_LC_PENALTY if lc else 0.0,
        clip_value=_LC_CLIP if lc else None,
        reconstruction="bce",
        seed=0,
    )


def load_vae(
    kind: Literal["vae", "lc-vae"] = "vae",
    latent_dim: int = 10,
    *,
    retrain: bool = False,
    weights_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> VAE:
    """A bundled VAE or LC-VAE, in eval mode.

    Parameters
    ----------
    kind : {"vae", "lc-vae"}
        The vanilla VAE or the LC-VAE.
    latent_dim : {2, 10}
        Latent dimension.
    retrain : bool
        Train a fresh model with :func:`vae_recipe` instead of loading the file.
    weights_dir : path, optional
        Directory holding the weights and manifest (default: the package's bundled weights).
    progress : bool or None
        Progress bar when retraining.

    Returns
    -------
    VAE
        Its ``decoder`` is the generator ``g`` of the metrics.

    Raises
    ------
    WeightsFileError
        If the weights file or the manifest is missing, or the file is corrupt or does not match
        the recipe (the message names the file).

    Examples
    --------
    >>> model = load_vae("lc-vae", 10)
    >>> model.decoder(torch.zeros(1, 10)).shape
    torch.Size([1, 1, 28, 28])
    """
    progress = check_progress(progress)
    recipe = vae_recipe(kind, latent_dim)
    if not isinstance(retrain, bool):
        raise fail("retrain", "a bool", retrain)
    if retrain:
        return train_vae(load_digits_28(split="train", seed=_DATA_SEED).images, recipe, progress=progress).model
    model = VAE(recipe.latent_dim, width=recipe.width)
    VAE_MANIFEST.load_into(model, weights_directory(weights_dir), vae_name(kind, latent_dim), recipe.to_dict())
    return model


def load_digit_classifier(
    *,
    retrain: bool = False,
    weights_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> DigitClassifier:
    """The bundled digit classifier (logits ``(n, 10)``), in eval mode.

    Parameters
    ----------
    retrain : bool
        Train a fresh one with :data:`CLASSIFIER_RECIPE` instead of loading the file.
    weights_dir : path, optional
        Directory holding the weights and manifest (default: the bundled weights).
    progress : bool or None
        Progress bar when retraining.

    Returns
    -------
    DigitClassifier

    Raises
    ------
    WeightsFileError
        If the weights file or the manifest is missing, corrupt or does not match the recipe.

    Examples
    --------
    >>> load_digit_classifier()(torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 10])
    """
    progress = check_progress(progress)
    if not isinstance(retrain, bool):
        raise fail("retrain", "a bool", retrain)
    if retrain:
        train = load_digits_28(split="train", seed=_DATA_SEED)
        return train_digit_classifier(train.images, train.labels, CLASSIFIER_RECIPE, progress=progress).model
    model = DigitClassifier()
    VAE_MANIFEST.load_into(model, weights_directory(weights_dir), "digit_classifier", CLASSIFIER_RECIPE.to_dict())
    return model


def read_vae_manifest(weights_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The manifest of a weights directory (recipes, SHA-256 and metrics at bundling time).

    Examples
    --------
    >>> manifest = read_vae_manifest()
    >>> sorted(manifest["models"]) == sorted(FAMILY_NAMES)
    True
    """
    return VAE_MANIFEST.read(weights_directory(weights_dir))


def bundle_vae_family(
    directory: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train the five models with their recipes and write them, with the manifest, to ``directory``.

    This is how the bundled files were made (``directory=None`` writes into the package). Each
    file is written atomically; if any exists, the call fails before training
    (:class:`~genloose.InvalidArgumentError`) unless ``overwrite=True``. The
    manifest records, per model, the recipe, the file's SHA-256 and size, the training time and
    metrics: the final training loss, and the test-split reconstruction error (VAEs) or accuracy
    (classifier).

    Parameters
    ----------
    directory : path, optional
        Output directory (created if needed). Default: the package's weights directory.
    overwrite : bool
        Replace existing files.
    progress : bool or None
        Progress bars.

    Returns
    -------
    dict
        The manifest.

    Examples
    --------
    >>> bundle_vae_family("/tmp/my-vae-weights")  # doctest: +SKIP
    """
    progress = check_progress(progress)
    from genloose._io import atomic_write_text, check_destination

    target = weights_directory(directory, "directory")
    if not isinstance(overwrite, bool):
        raise fail("overwrite", "a bool", overwrite)
    target.mkdir(parents=True, exist_ok=True)
    for path in [target / f"{name}.safetensors" for name in FAMILY_NAMES] + [
        target / MANIFEST_NAME
    ]:  # fail fast, before any training
        check_destination(path, overwrite=overwrite, name="directory")
    train, test, data = digits_splits(_DATA_SEED)
    models: dict[str, Any] = {}
    for name in FAMILY_NAMES:
        start = time.perf_counter()
        if name == "digit_classifier":
            recipe = CLASSIFIER_RECIPE.to_dict()
            model, log = train_digit_classifier(train.images, train.labels, CLASSIFIER_RECIPE, progress=progress)
            metrics = {
                "final_train_loss": log.final["loss"],
                "final_train_accuracy": log.final["accuracy"],
                "test_accuracy": classifier_accuracy(model, test.images, test.labels).to_dict(),
            }
        else:
            latent_dim = 2 if name.endswith("_d2") else 10
            kind: Literal["vae", "lc-vae"] = "lc-vae" if "_lc_" in name else "vae"
            config = vae_recipe(kind, latent_dim)
            recipe = config.to_dict()
            model, log = train_vae(train.images, config, progress=progress)
            metrics = {
                **{f"final_train_{key}": value for key, value in log.final.items() if key != "epoch"},
                "test_reconstruction_error": reconstruction_error(model, test.images).to_dict(),
            }
        seconds = time.perf_counter() - start
        path = target / f"{name}.safetensors"
        VAE_MANIFEST.save(model, path, recipe, overwrite=overwrite)
        models[name] = {
            **VAE_MANIFEST.record(path),
            "recipe": recipe,
            "steps": log.steps,
            "training_seconds": round(seconds, 1),
            "metrics": metrics,
        }
    manifest = {
        "format": _FORMAT,
        "data": data,
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "models": models,
    }
    atomic_write_text(
        target / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n", overwrite=overwrite
    )
    return manifest
