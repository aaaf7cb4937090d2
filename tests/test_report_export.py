"""Tests of genloose/_report_export.py: a Report's frame, dict, JSON, files, printed table and summary."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import genloose
from genloose._errors import InvalidArgumentError
from genloose.report import (
    BOUND_QUANTITIES,
    DIAGNOSTIC_QUANTITIES,
    ESTIMATE_QUANTITIES,
    FRAME_DTYPES,
    SAMPLE_SPACE_QUANTITIES,
    empty_frame,
    reports_to_frame,
)

N = 300  # the sample size of the ten_sectors and two_shells fixtures (tests/conftest.py)


# ----------------------------------------------------------------------------------------------
# exports: frame, dict, JSON, repr
# ----------------------------------------------------------------------------------------------


def test_frame_has_the_fixed_schema(ten_sectors) -> None:
    _, report = ten_sectors
    frame = report.to_frame()
    expected_dtypes = pd.Series({k: pd.api.types.pandas_dtype(v) for k, v in FRAME_DTYPES.items()})
    pd.testing.assert_series_equal(frame.dtypes, expected_dtypes, check_names=False)
    pd.testing.assert_frame_equal(frame.iloc[:0].reset_index(drop=True), empty_frame())
    quantities = [*ESTIMATE_QUANTITIES, *SAMPLE_SPACE_QUANTITIES, *BOUND_QUANTITIES, *DIAGNOSTIC_QUANTITIES]
    assert frame["quantity"].tolist() == quantities
    row = frame.set_index("quantity").loc["class_radius"]
    assert row["value"] == report.class_radius.value
    assert row["n"] == report.class_radius.n
    assert (frame["seed"] == 3).all()
    assert (frame["world_size"] == 1).all()
    assert (frame["genloose_version"] == genloose.__version__).all()
    without_hypothesis = len(ESTIMATE_QUANTITIES) + len(SAMPLE_SPACE_QUANTITIES) + len(DIAGNOSTIC_QUANTITIES)
    assert frame["hypothesis_holds"].isna().sum() == without_hypothesis
    assert frame.set_index("quantity").loc["cap_respected", "value"] == 1.0
    wide = frame.pivot(index="quantity", columns="seed", values="value")
    assert wide.shape == (len(frame), 1)


def test_reports_to_frame_adds_a_model_column(ten_sectors, two_shells) -> None:
    frame = reports_to_frame([ten_sectors[1], two_shells[1]], names=["sectors", "shells"])
    pd.testing.assert_frame_equal(frame.iloc[:0].reset_index(drop=True), empty_frame(with_model=True))
    assert frame["model"].tolist()[:1] == ["sectors"]
    assert frame["model"].tolist()[-1] == "shells"
    assert len(frame) == 2 * len(ten_sectors[1].to_frame())
    assert reports_to_frame([ten_sectors[1]])["model"].unique().tolist() == ["model_0"]
    with pytest.raises(InvalidArgumentError, match="distinct"):
        reports_to_frame([ten_sectors[1], two_shells[1]], names=["x", "x"])
    with pytest.raises(InvalidArgumentError, match="one str per report"):
        reports_to_frame([ten_sectors[1]], names=["x", "y"])
    with pytest.raises(InvalidArgumentError, match="non-empty sequence"):
        reports_to_frame([])
    with pytest.raises(InvalidArgumentError, match=r"reports\[1\] must be a Report"):
        reports_to_frame([ten_sectors[1], "report"])


def test_dict_and_json_have_stable_keys(ten_sectors) -> None:
    _, report = ten_sectors
    data = report.to_dict()
    expected = []
    for name in (*ESTIMATE_QUANTITIES, *SAMPLE_SPACE_QUANTITIES, *BOUND_QUANTITIES):
        expected += [f"{name}_{s}" for s in ("value", "stderr", "ci_low", "ci_high", "n", "method")]
        if name in BOUND_QUANTITIES:
            expected.append(f"{name}_hypothesis_holds")
    expected += ["confidence", *DIAGNOSTIC_QUANTITIES, "class_counts", "class_probabilities"]
    expected += [
        "seed",
        "latent_dim",
        "num_samples",
        "access",
        "world_size",
        "num_classes",
        "device",
        "dtype",
        "genloose_version",
        "torch_version",
        "python_version",
    ]
    assert list(data) == expected
    assert all(key == key.lower() and " " not in key for key in data)
    text = report.to_json()
    loaded = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert loaded["theorem_3_2_bound_ci_low"] is None  # NaN -> null
    assert loaded["class_radius_value"] == data["class_radius_value"]
    assert loaded["class_counts"] == data["class_counts"]


@pytest.mark.filterwarnings("ignore::genloose.UndefinedMetricWarning")
def test_json_encodes_infinity_as_a_string(single_class_report) -> None:
    report = single_class_report
    loaded = json.loads(report.to_json())
    assert loaded["fawzi_cap_value"] == "inf"


def test_repr_is_a_readable_table(ten_sectors, two_shells) -> None:
    text = repr(ten_sectors[1])
    assert text.startswith("genloose Report: num_samples=300, latent_dim=3, seed=3")
    for label in ("class radius", "collision probability", "collision entropy", "Fawzi cap", "Theorem 3.1"):
        assert label in text
    assert "hypothesis fails" in repr(two_shells[1])
    assert str(ten_sectors[1]) == text
    assert "<table" in ten_sectors[1]._repr_html_()


def test_summary_says_which_bounds_hold_and_which_are_vacuous(ten_sectors, two_shells) -> None:
    _, report = ten_sectors
    lines = report.summary().splitlines()
    assert len(lines) == 6
    r = report.class_radius
    assert lines[0] == (
        f"class radius <= {r.value:.4g} (95% CI {r.ci_low:.4g} to {r.ci_high:.4g}), an upper estimate from {N} "
        "points, white-box search"
    )
    assert lines[1].endswith(f"at most log K = {math.log(10):.4g} for K = 10 classes")
    assert lines[2].endswith("the radius is within it")
    assert report.bounds.theorem_3_1_bound.hypothesis_holds
    assert lines[3] == (
        f"Theorem 3.1: E r <= g(||p||²) = {report.bounds.theorem_3_1_bound.value:.4g}, hypothesis holds; vacuous "
        "(above the Fawzi cap, which always holds)"
    )
    entropy_bound = report.bounds.collision_entropy_upper_bound.value
    assert entropy_bound > math.log(10)  # hundreds of nats: says nothing about 10 classes
    assert lines[5] == (
        f"entropy bound G⁻¹(radius) = {entropy_bound:.4g} nats, hypothesis holds; vacuous (the collision entropy "
        f"never exceeds log K = {math.log(10):.4g})"
    )
    lines = two_shells[1].summary().splitlines()
    assert lines[3].startswith("Theorem 3.1: does not apply (hypothesis every p_k <= 1/5 fails: max p̂ = ")
    assert lines[4] == "Theorem 3.2: does not apply (hypothesis K >= 5 fails: K = 2 observed)"
    assert lines[5] == "entropy bound G⁻¹(radius): does not apply (Theorem 3.1's hypothesis fails)"


@pytest.mark.filterwarnings("ignore::genloose.UndefinedMetricWarning")
@pytest.mark.filterwarnings("ignore::genloose.SearchFailureWarning")
def test_summary_of_a_single_class_model(single_class_report) -> None:
    report = single_class_report
    lines = report.summary().splitlines()
    assert lines[0] == "class radius: undefined (all 20 points censored: no witness found)"
    assert lines[1].startswith("collision entropy 0 nats")  # not -0
    assert lines[2] == "Fawzi cap: infinite (one class: no boundary)"


def test_save_json_and_csv_refuse_to_overwrite(ten_sectors, tmp_path) -> None:
    _, report = ten_sectors
    report.save_json(tmp_path / "r.json")
    report.save_csv(tmp_path / "r.csv")
    with pytest.raises(InvalidArgumentError, match="must not exist"):
        report.save_json(tmp_path / "r.json")
    report.save_csv(tmp_path / "r.csv", overwrite=True)
    back = pd.read_csv(tmp_path / "r.csv")
    assert back["quantity"].tolist() == report.to_frame()["quantity"].tolist()
