"""Tools for testing class-radius code: exact testbeds, assertion helpers and hypothesis strategies.

``genloose.testing`` re-exports the testbeds (:mod:`genloose.testing.testbeds`) and the
assertions (:mod:`genloose.testing.assertions`). The hypothesis strategies live in
:mod:`genloose.testing.strategies`, imported explicitly, because they need the optional
``hypothesis`` package.
"""

from __future__ import annotations

from genloose.testing.assertions import (
    assert_estimate_close,
    assert_radii_are_upper_bounds,
    assert_radii_at_least_exact,
    assert_radii_close_to_exact,
)
from genloose.testing.testbeds import (
    GridVoronoiTestbed,
    HalfspaceTestbed,
    SectorsTestbed,
    SpheresTestbed,
    Testbed,
    all_testbeds,
    grid_voronoi,
    halfspace,
    invertible_wrapper,
    sectors,
    spheres,
    with_logit_scale,
)

__all__ = [
    "GridVoronoiTestbed",
    "HalfspaceTestbed",
    "SectorsTestbed",
    "SpheresTestbed",
    "Testbed",
    "all_testbeds",
    "assert_estimate_close",
    "assert_radii_are_upper_bounds",
    "assert_radii_at_least_exact",
    "assert_radii_close_to_exact",
    "grid_voronoi",
    "halfspace",
    "invertible_wrapper",
    "sectors",
    "spheres",
    "with_logit_scale",
]
