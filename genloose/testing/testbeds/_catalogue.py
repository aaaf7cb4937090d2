"""One representative instance of every testbed kind and wrapper."""

from __future__ import annotations

import math

from genloose._validation import check_int
from genloose.testing.testbeds._base import Testbed
from genloose.testing.testbeds._grid_voronoi import grid_voronoi
from genloose.testing.testbeds._halfspace import halfspace
from genloose.testing.testbeds._sectors import sectors
from genloose.testing.testbeds._spheres import spheres
from genloose.testing.testbeds._wrappers import invertible_wrapper, with_logit_scale


def all_testbeds(latent_dim: int) -> list[Testbed]:
    """One representative instance of every kind and wrapper, for benchmarks and parametrised tests.

    Parameters
    ----------
    latent_dim : int
        ``d >= 2``.

    Returns
    -------
    list of Testbed
        A tilted half-space, 3 and 10 sectors, one sphere and three spheres near ``sqrt(d)``, a
        ``5 × 5`` grid, an invertible wrapper of the 3 sectors into ``3·d`` image coordinates
        and a logit-scaled half-space. The order and parameters are fixed.

    Examples
    --------
    >>> [tb.num_classes for tb in all_testbeds(4)]
    [2, 3, 10, 2, 4, 25, 3, 2]
    """
    d = check_int("latent_dim", latent_dim, min_value=2)
    root = math.sqrt(d)
    return [
        halfspace(d, offset=0.5, seed=1),
        sectors(d, 3),
        sectors(d, 10, plane=(d - 1, 0)),
        spheres(d, root),
        spheres(d, [max(root - 1.0, 0.25), root, root + 1.0]),
        grid_voronoi(d, n=2, scale=2.0, seed=2),
        invertible_wrapper(sectors(d, 3), image_shape=3 * d, seed=3),
        with_logit_scale(halfspace(d, offset=-1.0, seed=4), 1000.0),
    ]
