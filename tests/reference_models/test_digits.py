"""Tests of genloose.reference_models.digits: the bundled 28x28 digits and the IDX reader."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis.extra import numpy as hnp

from genloose._errors import InvalidArgumentError
from genloose.reference_models.digits import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    load_digits_28,
    load_mnist_idx,
    read_idx,
)

# --------------------------------------------------------------------------------------------
# An independent IDX writer (struct, not the module under test).

_TYPE_CODES = {
    np.dtype("uint8"): 0x08,
    np.dtype("int8"): 0x09,
    np.dtype("int16"): 0x0B,
    np.dtype("int32"): 0x0C,
    np.dtype("float32"): 0x0D,
    np.dtype("float64"): 0x0E,
}


def _idx_bytes(array: np.ndarray) -> bytes:
    code = _TYPE_CODES[array.dtype]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes(order="C")


def _write(path: Path, data: bytes, *, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# --------------------------------------------------------------------------------------------
# load_digits_28


def _bilinear_reference(image: np.ndarray, size: int) -> np.ndarray:
    """Brute-force bilinear resize with half-pixel centres (align_corners=False), edge-clamped."""
    n = image.shape[0]
    scale = n / size
    out = np.empty((size, size))
    for i in range(size):
        y = max((i + 0.5) * scale - 0.5, 0.0)
        y0 = min(int(np.floor(y)), n - 1)
        y1 = min(y0 + 1, n - 1)
        wy = y - y0
        for j in range(size):
            x = max((j + 0.5) * scale - 0.5, 0.0)
            x0 = min(int(np.floor(x)), n - 1)
            x1 = min(x0 + 1, n - 1)
            wx = x - x0
            out[i, j] = (1 - wy) * ((1 - wx) * image[y0, x0] + wx * image[y0, x1]) + wy * (
                (1 - wx) * image[y1, x0] + wx * image[y1, x1]
            )
    return out


def test_all_split_matches_a_brute_force_bilinear_upsampling_of_sklearn_digits() -> None:
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = load_digits_28(split="all")
    assert data.images.shape == (1797, 1, 28, 28)
    assert data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64
    np.testing.assert_array_equal(data.labels.numpy(), raw.target)
    for index in (0, 1, 500, 1796):
        expected = _bilinear_reference(raw.images[index] / 16.0, 28)
        np.testing.assert_allclose(data.images[index, 0].numpy(), expected, atol=1e-6)


def test_values_lie_in_unit_interval_and_use_it() -> None:
    images = load_digits_28(split="all").images
    assert float(images.min()) == 0.0
    assert 0.99 < float(images.max()) <= 1.0


def _rows(images: torch.Tensor) -> list[bytes]:
    return sorted(row.numpy().tobytes() for row in images)


def test_train_and_test_partition_the_data_and_are_stratified() -> None:
    full = load_digits_28(split="all")
    train = load_digits_28(split="train")
    test = load_digits_28(split="test")
    assert len(train.labels) + len(test.labels) == len(full.labels)
    assert _rows(torch.cat([train.images, test.images])) == _rows(full.images)
    full_counts = np.bincount(full.labels.numpy(), minlength=10)
    test_counts = np.bincount(test.labels.numpy(), minlength=10)
    np.testing.assert_array_equal(test_counts, np.round(0.2 * full_counts).astype(int))
    train_counts = np.bincount(train.labels.numpy(), minlength=10)
    np.testing.assert_array_equal(train_counts + test_counts, full_counts)


def test_split_is_deterministic_and_depends_on_seed() -> None:
    a = load_digits_28(split="test", seed=3)
    b = load_digits_28(split="test", seed=3)
    c = load_digits_28(split="test", seed=4)
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_test_fraction_changes_the_sizes() -> None:
    test = load_digits_28(split="test", test_fraction=0.5)
    counts = np.bincount(load_digits_28(split="all").labels.numpy())
    assert len(test.labels) == int(sum(round(0.5 * c) for c in counts))


def test_returned_tensors_are_fresh_copies() -> None:
    first = load_digits_28(split="train")
    first.images.zero_()
    second = load_digits_28(split="train")
    assert float(second.images.max()) > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "validation"}, "split must be one of"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"test_fraction": 0.0}, "test_fraction must be a number > 0"),
        ({"test_fraction": 1.0}, "test_fraction must be a number < 1"),
    ],
)
def test_load_digits_28_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        load_digits_28(**kwargs)


# --------------------------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_reads_every_type_plain_and_gzipped(tmp_path: Path, dtype: str, compress: bool) -> None:
    rng = np.random.default_rng(1)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(2, 3, 4), endpoint=True).astype(dtype)
    else:
        array = rng.normal(size=(2, 3, 4)).astype(dtype)
    path = _write(tmp_path / "file.idx", _idx_bytes(array), compress=compress)
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, array)


@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5)))
def test_read_idx_round_trips_arbitrary_uint8_arrays(array: np.ndarray) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "a.idx", _idx_bytes(array))
        np.testing.assert_array_equal(read_idx(path), array)


def test_read_idx_accepts_a_string_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "labels", _idx_bytes(np.array([1, 2], dtype=np.uint8)))
    np.testing.assert_array_equal(read_idx(str(path)), [1, 2])


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.idx"):
        read_idx(tmp_path / "nothing.idx")


def test_read_idx_rejects_a_non_path() -> None:
    with pytest.raises(InvalidArgumentError, match="path must be a file path"):
        read_idx(12)  # type: ignore[arg-type]


_GOOD = _idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "shorter than the 4-byte magic number"),
        (b"\x01\x00\x08\x01" + _GOOD[4:], "does not start with two zero bytes"),
        (b"\x00\x00\x07\x02" + _GOOD[4:], "unknown data type code 0x07"),
        (b"\x00\x00\x08\x00", "zero dimensions"),
        (_GOOD[:9], "truncated header"),
        (_GOOD[:-1], "truncated data"),
        (_GOOD + b"\x00\x00", "2 trailing byte"),
    ],
)
def test_read_idx_rejects_malformed_files_naming_them(tmp_path: Path, data: bytes, message: str) -> None:
    path = _write(tmp_path / "broken-file.idx", data)
    with pytest.raises(InvalidArgumentError, match=message) as info:
        read_idx(path)
    assert "broken-file.idx" in str(info.value)


def test_read_idx_rejects_a_corrupt_gzip_stream(tmp_path: Path) -> None:
    compressed = gzip.compress(_GOOD)
    path = _write(tmp_path / "cut.idx.gz", compressed[: len(compressed) // 2])
    with pytest.raises(InvalidArgumentError, match="gzip stream is corrupt") as info:
        read_idx(path)
    assert "cut.idx.gz" in str(info.value)


# --------------------------------------------------------------------------------------------
# load_mnist_idx


def _mnist_pair(
    tmp_path: Path, count: int = 3, labels_count: int | None = None, compress: bool = False
) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=labels_count if labels_count is not None else count, dtype=np.uint8)
    suffix = ".gz" if compress else ""
    image_path = _write(tmp_path / f"images-idx3-ubyte{suffix}", _idx_bytes(images), compress=compress)
    label_path = _write(tmp_path / f"labels-idx1-ubyte{suffix}", _idx_bytes(labels), compress=compress)
    return image_path, label_path, images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_idx_scales_and_shapes(tmp_path: Path, compress: bool) -> None:
    image_path, label_path, images, labels = _mnist_pair(tmp_path, compress=compress)
    data = load_mnist_idx(image_path, label_path)
    assert data.images.shape == (3, 1, 28, 28)
    assert data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64
    np.testing.assert_allclose(data.images[:, 0].numpy(), images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.labels.numpy(), labels)


def test_magic_numbers_are_mnist_s() -> None:
    assert _idx_bytes(np.zeros((1, 2, 2), np.uint8))[:4] == IDX_IMAGES_MAGIC.to_bytes(4, "big")
    assert _idx_bytes(np.zeros(1, np.uint8))[:4] == IDX_LABELS_MAGIC.to_bytes(4, "big")


def test_load_mnist_idx_detects_swapped_files(tmp_path: Path) -> None:
    image_path, label_path, _, _ = _mnist_pair(tmp_path)
    with pytest.raises(InvalidArgumentError, match="images_path must be an MNIST image file") as e:
        load_mnist_idx(label_path, image_path)
    assert "swapped" in str(e.value)
    assert "labels-idx1-ubyte" in str(e.value)


def test_load_mnist_idx_rejects_other_types(tmp_path: Path) -> None:
    path = _write(tmp_path / "floats", _idx_bytes(np.zeros((2, 28, 28), np.float32)))
    _, label_path, _, _ = _mnist_pair(tmp_path, count=2)
    with pytest.raises(InvalidArgumentError, match=r"magic number 2051.*got.*floats"):
        load_mnist_idx(path, label_path)


def test_load_mnist_idx_rejects_a_count_mismatch(tmp_path: Path) -> None:
    image_path, label_path, _, _ = _mnist_pair(tmp_path, count=3, labels_count=4)
    with pytest.raises(InvalidArgumentError, match=r"3 images in .*images-idx3-ubyte.* and 4 labels"):
        load_mnist_idx(image_path, label_path)


def test_load_mnist_idx_names_the_argument_of_a_truncated_file(tmp_path: Path) -> None:
    image_path, label_path, _, _ = _mnist_pair(tmp_path)
    image_path.write_bytes(image_path.read_bytes()[:-10])
    with pytest.raises(InvalidArgumentError, match="images_path must be a valid IDX file"):
        load_mnist_idx(image_path, label_path)
