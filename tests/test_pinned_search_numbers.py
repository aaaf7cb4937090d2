"""Pinned numbers: exact results of the class-radius search (every stage and option) and of ``evaluate``.

A refactor must keep these bit-identical (the digests cover every radius, witness, witness label and query
count). A change of any pinned value is a behaviour change: it goes in its own commit saying why.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np
import pytest

import genloose
from genloose.testing import testbeds

SECTORS = testbeds.sectors(4, 3)
MODELS = {"generator": SECTORS.generator, "classifier": SECTORS.classifier, "latent_dim": 4, "progress": False}

#: name: (class_radius arguments and SearchConfig fields, digest, estimate, total queries, pool queries,
#: Lipschitz lower estimate)
CASES: dict[str, tuple[dict[str, Any], str, float, int, int, float | None]] = {
    "white-box, defaults": (
        {"num_samples": 10, "seed": 3, "pool_size": 64},
        "f929ab83da74ea62",
        0.6146141540760972,
        9480,
        64,
        None,
    ),
    "white-box, every knob": (
        {
            "num_samples": 10,
            "seed": 5,
            "pool_size": 64,
            "max_queries": 300,
            "rtol": 1e-3,
            "refine_steps": 4,
            "attack_steps": 30,
            "top_k": 2,
            "num_seeds": 2,
            "lipschitz": 10.0,
        },
        "fc0efce1a5ff124d",
        0.5174170800651555,
        2118,
        64,
        0.06337033256382993,
    ),
    "black-box": (
        {
            "num_samples": 6,
            "seed": 2,
            "pool_size": 64,
            "access": "black-box",
            "max_queries": 500,
            "blackbox_probes": 8,
            "blackbox_steps": 3,
            "blackbox_explore_steps": 1,
        },
        "73b786cef4e8e691",
        0.6168136253829489,
        2483,
        64,
        None,
    ),
    "no pool (random rays)": (
        {"num_samples": 5, "seed": 1, "pool_size": 0, "max_radius": 6.0, "max_queries": 200},
        "f479f11751449140",
        0.49461659106563555,
        940,
        0,
        None,
    ),
    "user latents, black-box": (
        {
            "latents": np.random.default_rng(7).standard_normal((6, 4)),
            "pool_size": 32,
            "access": "black-box",
            "max_queries": 300,
        },
        "b951aa89e605c0fd",
        0.5761726842648244,
        1988,
        32,
        None,
    ),
    "sample offset": (
        {"num_samples": 4, "seed": 3, "sample_offset": 6, "pool_size": 64},
        "15d32e49649a4040",
        0.7309686653544707,
        3792,
        64,
        None,
    ),
}


def split(arguments: dict[str, Any]) -> dict[str, Any]:
    """The call's own arguments, with the search knobs gathered into ``config=SearchConfig(...)``."""
    fields = set(genloose.SearchConfig.__dataclass_fields__)
    knobs = {key: value for key, value in arguments.items() if key in fields}
    own = {key: value for key, value in arguments.items() if key not in fields}
    return {**own, "config": genloose.SearchConfig(**knobs)}


def digest(result: genloose.RadiusResult) -> str:
    """The first 16 hex digits of a SHA-256 of the radii, queries, witnesses and witness labels."""
    h = hashlib.sha256()
    for array in (result.radii, result.queries, result.witnesses, result.witness_labels):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", list(CASES))
def test_class_radius_numbers_are_pinned(name: str) -> None:
    arguments, expected_digest, value, queries, pool_queries, lower = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = genloose.class_radius(**MODELS, **split(arguments))
    assert digest(result) == expected_digest
    assert float(result.estimate.value) == value
    assert int(result.queries.sum()) == queries
    assert result.pool_queries == pool_queries
    assert (result.lower_estimate.value if result.lower_estimate is not None else None) == lower


@pytest.mark.parametrize(
    ("arguments", "expected_digest", "radius", "radius_stderr", "collision", "collision_stderr"),
    [
        (
            {"num_samples": 12, "seed": 4, "pool_size": 64},
            "a8a5a5046436ae24",
            0.6769805351286746,
            0.13491768104165597,
            0.2727272727272727,
            0.0548202444686843,
        ),
        (
            {"num_samples": 8, "seed": 4, "pool_size": 64, "access": "black-box", "max_queries": 300},
            "7590d8e668d24495",
            0.6841113796297869,
            0.15663035356829408,
            0.2857142857142857,
            0.08537347209531383,
        ),
    ],
    ids=["white-box", "black-box"],
)
def test_evaluate_numbers_are_pinned(
    arguments: dict[str, Any],
    expected_digest: str,
    radius: float,
    radius_stderr: float,
    collision: float,
    collision_stderr: float,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = genloose.evaluate(**MODELS, **split(arguments))
    assert digest(report.radius_result) == expected_digest
    assert report.class_radius.value == radius
    assert report.collision_probability.value == collision
    assert report.class_radius.stderr == radius_stderr
    assert report.collision_probability.stderr == collision_stderr
