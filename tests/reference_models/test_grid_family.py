"""Tests of the bundled 2D-grid GAN family: loading, recorded metrics, validation, retraining."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from genloose._errors import InvalidArgumentError
from genloose.reference_models import grid_family
from genloose.reference_models.gan import GANConfig, train_gan
from genloose.reference_models.grid_family import (
    EVAL_NUM_SAMPLES,
    EVAL_SEED,
    GRID_FAMILY,
    GridGAN,
    GridGANRecipe,
    default_weights_dir,
    get_recipe,
    load_grid_family,
    load_grid_gan,
    measure_grid_generator,
    read_manifest,
    retrain_family,
)


@pytest.fixture(scope="module")
def family() -> list[GridGAN]:
    return load_grid_family()


def test_family_recipes_are_distinct_and_numerous() -> None:
    names = [recipe.name for recipe in GRID_FAMILY]
    assert len(names) >= 8
    assert len(set(names)) == len(names)
    assert len({(r.config, r.seed) for r in GRID_FAMILY}) == len(GRID_FAMILY)
    assert all(r.config.latent_dim == 2 and r.config.n == 2 for r in GRID_FAMILY)


def test_bundled_weights_load_and_reproduce_the_recorded_metrics(family: list[GridGAN]) -> None:
    state = torch.get_rng_state()
    manifest = read_manifest()
    assert manifest["evaluation"]["seed"] == EVAL_SEED
    assert manifest["evaluation"]["num_samples"] == EVAL_NUM_SAMPLES
    for gan in family:
        assert not gan.generator.training
        assert not any(p.requires_grad for p in gan.generator.parameters())
        measured = measure_grid_generator(gan.generator, latent_dim=gan.latent_dim).to_dict()
        recorded = gan.metrics
        for key in ("modes_captured", "support_size", "mode_counts", "high_quality_counts", "num_samples"):
            assert measured[key] == recorded[key], (gan.name, key)
        assert measured["high_quality_fraction"] == pytest.approx(
            recorded["high_quality_fraction"], abs=0.5 / EVAL_NUM_SAMPLES
        )
    assert torch.equal(torch.get_rng_state(), state)


def test_family_spans_full_coverage_to_severe_collapse(family: list[GridGAN]) -> None:
    captured = [gan.metrics["modes_captured"] for gan in family]
    support = [gan.metrics["support_size"] for gan in family]
    assert max(captured) == 25
    assert min(captured) <= 3
    assert min(support) >= 2  # every member has at least two classes: a finite class radius
    # a spread, not two clusters: at least 6 distinct support sizes
    assert len(set(support)) >= 6


def test_bundled_weights_are_small() -> None:
    files = sorted(default_weights_dir().glob("grid_*.safetensors"))
    assert len(files) == len(GRID_FAMILY)
    assert sum(f.stat().st_size for f in files) < 1_000_000


def test_unknown_name() -> None:
    with pytest.raises(InvalidArgumentError, match="name must be the name of a family member"):
        load_grid_gan("no-such-gan")
    with pytest.raises(InvalidArgumentError, match="name must be"):
        get_recipe(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("recipe", GRID_FAMILY, ids=[r.name for r in GRID_FAMILY])
def test_each_recipe_trains_for_a_few_steps(recipe: GridGANRecipe) -> None:
    result = train_gan(replace(recipe.config, steps=3), seed=recipe.seed, log_every=1)
    assert result.log.step.tolist() == [1, 2, 3]
    assert np.isfinite(result.log.d_loss).all()
    assert result.generator.expected_shapes() == recipe.config.build_generator().expected_shapes()
    points = result.generator(torch.zeros(4, recipe.config.latent_dim))
    assert points.shape == (4, 2)


def _tiny_family() -> tuple[GridGANRecipe, ...]:
    tiny = GANConfig(g_width=6, g_depth=1, d_width=8, d_depth=1, steps=20, batch_size=32)
    return (GridGANRecipe("tiny-a", tiny, 0, "tiny"), GridGANRecipe("tiny-b", replace(tiny, g_width=4), 1, "tinier"))


def test_retrain_family_writes_a_loadable_reproducible_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid_family, "GRID_FAMILY", _tiny_family())
    first = retrain_family(tmp_path / "a", progress=False)
    second = retrain_family(tmp_path / "b", progress=False)
    assert [g.name for g in first] == ["tiny-a", "tiny-b"]
    manifest_a = read_manifest(tmp_path / "a")
    manifest_b = read_manifest(tmp_path / "b")
    # Bit-identical weights from the same recipe (CPU, one thread).
    assert [m["sha256"] for m in manifest_a["members"]] == [m["sha256"] for m in manifest_b["members"]]
    for gan_a, gan_b in zip(first, second, strict=True):
        for key, value in gan_a.generator.state_dict().items():
            assert torch.equal(value, gan_b.generator.state_dict()[key])
        measured = measure_grid_generator(gan_a.generator, latent_dim=2).to_dict()
        assert measured == gan_a.metrics
    loaded = load_grid_family(weights_dir=tmp_path / "a")
    assert [g.name for g in loaded] == ["tiny-a", "tiny-b"]
    with pytest.raises(InvalidArgumentError, match="overwrite=True"):
        retrain_family(tmp_path / "a", names=["tiny-b"], progress=False)
    # Retraining a subset keeps the other entries of the manifest.
    retrain_family(tmp_path / "a", names=["tiny-b"], overwrite=True, progress=False)
    assert [m["name"] for m in read_manifest(tmp_path / "a")["members"]] == ["tiny-a", "tiny-b"]
    with pytest.raises(InvalidArgumentError, match="names must be"):
        retrain_family(tmp_path / "c", names="tiny-a", progress=False)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", GRID_FAMILY, ids=[r.name for r in GRID_FAMILY])
def test_retraining_reproduces_the_bundled_weights(recipe: GridGANRecipe, tmp_path: Path) -> None:
    # Bit-identical on the machine that produced the bundle; on a CPU with other vector units the
    # float rounding can differ and training trajectories drift (documented in grid_family).
    retrained = retrain_family(tmp_path, names=[recipe.name], progress=False)[0]
    bundled = load_grid_gan(recipe.name)
    for key, value in bundled.generator.state_dict().items():
        assert torch.equal(value, retrained.generator.state_dict()[key]), key
    assert retrained.metrics == bundled.metrics


def test_full_coverage_gan_has_a_smaller_class_radius_than_a_collapsed_one() -> None:
    """Issue 5 / Figure 3.1: all 25 modes captured vs 2 modes, with non-overlapping 95% intervals."""
    import genloose
    from genloose.reference_models import NearestMeanClassifier, load_grid_gan

    classifier = NearestMeanClassifier()
    estimates = {}
    for name in ("w128d3-long", "w12d1"):
        gan = load_grid_gan(name)
        assert gan.metrics["modes_captured"] == (25 if name == "w128d3-long" else 2)
        result = genloose.class_radius(
            gan.generator, classifier, latent_dim=gan.generator.latent_dim, num_samples=300, seed=0, progress=False
        )
        assert result.num_censored == 0
        estimates[name] = result.estimate
    full, collapsed = estimates["w128d3-long"], estimates["w12d1"]
    assert full.ci_high < collapsed.ci_low
