"""Reference models that validate the metrics: 2D-grid GANs (Section 3.1), VAE / LC-VAE (Section 4), digit DCGANs.

Bundled weights are small safetensors files inside the package (no pickle, no code execution on load); nothing is
downloaded. Every loader can also retrain from the recorded recipe.
"""

from genloose.reference_models.digit_classifier import DigitClassifier, train_digit_classifier
from genloose.reference_models.digits import load_digits_28, load_mnist_idx, read_idx
from genloose.reference_models.gan import GANConfig, GridDiscriminator, GridGenerator, train_gan
from genloose.reference_models.grid import NearestMeanClassifier, grid_means, sample_grid
from genloose.reference_models.grid_family import (
    GRID_FAMILY,
    GridGAN,
    load_grid_family,
    load_grid_gan,
    retrain_family,
)
from genloose.reference_models.image_gan import (
    DCGANConfig,
    DigitCNN,
    DigitCNNConfig,
    DigitDCGANGenerator,
    generated_class_frequencies,
    load_digit_cnn,
    load_digit_dcgan,
    retrain_image_models,
    train_digit_cnn,
    train_digit_dcgan,
)
from genloose.reference_models.vae import VAE, VAEConfig, lipschitz_penalty, train_vae
from genloose.reference_models.vae_family import load_digit_classifier, load_vae
from genloose.reference_models.weights_io import WeightsFileError

__all__ = [
    "GRID_FAMILY",
    "VAE",
    "DCGANConfig",
    "DigitCNN",
    "DigitCNNConfig",
    "DigitClassifier",
    "DigitDCGANGenerator",
    "GANConfig",
    "GridDiscriminator",
    "GridGAN",
    "GridGenerator",
    "NearestMeanClassifier",
    "VAEConfig",
    "WeightsFileError",
    "generated_class_frequencies",
    "grid_means",
    "lipschitz_penalty",
    "load_digit_classifier",
    "load_digit_cnn",
    "load_digit_dcgan",
    "load_digits_28",
    "load_grid_family",
    "load_grid_gan",
    "load_mnist_idx",
    "load_vae",
    "read_idx",
    "retrain_family",
    "retrain_image_models",
    "sample_grid",
    "train_digit_classifier",
    "train_digit_cnn",
    "train_digit_dcgan",
    "train_gan",
    "train_vae",
]
