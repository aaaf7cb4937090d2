"""Tests for genloose.reference_models.weights_io: the safetensors round trip, and the one manifest verifier.

Every family of bundled weights (grid GANs, the VAE family, the image models) loads through
``WeightsManifest.load_into``; each failure class below is tested once for every family, and each refusal must be a
``WeightsFileError`` in the one form: ``<file>: <field> must be <expected>; got <got>; <the family's hint>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from genloose import InvalidArgumentError
from genloose.reference_models.grid_family import GRID_MANIFEST, load_grid_gan
from genloose.reference_models.image_gan import IMAGE_MANIFEST, load_digit_dcgan
from genloose.reference_models.vae_family import VAE_MANIFEST, load_vae
from genloose.reference_models.weights_io import (
    BUNDLED_WEIGHTS_DIR,
    WeightsFileError,
    WeightsManifest,
    file_sha256,
    load_weights,
    read_metadata,
    save_weights,
    weights_directory,
)
from tests.reference_models._fixtures import one_torch_thread  # noqa: F401 (autouse)

SHAPES = {"layer.weight": (3, 2), "layer.bias": (3,)}


def _tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=generator) for name, shape in SHAPES.items()}


# --------------------------------------------------------------------------------------------
# save_weights / load_weights / read_metadata


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
    expected = f"{path}: the file's SHA-256 must be {digest} (the sha256 argument); got {file_sha256(path)} ("
    with pytest.raises(WeightsFileError, match=re.escape(expected)):
        load_weights(path, expected_shapes=SHAPES, sha256=digest)
    with pytest.raises(InvalidArgumentError, match="sha256"):
        load_weights(path, expected_shapes=SHAPES, sha256="not-a-digest")


@pytest.mark.parametrize(
    ("shapes", "dtype", "tensors", "match"),
    [
        ({"layer.weight": (3, 2)}, torch.float32, None, r"tensor names must be .*unexpected \['layer.bias'\]"),
        ({**SHAPES, "extra": (1,)}, torch.float32, None, r"tensor names must be .*missing \['extra'\]"),
        (
            {"layer.weight": (2, 3), "layer.bias": (3,)},
            torch.float32,
            None,
            r"tensor 'layer.weight' must be of shape \(2, 3\) and dtype torch.float32; got shape \(3, 2\)",
        ),
        (SHAPES, torch.float64, None, "dtype torch.float64; got shape .* and dtype torch.float32"),
        (
            SHAPES,
            torch.float32,
            {"layer.weight": torch.full((3, 2), torch.nan), "layer.bias": torch.zeros(3)},
            "tensor 'layer.weight' must be finite; got NaN or inf",
        ),
    ],
)
def test_files_that_do_not_match_the_architecture_are_refused(
    tmp_path: Path, shapes: dict, dtype: torch.dtype, tensors: dict | None, match: str
) -> None:
    path = save_weights(tmp_path / "w.safetensors", tensors or _tensors())
    with pytest.raises(WeightsFileError, match=match):
        load_weights(path, expected_shapes=shapes, dtype=dtype)


def test_missing_and_unparsable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsFileError, match="the weights file must be an existing file; got nothing there"):
        load_weights(tmp_path / "none.safetensors", expected_shapes=SHAPES)
    with pytest.raises(WeightsFileError, match="must be an existing file; got a directory"):
        read_metadata(tmp_path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(WeightsFileError, match="the file must be a valid safetensors file"):
        load_weights(junk, expected_shapes=SHAPES)
    with pytest.raises(WeightsFileError, match="the file must be a valid safetensors file"):
        read_metadata(junk)


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


def test_weights_directory_defaults_to_the_bundle_and_refuses_non_paths() -> None:
    assert weights_directory(None) == BUNDLED_WEIGHTS_DIR
    assert weights_directory("x") == Path("x")
    with pytest.raises(InvalidArgumentError, match=r"out_dir must be a directory path or None; got 3 \(int\)"):
        weights_directory(3, "out_dir")


# --------------------------------------------------------------------------------------------
# The manifest verifier, one failure class at a time, for every family


@dataclass(frozen=True)
class Family:
    """One model of a family: its manifest layout, its name there and how the family's public loader loads it."""

    layout: WeightsManifest
    name: str
    load: Callable[[Path], torch.nn.Module]

    def entry(self, manifest: dict[str, Any]) -> dict[str, Any]:
        entries = manifest[self.layout.entries_field]
        if self.layout.listed:
            return next(entry for entry in entries if entry["name"] == self.name)
        return entries[self.name]

    @property
    def file_name(self) -> str:
        return self.layout.weights_file.format(name=self.name)


