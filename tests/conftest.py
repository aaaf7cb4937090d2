"""Fixtures shared by the test modules."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from genloose import Report, SearchConfig, evaluate
from genloose.testing import sectors, spheres


@pytest.fixture(scope="session")
def single_class_model() -> dict[str, Any]:
    """``evaluate`` arguments of a model whose classifier labels every sample class 0 (of K = 3)."""
    return {
        "generator": torch.nn.Identity(),
        "classifier": lambda x: torch.zeros(x.shape[0], dtype=torch.long),
        "latent_dim": 2,
        "num_samples": 20,
        "num_classes": 3,
        "config": SearchConfig(pool_size=8),
        "progress": False,
    }


@pytest.fixture(scope="session")
def single_class_report(single_class_model: dict[str, Any]) -> Report:
    """The single-class model's report: no point has a witness.

    NaN radius (every point censored), an infinite Fawzi cap, collision entropy 0 and NaN intervals.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(**single_class_model)


_FIXTURE_POOL = SearchConfig(pool_size=256)  # the seeding pool of the two report fixtures below


@pytest.fixture(scope="session")
def ten_sectors() -> tuple[object, Report]:
    """Ten equal sectors in 3-D (exact answers known), 300 points."""
    tb = sectors(3, 10)
    return tb, evaluate(
        tb.generator, tb.classifier, latent_dim=3, num_samples=300, seed=3, config=_FIXTURE_POOL, progress=False
    )


@pytest.fixture(scope="session")
def two_shells() -> tuple[object, Report]:
    """Two classes split by a sphere of radius 1 in 2-D, 300 points."""
    tb = spheres(2, [1.0])  # p = (1 - e^{-1/2}, e^{-1/2}): two classes, non-uniform
    return tb, evaluate(
        tb.generator, tb.classifier, latent_dim=2, num_samples=300, seed=4, config=_FIXTURE_POOL, progress=False
    )
