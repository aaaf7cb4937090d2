"""The bundled family of GANs trained on the 2D grid, from full mode coverage to severe collapse.

Each member is a recipe (:class:`GridGANRecipe`: a name, a :class:`~genloose.reference_models.gan.GANConfig`
and a training seed) kept here as data; :func:`retrain_family` trains every recipe with
:func:`~genloose.reference_models.gan.train_gan` and writes the generator weights
(``grid_<name>.safetensors``) and a manifest (``grid_family.json``: the recipes, the SHA-256 of each
file and the mode metrics measured at bundling time) into a directory. The package ships the result
in ``genloose/reference_models/weights/``; :func:`load_grid_gan` and :func:`load_grid_family` read
it back, checking each file against the manifest and the architecture of its recipe.

The spread of mode collapse is obtained honestly, by training alone: generator capacity (width and
depth of the MLP), training length and the seed. Nothing is edited by hand. The members were chosen
from a small sweep (widths 4-128, depths 1-3, seeds 0-1) to span the range of support sizes; the
sweep itself is described in ``docs/experiments/grid.md``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genloose._validation import check_int, check_progress, fail
from genloose.metrics.modes import ModeMetrics, mode_metrics
from genloose.reference_models._training import prepare_out_dir, training_environment
from genloose.reference_models.gan import GANConfig, GridGenerator, _one_thread, train_gan
from genloose.reference_models.grid import GRID_STD, grid_means
from genloose.reference_models.weights_io import (
    BUNDLED_WEIGHTS_DIR,
    WeightsFileError,
    WeightsManifest,
    weights_directory,
)

__all__ = [
    "EVAL_NUM_SAMPLES",
    "EVAL_SEED",
    "GRID_FAMILY",
    "GRID_MANIFEST",
    "GridGAN",
    "GridGANRecipe",
    "default_weights_dir",
    "get_recipe",
    "load_grid_family",
    "load_grid_gan",
    "measure_grid_generator",
    "read_manifest",
    "retrain_family",
]

#: Seed of the latents used to measure the bundled metrics (independent of every training seed).
EVAL_SEED = 2018
#: Number of generated points per measurement (2,500 as in the PacGAN/VEEGAN protocol).
EVAL_NUM_SAMPLES = 2500
MANIFEST_NAME = "grid_family.json"
_MANIFEST_FORMAT = 1
#: Where the family keeps what in its manifest (read and verified by :class:`WeightsManifest`).
GRID_MANIFEST = WeightsManifest(
    file_name=MANIFEST_NAME,
    format=_MANIFEST_FORMAT,
    header_field="genloose_grid_recipe",
    hint="retrain it with genloose.reference_models.grid_family.retrain_family(out_dir, names=[...])",
    entries_field="members",
    listed=True,
    size_field="size_bytes",
    recipe_field=None,  # the recipe's fields (name, seed, description, config) stand in the entry
    weights_file="grid_{name}.safetensors",
)


@dataclass(frozen=True)
class GridGANRecipe:
    """How one member of the family is trained.

    Attributes
    ----------
    name : str
        Identifier (letters, digits, ``-``); the weights file is ``grid_<name>.safetensors``.
    config : GANConfig
        Architecture, optimiser and schedule.
    seed : int
        Training seed passed to :func:`~genloose.reference_models.gan.train_gan`.
    description : str
        What the recipe varies, in words.

    Examples
    --------
    >>> get_recipe(GRID_FAMILY[0].name).filename.startswith("grid_")
    True
    """

    name: str
    config: GANConfig
    seed: int
    description: str

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name
            or not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in self.name)
        ):
            raise fail("name", "a non-empty ASCII string of letters, digits and '-'", self.name)
        if not isinstance(self.config, GANConfig):
            raise fail("config", "a GANConfig", self.config)
        check_int("seed", self.seed, min_value=0)

    @property
    def filename(self) -> str:
        """The weights file name, ``grid_<name>.safetensors``."""
        return GRID_MANIFEST.weights_file.format(name=self.name)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON-serialisable data."""
        return {"name": self.name, "seed": self.seed, "description": self.description, "config": self.config.to_dict()}


