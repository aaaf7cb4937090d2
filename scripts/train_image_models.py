"""Retrain the bundled image models (the digit CNN and the DCGAN generators at d = 64 and 128).

Runs :func:`genloose.reference_models.image_gan.retrain_image_models` with the recipes recorded in that
module, which writes ``digit_cnn.safetensors``, ``dcgan_d64.safetensors``, ``dcgan_d128.safetensors`` and
``image_manifest.json`` into the output directory, then saves a PNG grid of 64 samples of each generator
(the first 64 latents of the manifest's evaluation set) with the classifier's labels::

    python scripts/train_image_models.py --overwrite                      # into the package (~20 min, 1 core)
    python scripts/train_image_models.py --out /tmp/image-models --figures /tmp/figures
    python scripts/train_image_models.py --out /tmp/image-models --names digit_cnn
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from genloose.reference_models.image_gan import (
    DCGAN_LATENT_DIMS,
    EVAL_SEED,
    IMAGE_MODEL_NAMES,
    load_digit_cnn,
    load_digit_dcgan,
    retrain_image_models,
)

DEFAULT_FIGURES = Path(__file__).resolve().parents[1] / "docs" / "experiments" / "figures"


def sample_grid(latent_dim: int, weights_dir: Path | None, path: Path, *, rows: int = 8, scale: int = 2) -> np.ndarray:
    """Save ``rows x rows`` samples of the bundled generator as a PNG; return the classifier's labels."""
    import matplotlib.pyplot as plt

    generator = load_digit_dcgan(latent_dim, weights_dir=weights_dir)
    classifier = load_digit_cnn(weights_dir=weights_dir)
    latents = torch.randn(rows * rows, latent_dim, generator=torch.Generator().manual_seed(EVAL_SEED))
    with torch.no_grad():
        images = generator(latents)
        labels = classifier(images).argmax(dim=1).numpy()
    framed = torch.nn.functional.pad(images, (1, 1, 1, 1), value=0.35)  # grey frame around each sample
    side = framed.shape[-1]
    grid = framed.view(rows, rows, side, side).permute(0, 2, 1, 3).reshape(rows * side, rows * side).numpy()
    grid = np.kron(grid, np.ones((scale, scale)))
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, grid, cmap="gray", vmin=0.0, vmax=1.0)
    return labels.reshape(rows, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: the package's weights)")
    parser.add_argument("--names", nargs="*", default=None, help=f"models to retrain, of {list(IMAGE_MODEL_NAMES)}")
    parser.add_argument("--overwrite", action="store_true", help="replace existing weight files")
    parser.add_argument("--figures", type=Path, default=DEFAULT_FIGURES, help="where to save the sample grids")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads outside training")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    manifest = retrain_image_models(args.out, names=args.names, overwrite=args.overwrite, progress=True)
    for name, entry in manifest["models"].items():
        metrics = entry["metrics"]
        if name == "digit_cnn":
            summary = f"test accuracy {metrics['test_accuracy']['value']:.4f}"
        else:
            frequencies = " ".join(f"{value:.3f}" for value in metrics["class_frequencies"])
            summary = f"class frequencies [{frequencies}], min {metrics['min_class_frequency']:.4f}"
        print(f"{name}: {entry['training_seconds']} s, {entry['bytes']} bytes, {summary}")
    for latent_dim in DCGAN_LATENT_DIMS:
        path = args.figures / f"image_dcgan_d{latent_dim}_samples.png"
        labels = sample_grid(latent_dim, args.out, path)
        print(f"saved {path}; classifier labels by row:\n{labels}")
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
