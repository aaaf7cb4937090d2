"""Fixtures shared by the reference-model tests; a test module opts in by importing them."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Small models: one intra-op thread is faster, and far faster on a shared, loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def copy_bundle(source: Path, target: Path, names: Iterable[str], manifest: str) -> Path:
    """Copy the weights files ``<name>.safetensors`` and the manifest from ``source`` into a new ``target``."""
    target.mkdir()
    for name in names:
        shutil.copy(source / f"{name}.safetensors", target)
    shutil.copy(source / manifest, target)
    return target
