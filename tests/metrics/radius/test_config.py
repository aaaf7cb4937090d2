"""Tests for genloose.metrics.radius.config: SearchConfig validation, its dict round trip, moved keywords."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import genloose
from genloose import InvalidArgumentError, SearchConfig
from genloose.metrics.radius.config import reject_moved_arguments
from genloose.testing import testbeds

FIELDS = [field.name for field in dataclasses.fields(SearchConfig)]

#: field: (values it accepts, values it refuses with the expectation the error states)
VALUES: dict[str, tuple[list[Any], list[tuple[Any, str]]]] = {
    "pool_size": (
        [0, 1, 2048],
        [(-1, "an integer >= 0"), (1.5, "an integer"), (True, "an integer"), (10**18, "fit in memory")],
    ),
    "num_seeds": ([None, 1, 7], [(0, "an integer >= 1"), ("3", "an integer")]),
    "max_queries": ([None, 1, 10**6], [(0, "an integer >= 1"), (2.0, "an integer")]),
    "rtol": ([1e-12, 1e-4, 0.5], [(0.0, ">= 1e-12"), (0.6, "<= 0.5"), (math.nan, "finite"), ("1e-4", "a real")]),
    "refine_steps": ([0, 10], [(-1, "an integer >= 0"), (None, "an integer")]),
    "attack_steps": ([None, 0, 5], [(-2, "an integer >= 0")]),
    "top_k": ([0, 10], [(-1, "an integer >= 0")]),
    "blackbox_steps": ([0, 16], [(-1, "an integer >= 0")]),
    "blackbox_explore_steps": ([0, 2], [(-1, "an integer >= 0")]),
    "blackbox_probes": ([None, 2, 64], [(1, "an integer >= 2")]),
    "max_radius": ([None, 1e-9, 6], [(0.0, "> 0"), (math.inf, "finite"), (-1.0, "> 0")]),
    "lipschitz": ([None, 0.5, 3], [(0, "> 0"), (True, "a real")]),
    "on_unverified": (["raise", "censor"], [("ignore", "one of 'raise', 'censor'"), (None, "one of")]),
    "precision_max_points": ([32, 10**6], [(0, "an integer >= 1"), (1e5, "an integer")]),
    "precision_pilot_points": ([8, 32], [(7, "an integer >= 8"), (10**6, "at most precision_max_points")]),
}


def test_every_field_has_validation_cases() -> None:
    assert sorted(VALUES) == sorted(FIELDS)


def test_defaults_are_the_search_defaults() -> None:
    assert SearchConfig().to_dict() == {
        "pool_size": 2048,
        "num_seeds": None,
        "max_queries": None,
        "rtol": 1e-4,
        "refine_steps": 10,
        "attack_steps": None,
        "top_k": 10,
        "blackbox_steps": 16,
        "blackbox_explore_steps": 2,
        "blackbox_probes": None,
        "max_radius": None,
        "lipschitz": None,
        "on_unverified": "raise",
        "precision_max_points": 100_000,
        "precision_pilot_points": 32,
    }


@pytest.mark.parametrize("name", FIELDS)
def test_each_field_accepts_its_range_and_normalises_the_type(name: str) -> None:
    for value in VALUES[name][0]:
        got = getattr(SearchConfig(**{name: value}), name)
        assert got == value
        if isinstance(value, int) and name in ("rtol", "max_radius", "lipschitz"):
            assert type(got) is float  # reals are stored as float, so to_dict writes a JSON real


@pytest.mark.parametrize("name", FIELDS)
def test_each_field_refuses_bad_values_naming_the_field(name: str) -> None:
    for value, expectation in VALUES[name][1]:
        with pytest.raises(InvalidArgumentError, match=rf"^SearchConfig\.{name} must .*{expectation}"):
            SearchConfig(**{name: value})


def test_frozen_keyword_only_and_slotted() -> None:
    config = SearchConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.rtol = 1e-3  # type: ignore[misc]
    with pytest.raises(TypeError):
        SearchConfig(2048)  # type: ignore[misc]
    assert not hasattr(config, "__dict__")
    with pytest.raises(InvalidArgumentError, match=r"SearchConfig\.rtol must be"):
        dataclasses.replace(config, rtol=-1.0)  # variants are validated too


CONFIGS = st.builds(
    SearchConfig,
    pool_size=st.integers(0, 10**6),
    num_seeds=st.none() | st.integers(1, 100),
    max_queries=st.none() | st.integers(1, 10**9),
    rtol=st.floats(1e-12, 0.5),
    refine_steps=st.integers(0, 100),
    attack_steps=st.none() | st.integers(0, 10**6),
    top_k=st.integers(0, 100),
    blackbox_steps=st.integers(0, 100),
    blackbox_explore_steps=st.integers(0, 100),
    blackbox_probes=st.none() | st.integers(2, 10**4),
    max_radius=st.none() | st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
    lipschitz=st.none() | st.floats(min_value=0.0, exclude_min=True, allow_infinity=False),
    on_unverified=st.sampled_from(["raise", "censor"]),
)


@given(CONFIGS)
def test_dict_round_trip_through_json_is_exact(config: SearchConfig) -> None:
    data = config.to_dict()
    back = SearchConfig.from_dict(json.loads(json.dumps(data, allow_nan=False)))
    assert back == config
    assert back.to_dict() == data


def test_from_dict_refuses_unknown_keys_by_name_and_non_mappings() -> None:
    with pytest.raises(InvalidArgumentError, match=r"SearchConfig has no field 'rtool', 'budget'; its fields are pool"):
        SearchConfig.from_dict({"rtool": 1e-3, "budget": 5, "rtol": 1e-3})
    with pytest.raises(InvalidArgumentError, match="data must be a mapping of SearchConfig fields"):
        SearchConfig.from_dict([("rtol", 1e-3)])  # type: ignore[arg-type]
    assert SearchConfig.from_dict({}) == SearchConfig()


SECTORS = testbeds.sectors(3, 3)
CALLS = {
    "class_radius": lambda **kw: genloose.class_radius(SECTORS.generator, SECTORS.classifier, latent_dim=3, **kw),
    "evaluate": lambda **kw: genloose.evaluate(SECTORS.generator, SECTORS.classifier, latent_dim=3, **kw),
    "compare": lambda **kw: genloose.compare(
        SECTORS.generator, SECTORS.generator, classifier=SECTORS.classifier, latent_dim=3, **kw
    ),
}


@pytest.mark.parametrize("function", CALLS)
def test_a_moved_keyword_says_where_it_went(function: str) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=rf"^{function}\(\) takes no argument rtol: rtol is a SearchConfig field: "
        r"pass config=SearchConfig\(rtol=\.\.\.\)",
    ):
        CALLS[function](num_samples=4, rtol=1e-3, progress=False)
    with pytest.raises(InvalidArgumentError, match=r"pool_size, max_queries are SearchConfig fields: pass "):
        CALLS[function](num_samples=4, pool_size=8, max_queries=10, progress=False)
    with pytest.raises(TypeError, match=rf"{function}\(\) got an unexpected keyword argument 'rtool'"):
        CALLS[function](num_samples=4, rtool=1e-3, progress=False)


def test_reject_moved_arguments_accepts_nothing_extra() -> None:
    reject_moved_arguments("class_radius", {})  # no extra keywords: nothing to refuse


def _quiet(call: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def test_the_config_is_recorded_and_survives_the_json_round_trip() -> None:
    config = SearchConfig(pool_size=16, max_queries=200, rtol=1e-3, lipschitz=5.0)
    report = _quiet(lambda: CALLS["evaluate"](num_samples=6, seed=1, config=config, progress=False))
    assert report.radius_result.metadata["search_config"] == config.to_dict()
    back = genloose.Report.from_json(report.to_json())
    assert SearchConfig.from_dict(back.radius_result.metadata["search_config"]) == config


def test_default_config_equals_no_config() -> None:
    a = _quiet(lambda: CALLS["class_radius"](num_samples=5, seed=2, config=SearchConfig(pool_size=16), progress=False))
    b = _quiet(lambda: CALLS["class_radius"](num_samples=5, seed=2, config=SearchConfig(pool_size=16), progress=False))
    c = _quiet(lambda: CALLS["class_radius"](num_samples=5, seed=2, progress=False))
    assert (a.radii == b.radii).all()
    assert c.metadata["search_config"] == SearchConfig().to_dict()


def test_compare_passes_one_config_to_both_evaluations_and_refuses_it_with_reports() -> None:
    config = SearchConfig(pool_size=16, max_queries=150)
    result = _quiet(lambda: CALLS["compare"](num_samples=6, config=config, progress=False))
    assert result.paired
    report = _quiet(lambda: CALLS["evaluate"](num_samples=6, config=config, progress=False))
    assert report.radius_result.metadata["search_config"] == config.to_dict()
    with pytest.raises(InvalidArgumentError, match="config must not be given when a and b are Reports"):
        genloose.compare(report, report, config=config)


@pytest.mark.parametrize("function", ["evaluate", "compare"])
def test_evaluate_and_compare_need_two_samples_class_radius_one(function: str) -> None:
    with pytest.raises(InvalidArgumentError, match="num_samples must be an integer >= 2; got 1"):
        CALLS[function](num_samples=1, config=SearchConfig(pool_size=8), progress=False)
    one = _quiet(lambda: CALLS["class_radius"](num_samples=1, config=SearchConfig(pool_size=8), progress=False))
    assert one.num_samples == 1


def test_lipschitz_in_the_config_gives_lower_bounds() -> None:
    result = genloose.class_radius(
        torch.nn.Identity(),
        lambda x: torch.stack([x[:, 0], -x[:, 0]], 1),
        latent_dim=2,
        num_samples=8,
        config=SearchConfig(lipschitz=math.sqrt(2), pool_size=16),
        progress=False,
    )
    assert result.lower_bounds is not None
