"""Exact class-radius testbeds: generator/classifier pairs whose class radius is known exactly.

Each testbed is a latent generator ``g`` and a classifier ``c`` (both :class:`torch.nn.Module`) whose
composite ``c∘g`` partitions the latent space :math:`\\mathbb{R}^d` into regions simple enough that the
class radius

.. math::

    r(z) = \\inf\\{\\lVert z - z' \\rVert_2 : c(g(z')) \\ne c(g(z))\\}

is known in closed form at every point, as are the class probabilities :math:`p_k = P(c(g(z)) = k)`
and (for all four kinds here) the mean :math:`\\mathbb{E}_{z \\sim N(0, I_d)}[r(z)]`. They are the
ground truth against which the class-radius estimator is tested, and users can test their own
search code against them.

The exact side (:meth:`Testbed.label`, :meth:`Testbed.exact_radius`, ...) is plain float64 numpy,
independent of torch; the torch side (``generator``, ``classifier``) is what an estimator sees.

One module per family: ``_base`` (the :class:`Testbed` contract),
``_halfspace``, ``_sectors``, ``_spheres``, ``_grid_voronoi``, ``_wrappers`` (:func:`invertible_wrapper`,
:func:`with_logit_scale`) and ``_catalogue`` (:func:`all_testbeds`). Import from this package, not from them.
"""

from __future__ import annotations

from genloose.testing.testbeds._base import Testbed
from genloose.testing.testbeds._catalogue import all_testbeds
from genloose.testing.testbeds._grid_voronoi import GridVoronoiTestbed, grid_voronoi
from genloose.testing.testbeds._halfspace import HalfspaceTestbed, halfspace
from genloose.testing.testbeds._sectors import SectorsTestbed, sectors
from genloose.testing.testbeds._spheres import SpheresTestbed, spheres
from genloose.testing.testbeds._wrappers import invertible_wrapper, with_logit_scale

__all__ = [
    "GridVoronoiTestbed",
    "HalfspaceTestbed",
    "SectorsTestbed",
    "SpheresTestbed",
    "Testbed",
    "all_testbeds",
    "grid_voronoi",
    "halfspace",
    "invertible_wrapper",
    "sectors",
    "spheres",
    "with_logit_scale",
]
