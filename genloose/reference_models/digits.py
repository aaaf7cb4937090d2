"""Digit images for the VAE experiments: scikit-learn's digits at 28x28, and an MNIST reader.

Two sources, one format (float32 images ``(N, 1, H, W)`` in ``[0, 1]`` and int64 labels ``(N,)``):

* :func:`load_digits_28` — the 1,797 8x8 handwritten digits that ship with scikit-learn
  (:func:`sklearn.datasets.load_digits`, no download), upsampled bilinearly to 28x28 so that the
  MNIST architecture of the paper (Tables 1 and 2) applies unchanged, with a deterministic
  stratified train/test split.
* :func:`load_mnist_idx` / :func:`read_idx` — a reader for the IDX files in which MNIST is
  distributed (optionally gzip-compressed), for users who have the files. Nothing here downloads.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from genloose._errors import InvalidArgumentError
from genloose._validation import check_choice, check_float, check_int, fail

__all__ = [
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "LabelledImages",
    "load_digits_28",
    "load_mnist_idx",
    "read_idx",
]

IDX_IMAGES_MAGIC = 2051
"""Magic number of an MNIST image file: unsigned bytes (0x08), 3 dimensions (N, rows, columns)."""

IDX_LABELS_MAGIC = 2049
"""Magic number of an MNIST label file: unsigned bytes (0x08), 1 dimension (N)."""

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_GZIP_MAGIC = b"\x1f\x8b"
_SIZE = 28
_SPLITS = ("train", "test", "all")


class LabelledImages(NamedTuple):
    """Images and their labels.

    Attributes
    ----------
    images : torch.Tensor
        ``float32`` tensor of shape ``(N, 1, H, W)`` with values in ``[0, 1]``.
    labels : torch.Tensor
        ``int64`` tensor of shape ``(N,)``.
    """

    images: torch.Tensor
    labels: torch.Tensor


def load_digits_28(
    *, split: Literal["train", "test", "all"] = "train", seed: int = 0, test_fraction: float = 0.2
) -> LabelledImages:
    """scikit-learn's 8x8 digits, upsampled to 28x28, with a deterministic stratified split.

    The 1,797 images of :func:`sklearn.datasets.load_digits` (grey levels 0..16, about 180 per
    class) are scaled to ``[0, 1]`` and upsampled with bilinear interpolation
    (``align_corners=False``, which forms convex combinations of the pixels, so the values stay in
    ``[0, 1]``). The split is stratified by class: for each digit, a permutation drawn from
    ``numpy.random.default_rng(seed)`` puts ``round(test_fraction * n_class)`` images in the test
    split and the rest in the training split. The same ``(seed, test_fraction)`` always gives the
    same split; the two splits are disjoint and together hold every image once.

    Parameters
    ----------
    split : {"train", "test", "all"}
        Which part to return (``"all"``: the whole data set in its original order).
    seed : int
        Seed of the split.
    test_fraction : float
        Fraction of each class held out for the test split, in ``(0, 1)``.

    Returns
    -------
    LabelledImages
        ``images`` float32 ``(N, 1, 28, 28)`` in ``[0, 1]``, ``labels`` int64 ``(N,)`` in ``0..9``,
        ordered by original index within the split. Fresh tensors on every call.

    Examples
    --------
    >>> train = load_digits_28(split="train")
    >>> test = load_digits_28(split="test")
    >>> train.images.shape, test.images.shape
    (torch.Size([1438, 1, 28, 28]), torch.Size([359, 1, 28, 28]))
    >>> float(train.images.min()) >= 0.0 and float(train.images.max()) <= 1.0
    True
    """
    split = check_choice("split", split, _SPLITS)
    seed = check_int("seed", seed, min_value=0)
    test_fraction = check_float(
        "test_fraction",
        test_fraction,
        min_value=0.0,
        max_value=1.0,
        min_inclusive=False,
        max_inclusive=False,
    )
    images, labels = _digits_28_numpy()
    if split == "all":
        index = np.arange(len(labels))
    else:
        test_mask = _stratified_test_mask(labels, seed, test_fraction)
        index = np.flatnonzero(test_mask if split == "test" else ~test_mask)
    return LabelledImages(torch.from_numpy(images[index].copy()), torch.from_numpy(labels[index].copy()))


@functools.lru_cache(maxsize=1)
def _digits_28_numpy() -> tuple[np.ndarray, np.ndarray]:
    """The whole upsampled data set as read-only numpy arrays (cached: loading takes ~1 s)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    small = torch.from_numpy(np.asarray(data.images, dtype=np.float32) / 16.0).unsqueeze(1)
    big = torch.nn.functional.interpolate(small, size=(_SIZE, _SIZE), mode="bilinear", align_corners=False)
    images = big.clamp_(0.0, 1.0).numpy()  # exact already; clamp guards float rounding only
    labels = np.asarray(data.target, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _stratified_test_mask(labels: np.ndarray, seed: int, test_fraction: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = round(test_fraction * len(members))
        mask[rng.permutation(members)[:count]] = True
    return mask


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the format MNIST is distributed in), optionally gzip-compressed.

    An IDX file starts with a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then ``NDIM``
    big-endian unsigned 32-bit sizes, then the data in row-major order, big-endian. ``TYPE`` is
    0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32) or 0x0E (float64).
    Compression is detected from the content (the gzip magic ``1f 8b``), not from the file name.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        The array, with the file's shape and a native-endian dtype.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    InvalidArgumentError
        If the content is not a valid IDX file: bad gzip stream, header shorter than announced,
        nonzero leading magic bytes, unknown type code, fewer data bytes than the sizes require
        (truncated) or more (trailing bytes). The message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> header = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     file = pathlib.Path(tmp) / "labels.idx"
    ...     _ = file.write_bytes(header + bytes([7, 2, 1]))
    ...     read_idx(file)
    array([7, 2, 1], dtype=uint8)
    """
    return _read_idx_with_magic("path", path)[1]


def _read_idx_with_magic(name: str, path: str | os.PathLike[str]) -> tuple[int, np.ndarray]:
    """``(magic number, array)`` of an IDX file; errors name the argument ``name`` and the file."""
    if not isinstance(path, (str, os.PathLike)):
        raise fail(name, "a file path (str or os.PathLike)", path)
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"IDX file not found: {str(file)!r}")
    raw = file.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise InvalidArgumentError(
                f"{name} must be a readable gzip-compressed IDX file; got {str(file)!r}, whose "
                f"gzip stream is corrupt or truncated ({error})"
            ) from error
    return _parse_idx(raw, name, str(file))


def _parse_idx(raw: bytes, name: str, filename: str) -> tuple[int, np.ndarray]:
    def bad(reason: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"{name} must be a valid IDX file; got {filename!r}: {reason}")

    if len(raw) < 4:
        raise bad(f"only {len(raw)} byte(s), shorter than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        magic = int.from_bytes(raw[:4], "big")
        raise bad(f"magic number {magic} (0x{magic:08x}) does not start with two zero bytes")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise bad(f"unknown data type code 0x{type_code:02x} in the magic number")
    if ndim == 0:
        raise bad("zero dimensions in the magic number")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise bad(f"truncated header: {ndim} dimension(s) need {header_size} bytes, file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual < expected:
        raise bad(f"truncated data: shape {shape} needs {expected} data bytes, file has {actual}")
    if actual > expected:
        raise bad(f"{actual - expected} trailing byte(s) after the {expected} data bytes of shape {shape}")
    array = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header_size)
    return int.from_bytes(raw[:4], "big"), array.reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist_idx(images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str]) -> LabelledImages:
    """Load an MNIST-format image file and label file (e.g. ``train-images-idx3-ubyte[.gz]``).

    The image file must have magic number 2051 (uint8, 3 dimensions ``N x rows x columns``) and the
    label file 2049 (uint8, 1 dimension ``N``), with the same ``N``. Pixels are divided by 255.

    Parameters
    ----------
    images_path, labels_path : str or os.PathLike
        The two files, raw or gzip-compressed. Nothing is downloaded.

    Returns
    -------
    LabelledImages
        ``images`` float32 ``(N, 1, rows, columns)`` in ``[0, 1]``, ``labels`` int64 ``(N,)``.

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    InvalidArgumentError
        If a file is not valid IDX (see :func:`read_idx`), has the wrong magic number, or the two
        counts differ. Messages name the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> images = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28))
    >>> labels = bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     a, b = pathlib.Path(tmp) / "images", pathlib.Path(tmp) / "labels"
    ...     _ = a.write_bytes(images + bytes(2 * 28 * 28))
    ...     _ = b.write_bytes(labels + bytes([3, 9]))
    ...     data = load_mnist_idx(a, b)
    >>> data.images.shape, data.labels.tolist()
    (torch.Size([2, 1, 28, 28]), [3, 9])
    """
    images = _read_with_magic("images_path", images_path, IDX_IMAGES_MAGIC)
    labels = _read_with_magic("labels_path", labels_path, IDX_LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise InvalidArgumentError(
            f"images_path and labels_path must hold the same number of items; got "
            f"{images.shape[0]} images in {str(Path(images_path))!r} and {labels.shape[0]} labels "
            f"in {str(Path(labels_path))!r}"
        )
    image_tensor = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    return LabelledImages(image_tensor, torch.from_numpy(labels.astype(np.int64)))


def _read_with_magic(name: str, path: str | os.PathLike[str], magic: int) -> np.ndarray:
    found, array = _read_idx_with_magic(name, path)
    if found != magic:
        kind = "image" if magic == IDX_IMAGES_MAGIC else "label"
        raise InvalidArgumentError(
            f"{name} must be an MNIST {kind} file (IDX magic number {magic}); got "
            f"{str(Path(path))!r} with magic number {found}"
            + (
                f" (the {'image' if found == IDX_IMAGES_MAGIC else 'label'} magic number: are the two files swapped?)"
                if found in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC)
                else ""
            )
        )
    return array