FAMILIES = {
    "grid": Family(GRID_MANIFEST, "w12d1", lambda d: load_grid_gan("w12d1", weights_dir=d).generator),
    "vae": Family(VAE_MANIFEST, "vae_vanilla_d2", lambda d: load_vae("vae", 2, weights_dir=d)),
    "image": Family(IMAGE_MANIFEST, "dcgan_d64", lambda d: load_digit_dcgan(64, weights_dir=d)),
}


@pytest.fixture(params=list(FAMILIES))
def family(request: pytest.FixtureRequest) -> Family:
    return FAMILIES[request.param]


@pytest.fixture
def bundle(tmp_path: Path, family: Family) -> Path:
    """A directory holding the family's manifest and the model's weights file, copied from the bundle."""
    directory = tmp_path / "weights"
    directory.mkdir()
    for name in (family.layout.file_name, family.file_name):
        shutil.copy(BUNDLED_WEIGHTS_DIR / name, directory / name)
    return directory


def _write_manifest(bundle: Path, family: Family, edit: Callable[[dict[str, Any]], object]) -> None:
    path = bundle / family.layout.file_name
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _edit_entry(bundle: Path, family: Family, edit: Callable[[dict[str, Any]], object]) -> None:
    _write_manifest(bundle, family, lambda manifest: edit(family.entry(manifest)))


def _replace_file(
    bundle: Path, family: Family, tensors: dict[str, torch.Tensor], header: dict[str, str] | None = None
) -> None:
    """Write other tensors (and header) as the model's file; the manifest's digest and size are made to agree."""
    path = bundle / family.file_name
    save_file(tensors, str(path), metadata=read_metadata(path) if header is None else header)
    size_field = family.layout.size_field
    _edit_entry(
        bundle, family, lambda entry: entry.update(sha256=file_sha256(path), **{size_field: path.stat().st_size})
    )


def _refused(bundle: Path, family: Family, where: str, pattern: str) -> str:
    """Load; the refusal must name ``where`` (the manifest or the weights file), match ``pattern`` and end in the
    family's hint."""
    with pytest.raises(WeightsFileError) as info:
        family.load(bundle)
    message = str(info.value)
    assert message.startswith(f"{bundle / where}: "), message
    assert message.endswith(f"; {family.layout.hint}"), message
    assert re.search(pattern, message), (pattern, message)
    return message


def test_the_intact_copy_loads_the_bundled_weights(bundle: Path, family: Family) -> None:
    loaded = family.load(bundle).state_dict()
    for name, tensor in load_file(str(BUNDLED_WEIGHTS_DIR / family.file_name)).items():
        assert torch.equal(loaded[name], tensor), name


MANIFEST_FILES: dict[str, tuple[Callable[[Path, Family], object], str]] = {
    "missing": (
        lambda d, f: (d / f.layout.file_name).unlink(),
        "the manifest must be an existing file; got nothing there",
    ),
    "not JSON": (
        lambda d, f: (d / f.layout.file_name).write_text("{not json"),
        "the manifest must be valid JSON; got Expecting property name",
    ),
    "not an object": (
        lambda d, f: (d / f.layout.file_name).write_text("[1, 2]"),
        r"the manifest must be a JSON object; got \[1, 2\] \(list\)",
    ),
    "another format": (
        lambda d, f: _write_manifest(d, f, lambda m: m.update(format=99)),
        r"field 'format' must be .+; got 99 \(int\)",
    ),
    "no format": (
        lambda d, f: _write_manifest(d, f, lambda m: m.pop("format")),
        r"field 'format' must be .+; got no such field",
    ),
    "entries not a collection": (
        lambda d, f: _write_manifest(d, f, lambda m: m.update({f.layout.entries_field: "none"})),
        r"field '(members|models)' must be (a list of objects|an object of entries).*; got 'none' \(str\)",
    ),
    "no entries": (
        lambda d, f: _write_manifest(d, f, lambda m: m.pop(f.layout.entries_field)),
        r"field '(members|models)' must be .+; got no such field",
    ),
}