def _recipe(name: str, seed: int, description: str, **config: Any) -> GridGANRecipe:
    return GridGANRecipe(name=name, config=GANConfig(**config), seed=seed, description=description)


#: The family, ordered from the widest generator to the most collapsed. Every member uses a
#: 2-D latent (as in PacGAN's 2D-grid experiments), batch 256, Adam(1e-3, betas (0.5, 0.999)), one
#: discriminator step per generator step and the same discriminator (3 x 128 LeakyReLU).
GRID_FAMILY: tuple[GridGANRecipe, ...] = (
    _recipe("w128d3-long", 0, "3 x 128 generator, 8000 steps", steps=8000, g_width=128, g_depth=3),
    _recipe("w128d3-short", 0, "3 x 128 generator stopped early at 4000 steps", steps=4000, g_width=128, g_depth=3),
    _recipe("w48d2", 0, "2 x 48 generator, 4000 steps", steps=4000, g_width=48, g_depth=2),
    _recipe("w32d1", 0, "1 x 32 generator, 4000 steps", steps=4000, g_width=32, g_depth=1),
    _recipe("w12d2", 0, "2 x 12 generator, 4000 steps", steps=4000, g_width=12, g_depth=2),
    _recipe("w32d1-s1", 1, "1 x 32 generator, 4000 steps, seed 1", steps=4000, g_width=32, g_depth=1),
    _recipe("w12d1-s1", 1, "1 x 12 generator, 4000 steps, seed 1", steps=4000, g_width=12, g_depth=1),
    _recipe("w12d2-s1", 1, "2 x 12 generator, 4000 steps, seed 1", steps=4000, g_width=12, g_depth=2),
    _recipe("w16d1", 0, "1 x 16 generator, 4000 steps", steps=4000, g_width=16, g_depth=1),
    _recipe("w12d1", 0, "1 x 12 generator, 4000 steps", steps=4000, g_width=12, g_depth=1),
)


def get_recipe(name: str) -> GridGANRecipe:
    """The recipe of the family member called ``name``.

    Examples
    --------
    >>> get_recipe("w12d1").config.g_width
    12
    """
    for recipe in GRID_FAMILY:
        if recipe.name == name:
            return recipe
    names = ", ".join(r.name for r in GRID_FAMILY)
    raise fail("name", f"the name of a family member ({names})", name)


def default_weights_dir() -> Path:
    """The directory of the bundled weights, ``genloose/reference_models/weights``.

    Examples
    --------
    >>> default_weights_dir().name
    'weights'
    """
    return BUNDLED_WEIGHTS_DIR


