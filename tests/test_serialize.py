"""Tests of reading reports back (genloose/_serialize.py, Report.from_json, Comparison.from_json).

The round trip is checked on every field, recursively (arrays by dtype, shape and bits; floats with NaN
equal to NaN), on reports with NaN and infinities; damaged, foreign and newer files must be refused with a
message that says which.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from genloose import Comparison, Report, SearchConfig, compare, evaluate
from genloose._errors import InvalidArgumentError
from genloose._serialize import SCHEMA_VERSION
from genloose.testing import sectors

POOL_64 = SearchConfig(pool_size=64)  # a small seeding pool


def assert_same(a: Any, b: Any, where: str = "report") -> None:
    """Equal field by field: same types, arrays with the same dtype, shape and bits, NaN equal to NaN."""
    assert type(a) is type(b), (where, type(a), type(b))
    if dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, (where, a.dtype, b.dtype)
        assert a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or a == b, (where, a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


@pytest.fixture(scope="module")
def six() -> Report:
    bed = sectors(3, 6)
    return evaluate(bed.generator, bed.classifier, latent_dim=3, num_samples=80, seed=4, config=POOL_64, progress=False)


@pytest.fixture(scope="module")
def single_class(single_class_report: Report) -> Report:
    """NaN radius (every point censored), an infinite Fawzi cap and collision entropy 0, NaN intervals."""
    return single_class_report


def test_round_trip_is_exact_on_every_field(six: Report, single_class: Report, tmp_path: Path) -> None:
    for name, report in (("six", six), ("single", single_class)):
        path = tmp_path / f"{name}.json"
        report.save_json(path)
        back = Report.from_json(path)
        assert_same(report, back)
        assert back.to_json() == report.to_json()  # and it saves to the same file again
        assert str(back) == str(report)
    # the single-class report really carries the special values the test is about
    assert math.isinf(single_class.bounds.fawzi_cap.value)
    assert math.isnan(single_class.class_radius.value)
    assert np.isinf(single_class.radius_result.radii).all()
    assert np.isnan(single_class.radius_result.witnesses).all()


def test_from_json_accepts_text_and_path_like(six: Report, tmp_path: Path) -> None:
    assert_same(Report.from_json(six.to_json(indent=None)), six)
    (tmp_path / "r.json").write_text(six.to_json())
    assert_same(Report.from_json(str(tmp_path / "r.json")), six)


def test_json_layout(six: Report) -> None:
    data = json.loads(six.to_json())
    assert list(data)[:2] == ["format", "schema_version"]
    assert data["format"] == "genloose.Report"
    assert data["schema_version"] == SCHEMA_VERSION
    assert list(data)[-1] == "exact"
    flat = {k: v for k, v in data.items() if k not in ("format", "schema_version", "exact")}
    assert list(flat) == list(six.to_dict())  # the summary keys are unchanged
    latents = data["exact"]["radius_result"]["latents"]
    assert latents["dtype"] == "<f8"
    assert latents["shape"] == [80, 3]


def test_loaded_reports_compare_like_the_originals(six: Report) -> None:
    bed = sectors(3, 6)
    shifted = evaluate(
        lambda z: z + torch.tensor([0.8, 0.0, 0.0]),
        bed.classifier,
        latent_dim=3,
        num_samples=80,
        seed=4,
        config=POOL_64,
        progress=False,
    )
    direct = compare(six, shifted)
    loaded = compare(Report.from_json(six.to_json()), Report.from_json(shifted.to_json()))
    assert loaded.paired  # the per-point results came back: the paired tests run
    assert_same(loaded.to_dict(), direct.to_dict())


def test_comparison_round_trip(six: Report, single_class: Report, tmp_path: Path) -> None:
    comparison = compare(six, Report.from_json(six.to_json()), names=("x", "y"), alpha=0.01)
    comparison.save_json(tmp_path / "c.json")
    back = Comparison.from_json(tmp_path / "c.json")
    assert_same(back, comparison)
    assert back.to_json() == comparison.to_json()
    with pytest.raises(InvalidArgumentError, match="must not exist already"):
        comparison.save_json(tmp_path / "c.json")


def _damaged(text: str) -> dict[str, str]:
    data = json.loads(text)
    newer = dict(data, schema_version=SCHEMA_VERSION + 1)
    no_field = json.loads(text)
    del no_field["exact"]["radius_result"]["radii"]
    bad_array = json.loads(text)
    bad_array["exact"]["radius_result"]["radii"]["shape"] = [81]
    bad_float = json.loads(text)
    bad_float["exact"]["class_radius"]["value"] = "NaN!"
    extra = json.loads(text)
    extra["exact"]["diagnostics"]["new_thing"] = 1
    flat = {k: v for k, v in data.items() if k not in ("format", "schema_version", "exact")}
    return {
        "truncated": text[: len(text) // 2],
        "newer": json.dumps(newer),
        "foreign": json.dumps({"loss": [0.3, 0.2], "epoch": 3}),
        "old flat file": json.dumps(flat),
        "comparison": json.dumps(dict(data, format="genloose.Comparison")),
        "missing field": json.dumps(no_field),
        "bad array": json.dumps(bad_array),
        "bad float": json.dumps(bad_float),
        "unknown field": json.dumps(extra),
        "bad version": json.dumps(dict(data, schema_version="1")),
        "not an object": "[1, 2]",
    }


EXPECTED = {
    "truncated": r"is not valid JSON \(.*: line \d+, column \d+\); the file ends early: was it truncated",
    "newer": rf"was written by a newer genloose \(schema version {SCHEMA_VERSION + 1}; genloose .* reads up to "
    rf"{SCHEMA_VERSION}\): upgrade genloose",
    "foreign": r"is not a saved genloose.Report: it has no 'format' key \(a JSON file from another program\?\)",
    "old flat file": r"looks like a report written by an older genloose, which kept no per-point results",
    "comparison": r"is a saved genloose.Comparison, not a genloose.Report; read it with genloose.Comparison",
    "missing field": r"is not a complete genloose file: exact.radius_result.radii is missing",
    "bad array": r"exact.radius_result.radii holds 640 bytes, not an array of dtype float64 and shape \(81,\)",
    "bad float": r"exact.class_radius.value must be a number or 'nan', 'inf', '-inf'; got 'NaN!'",
    "unknown field": r"exact.diagnostics has fields this genloose does not know: new_thing",
    "bad version": r"invalid schema_version: expected an integer >= 1; got '1'",
    "not an object": r"has no 'format' key",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_damaged_foreign_and_newer_files_are_refused(six: Report, tmp_path: Path, case: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(_damaged(six.to_json())[case])
    with pytest.raises(InvalidArgumentError, match=EXPECTED[case]) as caught:
        Report.from_json(path)
    assert str(path) in str(caught.value)  # the message names the file


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("no/such/file.json", r"source must be a JSON file written by save_json/to_json, or its text; got "),
        (b"{}", r"source must be a file path or JSON text \(str\); got b'\{\}' \(bytes\)"),
        (3, r"source must be a file path or JSON text \(str\); got 3 \(int\)"),
    ],
)
def test_bad_sources(source: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        Report.from_json(source)


def test_a_path_object_is_always_a_path(six: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgumentError, match="which does not exist"):
        Report.from_json(Path("{odd name}.json"))
    Path("{odd name}.json").write_text(six.to_json())
    assert_same(Report.from_json(Path("{odd name}.json")), six)


def test_directory_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="a directory"):
        Report.from_json(tmp_path)
    (tmp_path / "x.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidArgumentError, match="not text"):
        Report.from_json(tmp_path / "x.json")


def test_a_version_1_file_loads_with_its_old_field_names(six: Report) -> None:
    # schema version 1 named RadiusResult.class_counts_with_pool "class_counts": a file written then still loads
    data = json.loads(six.to_json())
    assert SCHEMA_VERSION == 3
    exact = data["exact"]["radius_result"]
    exact["class_counts"] = exact.pop("class_counts_with_pool")
    old = dict(data, schema_version=1)
    back = Report.from_json(json.dumps(old))
    assert_same(back, six)
    both = json.loads(json.dumps(old))
    both["exact"]["radius_result"]["class_counts_with_pool"] = exact["class_counts"]
    with pytest.raises(InvalidArgumentError, match="fields this genloose does not know: class_counts"):
        Report.from_json(json.dumps(both))


def test_a_file_with_the_old_torch_dtype_spelling_loads_with_the_one_spelling(six: Report) -> None:
    # early version-2 files spelled RunMetadata.dtype "torch.float32"; the search's metadata spells "float32"
    assert six.metadata.dtype == six.radius_result.metadata["dtype"] == "float32"
    data = json.loads(six.to_json())
    assert data["exact"]["metadata"]["dtype"] == "float32"
    data["exact"]["metadata"]["dtype"] = "torch.float32"
    back = Report.from_json(json.dumps(data))
    assert back.metadata.dtype == "float32"
    assert_same(back, six)


def test_an_old_file_with_the_seed_sentinel_reads_as_an_unknown_seed() -> None:
    report = evaluate(torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, num_samples=10, progress=False)
    data = json.loads(report.to_json())
    data["exact"]["metadata"]["seed"] = -1  # what genloose wrote for latents given by the caller
    assert Report.from_json(json.dumps(data)).metadata.seed is None


def test_a_precision_summary_written_before_the_proxy_level_loads_with_no_proxy() -> None:
    # schema version 3 added PrecisionSummary.proxy_scale and proxy_power; older files (no proxy
    # level) read them as NaN
    from genloose import class_radius
    from genloose._serialize import decode_object, encode_object

    result = class_radius(
        torch.nn.Identity(), lambda x: x[:, :2], latent_dim=2, precision=0.2, access="black-box", progress=False
    )
    encoded = encode_object(result)
    del encoded["precision"]["proxy_scale"]
    del encoded["precision"]["proxy_power"]
    back = decode_object("RadiusResult", encoded)
    assert math.isnan(back.precision.proxy_scale)
    assert math.isnan(back.precision.proxy_power)
    assert back.precision.to_frame().equals(result.precision.to_frame())