@pytest.mark.parametrize("case", MANIFEST_FILES)
def test_a_missing_or_malformed_manifest_is_refused(bundle: Path, family: Family, case: str) -> None:
    make, pattern = MANIFEST_FILES[case]
    make(bundle, family)
    _refused(bundle, family, family.layout.file_name, pattern)


def _drop_entry(manifest: dict[str, Any], family: Family) -> None:
    entries = manifest[family.layout.entries_field]
    if family.layout.listed:
        entries.remove(family.entry(manifest))
    else:
        del entries[family.name]


def _entry_not_an_object(manifest: dict[str, Any], family: Family) -> None:
    entries = manifest[family.layout.entries_field]
    if family.layout.listed:
        entries[entries.index(family.entry(manifest))] = [family.name]
    else:
        entries[family.name] = [family.name]


def test_a_missing_entry_is_refused(bundle: Path, family: Family) -> None:
    _write_manifest(bundle, family, lambda manifest: _drop_entry(manifest, family))
    pattern = rf"the entry of '{family.name}' in field '{family.layout.entries_field}' must be present; got entries"
    _refused(bundle, family, family.layout.file_name, pattern)


def test_an_entry_that_is_not_an_object_is_refused(bundle: Path, family: Family) -> None:
    _write_manifest(bundle, family, lambda manifest: _entry_not_an_object(manifest, family))
    if family.layout.listed:  # a list of entries is checked whole, each must be an object with a name
        pattern = r"field 'members' must be a list of objects, each with a string 'name'; got \["
    else:
        pattern = rf"the entry of '{family.name}' must be a JSON object; got \['{family.name}'\] \(list\)"
    _refused(bundle, family, family.layout.file_name, pattern)


BAD_DIGESTS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "missing": (lambda entry: entry.pop("sha256"), "no such field"),
    "null": (lambda entry: entry.update(sha256=None), r"None \(NoneType\)"),
    "a number": (lambda entry: entry.update(sha256=123), r"123 \(int\)"),
    "a list": (lambda entry: entry.update(sha256=[entry["sha256"]]), r"\['[0-9a-f]+'\] \(list\)"),
    "not hexadecimal": (lambda entry: entry.update(sha256="z" * 64), r"'z{64}' \(str\)"),
    "truncated": (lambda entry: entry.update(sha256=entry["sha256"][:40]), r"'[0-9a-f]{40}' \(str\)"),
}


@pytest.mark.parametrize("case", BAD_DIGESTS)
def test_weights_without_a_well_formed_digest_are_refused(bundle: Path, family: Family, case: str) -> None:
    edit, got = BAD_DIGESTS[case]
    _edit_entry(bundle, family, edit)
    expected = r"must be a SHA-256 digest \(64 hexadecimal digits, either case\)"
    _refused(bundle, family, family.layout.file_name, rf"field 'sha256' of '{family.name}' {expected}; got {got}")


def test_an_upper_case_digest_is_the_same_digest(bundle: Path, family: Family) -> None:
    _edit_entry(bundle, family, lambda entry: entry.update(sha256=entry["sha256"].upper()))
    family.load(bundle)


BAD_FIELDS: dict[str, tuple[str, object, str]] = {
    # case: (field, value (None: drop it; "size": the family's size field), what the message expects)
    "file missing": ("file", None, "'{file}'"),
    "file another name": ("file", "other.safetensors", "'{file}'"),
    "file a number": ("file", 3, "'{file}'"),
    "size missing": ("size", None, r"a whole number of bytes \(an integer >= 0\)"),
    "size a string": ("size", "12", r"a whole number of bytes \(an integer >= 0\)"),
    "size negative": ("size", -1, r"a whole number of bytes \(an integer >= 0\)"),
    "size a bool": ("size", True, r"a whole number of bytes \(an integer >= 0\)"),
    "size a float": ("size", 12.0, r"a whole number of bytes \(an integer >= 0\)"),
    "metrics missing": ("metrics", None, "a JSON object"),
    "metrics a list": ("metrics", [1, 2], "a JSON object"),
}