def measure_grid_generator(
    generator: torch.nn.Module,
    *,
    latent_dim: int,
    n: int = 2,
    num_samples: int = EVAL_NUM_SAMPLES,
    seed: int = EVAL_SEED,
) -> ModeMetrics:
    """Mode metrics of a 2D-grid generator on ``num_samples`` latents drawn with ``seed``.

    The latents are ``torch.randn(num_samples, latent_dim)`` from ``torch.Generator(seed)``; the
    generator runs on CPU in its own dtype under ``torch.no_grad`` with one thread, and the points
    go to :func:`~genloose.metrics.modes.mode_metrics` with the grid means and ``std = 0.05``
    (3 standard deviations for quality, ``min_count=1``, support threshold 1%).

    Parameters
    ----------
    generator : torch.nn.Module
        Maps ``(m, latent_dim)`` latents to ``(m, 2)`` points.
    latent_dim : int
        Latent dimension.
    n : int, default 2
        Half-width of the grid.
    num_samples : int, default 2500
        Points generated.
    seed : int, default EVAL_SEED
        Seed of the latents.

    Returns
    -------
    ModeMetrics

    Examples
    --------
    >>> gan = load_grid_gan("w128d3-long")
    >>> m = measure_grid_generator(gan.generator, latent_dim=gan.latent_dim)
    >>> m.modes_captured == gan.metrics["modes_captured"]
    True
    """
    if not isinstance(generator, torch.nn.Module):
        raise fail("generator", "a torch.nn.Module", generator)
    latent_dim = check_int("latent_dim", latent_dim, min_value=1)
    num_samples = check_int("num_samples", num_samples, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(num_samples, latent_dim, generator=rng)
    with _one_thread(), torch.no_grad():
        points = generator(z)
    if not isinstance(points, torch.Tensor) or tuple(points.shape) != (num_samples, 2):
        raise fail("generator", f"a module returning a tensor of shape ({num_samples}, 2)", points)
    return mode_metrics(points.double().numpy(), grid_means(n), std=GRID_STD)


@dataclass(frozen=True)
class GridGAN:
    """A loaded member of the family.

    Attributes
    ----------
    name : str
        The member's name.
    generator : GridGenerator
        The generator, in eval mode on CPU, parameters frozen (``requires_grad=False``; gradients
        with respect to the latents still flow).
    recipe : GridGANRecipe
        How it was trained.
    metrics : dict
        The metrics recorded in the manifest at bundling time (``modes_captured``,
        ``high_quality_fraction``, ``support_size``, the per-mode counts, ...).
    path : pathlib.Path
        The weights file.
    """

    name: str
    generator: GridGenerator
    recipe: GridGANRecipe
    metrics: dict[str, Any]
    path: Path

    @property
    def latent_dim(self) -> int:
        """The generator's latent dimension."""
        return self.recipe.config.latent_dim


def read_manifest(weights_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The manifest of a weights directory (the bundled one by default).

    Raises
    ------
    WeightsFileError
        If the manifest is missing or not a valid manifest.

    Examples
    --------
    >>> manifest = read_manifest()
    >>> manifest["evaluation"]["num_samples"]
    2500
    """
    return GRID_MANIFEST.read(weights_directory(weights_dir))


def load_grid_gan(name: str, *, weights_dir: str | os.PathLike[str] | None = None) -> GridGAN:
    """Load one generator of the family, validated against its recipe and the manifest.

    Parameters
    ----------
    name : str
        A member of :data:`GRID_FAMILY`.
    weights_dir : str or os.PathLike, optional
        Directory written by :func:`retrain_family`; the bundled weights by default.

    Returns
    -------
    GridGAN

    Raises
    ------
    InvalidArgumentError
        If ``name`` is not a member.
    WeightsFileError
        If the manifest, the member's entry or the file fails a check of
        :meth:`~genloose.reference_models.weights_io.WeightsManifest.load_into` (missing, malformed, a size or
        SHA-256 other than the manifest's, a stale recipe, tensors that do not match the recipe's architecture).

    Examples
    --------
    >>> gan = load_grid_gan("w12d1")
    >>> gan.generator(torch.zeros(3, gan.latent_dim)).shape
    torch.Size([3, 2])
    >>> sorted(gan.metrics)[:3]
    ['high_quality_counts', 'high_quality_fraction', 'min_count']
    """
    recipe = get_recipe(name)
    directory = weights_directory(weights_dir)
    generator = recipe.config.build_generator()
    entry = GRID_MANIFEST.load_into(generator, directory, recipe.name, recipe.to_dict())
    generator.requires_grad_(False)
    path = directory / recipe.filename
    return GridGAN(name=recipe.name, generator=generator, recipe=recipe, metrics=entry["metrics"], path=path)


def load_grid_family(*, weights_dir: str | os.PathLike[str] | None = None) -> list[GridGAN]:
    """Load every member of :data:`GRID_FAMILY`, in order (see :func:`load_grid_gan`).

    Examples
    --------
    >>> family = load_grid_family()
    >>> len(family) == len(GRID_FAMILY)
    True
    """
    return [load_grid_gan(recipe.name, weights_dir=weights_dir) for recipe in GRID_FAMILY]


def _write_json_atomic(path: Path, data: Any) -> None:
    from genloose._io import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2) + "\n", overwrite=True)


def retrain_family(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    names: list[str] | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> list[GridGAN]:
    """Train the family from its recipes and write weights and manifest into ``out_dir``.

    Every member is trained with :func:`~genloose.reference_models.gan.train_gan` (CPU, one
    thread, its recorded seed), saved with safetensors, and measured with
    :func:`measure_grid_generator` (seed :data:`EVAL_SEED`, :data:`EVAL_NUM_SAMPLES` points). The
    manifest keeps the entries of members not retrained when ``names`` selects a subset.

    Parameters
    ----------
    out_dir : str or os.PathLike, optional
        Destination directory (created if needed); the package's bundled weights directory by
        default, which then needs ``overwrite=True``.
    names : list of str, optional
        Members to retrain (all by default).
    overwrite : bool, default False
        Replace existing weight files; otherwise an existing file is an
        :class:`~genloose.InvalidArgumentError` (checked for every member before training starts).
    progress : bool or None, default None
        tqdm bar over members (None: on unless ``TQDM_DISABLE`` is set).

    Returns
    -------
    list of GridGAN
        The trained members, loaded back from the files written.

    Notes
    -----
    On the same machine and torch build the weights are bit-identical from run to run; across CPUs
    the floating-point results of training can differ in the last bits and the trajectories drift,
    so a retrained family elsewhere has the same recipe but possibly different metrics.

    Examples
    --------
    >>> import tempfile  # doctest: +SKIP
    >>> retrain_family(tempfile.mkdtemp(), names=["w12d1"])[0].name  # doctest: +SKIP
    'w12d1'
    """
    progress = check_progress(progress)
    directory = weights_directory(out_dir, "out_dir")
    if names is None:
        recipes = list(GRID_FAMILY)
    else:
        if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
            raise fail("names", "a non-empty list of member names or None", names)
        recipes = [get_recipe(name) for name in names]
    prepare_out_dir(directory, [r.filename for r in recipes], overwrite=overwrite, what="members")
    try:  # keep the entries of the members not retrained
        entries = {entry["name"]: entry for entry in read_manifest(directory)["members"]}
    except WeightsFileError:
        entries = {}
    from genloose._progress import progress_bar

    for recipe in progress_bar(recipes, progress=progress, desc="train grid family"):
        start = time.perf_counter()
        result = train_gan(recipe.config, seed=recipe.seed)
        seconds = time.perf_counter() - start
        path = directory / recipe.filename
        # one header key: safetensors orders several keys arbitrarily, which
        # would make the file bytes (and SHA-256) differ from run to run
        GRID_MANIFEST.save(result.generator, path, recipe.to_dict(), overwrite=True)
        metrics = measure_grid_generator(result.generator, latent_dim=recipe.config.latent_dim, n=recipe.config.n)
        entries[recipe.name] = {
            **recipe.to_dict(),
            **GRID_MANIFEST.record(path),
            "train_seconds": round(seconds, 1),
            "final_d_loss": float(result.log.d_loss[-1]) if len(result.log.step) else None,
            "final_g_loss": float(result.log.g_loss[-1]) if len(result.log.step) else None,
            "metrics": metrics.to_dict(),
        }
    order = {recipe.name: index for index, recipe in enumerate(GRID_FAMILY)}
    members = sorted(entries.values(), key=lambda e: order.get(e["name"], len(order)))
    _write_json_atomic(
        directory / MANIFEST_NAME,
        {
            "format": _MANIFEST_FORMAT,
            "description": "GANs trained on the 2D grid (25 Gaussians, std 0.05); see "
            "genloose.reference_models.grid_family",
            "evaluation": {
                "seed": EVAL_SEED,
                "num_samples": EVAL_NUM_SAMPLES,
                "latents": "torch.randn(num_samples, latent_dim, generator=torch.Generator().manual_seed(seed))",
                "quality_sigmas": 3.0,
                "min_count": 1,
                "support_min_fraction": 0.01,
            },
            "environment": training_environment(),
            "members": members,
        },
    )
    return [load_grid_gan(recipe.name, weights_dir=directory) for recipe in recipes]


def _main() -> None:  # pragma: no cover - the retraining entry point
    import argparse

    parser = argparse.ArgumentParser(description="Retrain the bundled 2D-grid GAN family.")
    parser.add_argument("--out", default=None, help="output directory (default: the package's)")
    parser.add_argument("--names", nargs="*", default=None, help="members to retrain")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = parser.parse_args()
    for gan in retrain_family(args.out, names=args.names, overwrite=args.overwrite, progress=True):
        m = gan.metrics
        print(
            f"{gan.name:>14}: modes captured {m['modes_captured']:2d}, support size "
            f"{m['support_size']:2d}, high-quality fraction {m['high_quality_fraction']:.3f}"
        )


if __name__ == "__main__":  # pragma: no cover
    _main()
