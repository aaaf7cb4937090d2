"""Fixtures shared by the test modules."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from genloose import Report, SearchConfig, evaluate


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
