"""Tests for genloose.reference_models.weights_io: round trips, digest checks, manifest entries and refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from genloose import InvalidArgumentError
from genloose.reference_models.weights_io import (
    WeightsFileError,
    file_sha256,
    load_weights,
    manifest_sha256,
    read_json_file,
    read_metadata,
    save_weights,
)

SHAPES = {"layer.weight": (3, 2), "layer.bias": (3,)}


def _tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=generator) for name, shape in SHAPES.items()}


def test_round_trip_is_bit_exact_and_the_digest_is_the_files(tmp_path: Path) -> None:
    tensors = _tensors()
    path = save_weights(tmp_path / "w.safetensors", tensors, metadata={"config": '{"a": 1}'})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == digest
    for given in (digest, digest.upper()):
        loaded = load_weights(path, expected_shapes=SHAPES, sha256=given)
        assert set(loaded) == set(SHAPES)
        assert all(torch.equal(loaded[name], tensors[name]) for name in SHAPES)
    assert read_metadata(path) == {"config": '{"a": 1}'}
    # the same tensors and metadata give the same bytes
    again = save_weights(tmp_path / "again.safetensors", _tensors(), metadata={"config": '{"a": 1}'})
    assert file_sha256(again) == digest


def test_existing_files_are_kept_unless_overwrite(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tensors(0))
    before = file_sha256(path)
    with pytest.raises(InvalidArgumentError):
        save_weights(path, _tensors(1))
    assert file_sha256(path) == before
    save_weights(path, _tensors(1), overwrite=True)
    assert torch.equal(load_weights(path, expected_shapes=SHAPES)["layer.bias"], _tensors(1)["layer.bias"])


def test_a_changed_file_fails_its_digest(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tensors())
    digest = file_sha256(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # one bit of the last tensor's data
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsFileError, match=f"corrupt or was changed: SHA-256 {file_sha256(path)}, expected"):
        load_weights(path, expected_shapes=SHAPES, sha256=digest)
    with pytest.raises(InvalidArgumentError, match="sha256"):
        load_weights(path, expected_shapes=SHAPES, sha256="not-a-digest")


@pytest.mark.parametrize(
    ("shapes", "dtype", "tensors", "match"),
    [
        ({"layer.weight": (3, 2)}, torch.float32, None, r"unexpected \['layer.bias'\]"),
        ({**SHAPES, "extra": (1,)}, torch.float32, None, r"missing \['extra'\]"),
        ({"layer.weight": (2, 3), "layer.bias": (3,)}, torch.float32, None, r"shape \(3, 2\), expected \(2, 3\)"),
        (SHAPES, torch.float64, None, "dtype torch.float32, expected torch.float64"),
        (SHAPES, torch.float32, {"layer.weight": torch.full((3, 2), torch.nan), "layer.bias": torch.zeros(3)}, "NaN"),
    ],
)
def test_files_that_do_not_match_the_architecture_are_refused(
    tmp_path: Path, shapes: dict, dtype: torch.dtype, tensors: dict | None, match: str
) -> None:
    path = save_weights(tmp_path / "w.safetensors", tensors or _tensors())
    with pytest.raises(WeightsFileError, match=match):
        load_weights(path, expected_shapes=shapes, dtype=dtype)


def test_missing_and_unparsable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsFileError, match="does not exist"):
        load_weights(tmp_path / "none.safetensors", expected_shapes=SHAPES)
    with pytest.raises(WeightsFileError, match="does not exist"):
        read_metadata(tmp_path)  # a directory is not a file
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(WeightsFileError, match="not a valid safetensors file"):
        load_weights(junk, expected_shapes=SHAPES)
    with pytest.raises(WeightsFileError, match="not a valid safetensors file"):
        read_metadata(junk)


@pytest.mark.parametrize(
    ("entry", "got"),
    [
        (None, "got no entry"),
        ({"file": "w.safetensors"}, "got sha256 None"),
        ({"sha256": "ab" * 31}, "got sha256 'abab"),
        ({"sha256": "g" * 64}, "got sha256 'gggg"),
        ({"sha256": 12}, "got sha256 12"),
    ],
)
def test_manifest_entries_without_a_well_formed_digest_are_refused(entry: object, got: str) -> None:
    expected = f"manifest.json must record a SHA-256 digest .* for 'm' .*{got}.*; retrain"
    with pytest.raises(WeightsFileError, match=expected):
        manifest_sha256(entry, model="m", manifest="manifest.json", hint="retrain")
    assert manifest_sha256({"sha256": "AbCd" * 16}, model="m", manifest="x", hint="y") == "abcd" * 16


def test_read_json_file_uses_the_callers_words(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    with pytest.raises(WeightsFileError, match=r"^no manifest here$"):
        read_json_file(path, missing="no manifest here", invalid="bad")
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(WeightsFileError, match=r"^bad manifest: "):
        read_json_file(path, missing="missing", invalid="bad manifest")
    path.write_text('{"w": {"sha256": "00"}}', encoding="utf-8")
    assert read_json_file(path, missing="missing", invalid="bad") == {"w": {"sha256": "00"}}


@pytest.mark.parametrize(
    ("tensors", "metadata", "name"),
    [
        ({}, None, "tensors"),
        ({"a": [1.0]}, None, "tensors"),
        ({1: torch.ones(1)}, None, "tensors"),
        ({"a": torch.ones(1)}, {"k": 1}, "metadata"),
    ],
)
def test_save_weights_validates_its_arguments(tmp_path: Path, tensors: dict, metadata: object, name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=name):
        save_weights(tmp_path / "w.safetensors", tensors, metadata=metadata)  # type: ignore[arg-type]
    assert not (tmp_path / "w.safetensors").exists()
