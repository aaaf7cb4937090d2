"""Tests for genloose.metrics.radius.result: RadiusResult's derived counts, frames and summary on a known result."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genloose.estimate import Estimate
from genloose.metrics.radius.result import RadiusResult


def _result(**overrides: object) -> RadiusResult:
    """Six points in d = 2: radii 1..5 and one censored point, labels 0, 1, 0, 1, 0, 2."""
    radii = np.array([1.0, 2.0, 3.0, 4.0, 5.0, math.inf])
    censored = ~np.isfinite(radii)
    fields = {
        "latents": np.zeros((6, 2)),
        "radii": radii,
        "witnesses": np.where(censored[:, None], np.nan, 1.0) * np.ones((6, 2)),
        "labels": np.array([0, 1, 0, 1, 0, 2]),
        "witness_labels": np.array([1, 0, 1, 0, 1, -1]),
        "censored": censored,
        "queries": np.array([10, 20, 30, 40, 50, 60]),
        "pool_queries": 7,
        "estimate": Estimate(3.0, 0.5, 2.0, 4.0, 0.95, 5, "normal"),
        "access": "white-box",
        "seed": 0,
        "class_counts_with_pool": np.array([3, 2, 1]),
        "fawzi_cap": 0.75,
        "fawzi_cap_stderr": 0.01,
        "exceeds_cap": False,
        "censoring": "exclude",
    }
    return RadiusResult(**{**fields, **overrides})


def test_counts_and_sizes() -> None:
    result = _result()
    assert (result.num_samples, result.latent_dim, result.num_censored) == (6, 2, 1)
    assert result.total_queries == 210 + 7
    assert result.num_still_improving == 0  # not recorded
    assert _result(still_improving=np.array([1, 0, 1, 0, 0, 0], dtype=bool)).num_still_improving == 2


def test_summary_quantiles_are_those_of_the_finite_radii() -> None:
    # linear interpolation on 1..5: the q-quantile is 1 + 4q
    assert _result().summary() == {
        "q05": 1.2,
        "q25": 2.0,
        "median": 3.0,
        "q75": 4.0,
        "q95": 4.8,
        "censored_fraction": 1 / 6,
    }
    everything_censored = _result(radii=np.full(6, math.inf), censored=np.ones(6, dtype=bool))
    summary = everything_censored.summary()
    assert summary["censored_fraction"] == 1.0
    assert all(math.isnan(summary[name]) for name in ("q05", "q25", "median", "q75", "q95"))


def test_to_frame_has_one_row_per_point_and_optional_columns() -> None:
    frame = _result().to_frame()
    assert list(frame.columns) == ["point", "label", "witness_label", "radius", "censored", "queries"]
    assert frame["point"].tolist() == list(range(6))
    assert frame["radius"].tolist()[:5] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert frame["censored"].tolist() == [False] * 5 + [True]
    assert frame["queries"].sum() == 210
    full = _result(still_improving=np.zeros(6, dtype=bool), lower_bounds=np.full(6, 0.5)).to_frame()
    assert list(full.columns)[-2:] == ["still_improving", "lower_bound"]
    assert full["lower_bound"].tolist() == [0.5] * 6


def test_per_class_frame_aggregates_finite_radii_by_label() -> None:
    frame = _result().per_class_frame()
    assert frame["label"].tolist() == [0, 1, 2]
    assert frame["count"].tolist() == [3, 2, 1]
    assert frame["censored"].tolist() == [0, 0, 1]
    assert frame["mean_radius"].tolist()[:2] == [3.0, 3.0]  # (1 + 3 + 5)/3 and (2 + 4)/2
    assert math.isnan(frame["mean_radius"].tolist()[2])  # only a censored point
    assert frame["median_radius"].tolist()[:2] == [3.0, 3.0]
    assert frame["mean_queries"].tolist() == [30.0, 30.0, 60.0]


@pytest.mark.parametrize(("exceeds", "words"), [(False, "within the universal cap"), (True, "EXCEEDS")])
def test_repr_states_the_cap_check(exceeds: bool, words: str) -> None:
    text = repr(_result(exceeds_cap=exceeds))
    assert text.startswith("RadiusResult(class radius <= ")
    assert "n=6, censored=1, access='white-box', queries/point=35" in text
    assert words in text


def test_is_frozen() -> None:
    with pytest.raises(AttributeError):
        _result().pool_queries = 0  # type: ignore[misc]