@pytest.mark.parametrize("case", BAD_FIELDS)
def test_a_missing_or_malformed_field_is_a_named_weights_error(bundle: Path, family: Family, case: str) -> None:
    field, value, expected = BAD_FIELDS[case]
    field = family.layout.size_field if field == "size" else field
    _edit_entry(bundle, family, lambda entry: entry.pop(field) if value is None else entry.update({field: value}))
    got = "no such field" if value is None else re.escape(f"{value!r} ({type(value).__name__})")
    expected = expected.format(file=re.escape(family.file_name))
    _refused(
        bundle, family, family.layout.file_name, rf"field '{field}' of '{family.name}' must be {expected}; got {got}"
    )


def _stale(entry: dict[str, Any], family: Family) -> None:
    recipe = entry if family.layout.recipe_field is None else entry[family.layout.recipe_field]
    recipe["seed"] += 1


def test_a_stale_recipe_in_the_manifest_is_refused(bundle: Path, family: Family) -> None:
    _edit_entry(bundle, family, lambda entry: _stale(entry, family))
    stale = r"must be the code's recipe; got a recipe differing in \['seed'\] \(the weights are stale\)"
    _refused(bundle, family, family.layout.file_name, rf": fields? .*of '{family.name}' {stale}")


def test_a_missing_weights_file_is_refused(bundle: Path, family: Family) -> None:
    (bundle / family.file_name).unlink()
    _refused(bundle, family, family.file_name, "the weights file must be an existing file; got nothing there")


def test_a_size_other_than_the_recorded_is_refused(bundle: Path, family: Family) -> None:
    size = (bundle / family.file_name).stat().st_size
    _edit_entry(bundle, family, lambda entry: entry.update({family.layout.size_field: size + 1}))
    pattern = rf"the file's size must be {size + 1} bytes \(as .+ records\); got {size} \(a corrupt or modified file\)"
    _refused(bundle, family, family.file_name, pattern)


def _flip_a_bit(bundle: Path, family: Family) -> None:
    path = bundle / family.file_name
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # one bit of the last tensor's data: same size, other digest
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("case", ["another digest recorded", "a bit flipped in the file"])
def test_a_digest_other_than_the_files_is_refused(bundle: Path, family: Family, case: str) -> None:
    recorded = file_sha256(bundle / family.file_name)
    if case == "another digest recorded":
        recorded = "0" * 64
        _edit_entry(bundle, family, lambda entry: entry.update(sha256=recorded))
    else:
        _flip_a_bit(bundle, family)
    actual = file_sha256(bundle / family.file_name)
    pattern = rf"the file's SHA-256 must be {recorded} \(as .+ records\); got {actual} \(a corrupt or modified file\)"
    _refused(bundle, family, family.file_name, pattern)


def test_a_file_that_is_not_safetensors_is_refused(bundle: Path, family: Family) -> None:
    path = bundle / family.file_name
    path.write_bytes(path.read_bytes()[:100])  # truncated
    size_field = family.layout.size_field
    _edit_entry(bundle, family, lambda entry: entry.update(sha256=file_sha256(path), **{size_field: 100}))
    _refused(bundle, family, family.file_name, "the file must be a valid safetensors file; got ")


def _bundled_tensors(family: Family) -> dict[str, torch.Tensor]:
    return load_file(str(BUNDLED_WEIGHTS_DIR / family.file_name))


def _header_recipe(family: Family) -> dict[str, Any]:
    return json.loads(read_metadata(BUNDLED_WEIGHTS_DIR / family.file_name)[family.layout.header_field])


