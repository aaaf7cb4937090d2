"""Integrity: every family of bundled weights loads only against a well-formed recorded SHA-256 digest.

The three families (grid GANs, VAEs with their digit classifier, image GAN/CNN) share one check
(``weights_io.manifest_sha256``); these tests hold each of them to it, so that a manifest entry without a digest,
with a malformed one or with a malformed field fails with a ``WeightsFileError`` rather than loading unchecked or
raising a bare ``TypeError``; an upper-case digest is the same digest.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from genloose.reference_models import load_digit_classifier, load_digit_cnn, load_grid_gan
from genloose.reference_models.grid_family import default_weights_dir
from genloose.reference_models.weights_io import WeightsFileError


def _grid_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    return next(entry for entry in manifest["members"] if entry["name"] == "w12d1")


FAMILIES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], Callable[[Path], Any]]] = {
    # family: (manifest file, the entry of one model, a loader of that model)
    "grid": ("grid_family.json", _grid_entry, lambda d: load_grid_gan("w12d1", weights_dir=d)),
    "vae": (
        "vae_manifest.json",
        lambda m: m["models"]["digit_classifier"],
        lambda d: load_digit_classifier(weights_dir=d),
    ),
    "image": ("image_manifest.json", lambda m: m["models"]["digit_cnn"], lambda d: load_digit_cnn(weights_dir=d)),
}


def _edited(tmp_path: Path, family: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the bundled weights whose manifest entry for the family's model is edited in place."""
    directory = tmp_path / "weights"
    shutil.copytree(default_weights_dir(), directory)
    name, entry_of, _ = FAMILIES[family]
    manifest = json.loads((directory / name).read_text())
    edit(entry_of(manifest))
    (directory / name).write_text(json.dumps(manifest))
    return directory


def _drop(entry: dict[str, Any]) -> None:
    del entry["sha256"]


BAD_DIGESTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "missing": _drop,
    "null": lambda entry: entry.update(sha256=None),
    "a number": lambda entry: entry.update(sha256=123),
    "a list": lambda entry: entry.update(sha256=[entry["sha256"]]),
    "not hexadecimal": lambda entry: entry.update(sha256="z" * 64),
    "truncated": lambda entry: entry.update(sha256=entry["sha256"][:40]),
}


@pytest.mark.parametrize("digest", BAD_DIGESTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_weights_without_a_well_formed_digest_are_refused(tmp_path: Path, family: str, digest: str) -> None:
    directory = _edited(tmp_path, family, BAD_DIGESTS[digest])
    with pytest.raises(WeightsFileError, match="must record a SHA-256 digest"):
        FAMILIES[family][2](directory)


@pytest.mark.parametrize("family", FAMILIES)
def test_an_upper_case_digest_is_the_same_digest(tmp_path: Path, family: str) -> None:
    directory = _edited(tmp_path, family, lambda entry: entry.update(sha256=entry["sha256"].upper()))
    FAMILIES[family][2](directory)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_digest_of_other_bytes_is_refused(tmp_path: Path, family: str) -> None:
    directory = _edited(tmp_path, family, lambda entry: entry.update(sha256="0" * 64))
    with pytest.raises(WeightsFileError, match=r"corrupt|SHA-256"):
        FAMILIES[family][2](directory)


def test_a_malformed_metrics_field_is_a_weights_error_not_a_type_error(tmp_path: Path) -> None:
    directory = _edited(tmp_path, "grid", lambda entry: entry.update(metrics=[1, 2]))
    with pytest.raises(WeightsFileError, match="metrics"):
        load_grid_gan("w12d1", weights_dir=directory)