HEADERS: dict[str, tuple[Callable[[Family], dict[str, str]], str]] = {
    "a stale recipe": (
        lambda f: {f.layout.header_field: json.dumps({**_header_recipe(f), "seed": -1}, sort_keys=True)},
        r"got a recipe differing in \['seed'\] \(the weights are stale\)",
    ),
    "no recipe": (lambda f: {"other": "x"}, "got no such field"),
    "a recipe that is not JSON": (lambda f: {f.layout.header_field: "{not json"}, r"got '\{not json' \(str\)"),
}


@pytest.mark.parametrize("case", HEADERS)
def test_a_file_without_the_codes_recipe_in_its_header_is_refused(bundle: Path, family: Family, case: str) -> None:
    header, got = HEADERS[case]
    _replace_file(bundle, family, _bundled_tensors(family), header(family))
    field = family.layout.header_field
    _refused(bundle, family, family.file_name, rf"header field '{field}' must be the code's recipe as JSON; {got}")


def _first(tensors: dict[str, torch.Tensor]) -> str:
    return sorted(name for name, tensor in tensors.items() if tensor.is_floating_point())[0]


TENSORS: dict[str, tuple[Callable[[dict[str, torch.Tensor]], object], str]] = {
    "a tensor missing": (
        lambda t: t.pop(_first(t)),
        r"the tensor names must be .+; got missing \['.+'\], unexpected \[\]",
    ),
    "a tensor too many": (
        lambda t: t.update(extra=torch.zeros(1)),
        r"the tensor names must be .+; got missing \[\], unexpected \['extra'\]",
    ),
    "a wrong shape": (
        lambda t: t.update({_first(t): torch.zeros(7, 3)}),
        r"tensor '.+' must be of shape \(.*\) and dtype torch.float32; got shape \(7, 3\)",
    ),
    "a wrong dtype": (
        lambda t: t.update({_first(t): t[_first(t)].double()}),
        r"tensor '.+' must be of shape .+ and dtype torch.float32; got shape .+ and dtype torch.float64",
    ),
    "a NaN": (
        lambda t: t[_first(t)].view(-1).__setitem__(0, float("nan")),
        "tensor '.+' must be finite; got NaN or inf",
    ),
}


@pytest.mark.parametrize("case", TENSORS)
def test_tensors_that_do_not_match_the_architecture_are_refused(bundle: Path, family: Family, case: str) -> None:
    tensors = _bundled_tensors(family)
    edit, pattern = TENSORS[case]
    edit(tensors)
    _replace_file(bundle, family, tensors)
    _refused(bundle, family, family.file_name, pattern)


def test_a_refusal_leaves_nothing_half_loaded_and_the_intact_file_loads_again(bundle: Path, family: Family) -> None:
    tensors = _bundled_tensors(family)
    broken = dict(tensors)
    broken.pop(_first(broken))
    _replace_file(bundle, family, broken)
    with pytest.raises(WeightsFileError):
        family.load(bundle)
    _replace_file(bundle, family, tensors, read_metadata(BUNDLED_WEIGHTS_DIR / family.file_name))
    loaded = family.load(bundle).state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in tensors.items())


def test_record_describes_the_file_as_the_verifier_reads_it(tmp_path: Path, family: Family) -> None:
    path = tmp_path / family.file_name
    shutil.copy(BUNDLED_WEIGHTS_DIR / family.file_name, path)
    bundled = family.entry(family.layout.read(BUNDLED_WEIGHTS_DIR))
    assert family.layout.record(path) == {key: bundled[key] for key in ("file", "sha256", family.layout.size_field)}


def test_save_writes_what_the_verifier_reads_the_bundled_file_again(tmp_path: Path, family: Family) -> None:
    bundled = BUNDLED_WEIGHTS_DIR / family.file_name
    path = family.layout.save(family.load(BUNDLED_WEIGHTS_DIR), tmp_path / family.file_name, _header_recipe(family))
    assert read_metadata(path) == read_metadata(bundled)
    saved = load_file(str(path))
    assert saved.keys() == _bundled_tensors(family).keys()
    assert all(torch.equal(saved[name], tensor) for name, tensor in _bundled_tensors(family).items())
    if not family.layout.header_extra:  # with two header keys safetensors orders them arbitrarily
        assert file_sha256(path) == file_sha256(bundled)
