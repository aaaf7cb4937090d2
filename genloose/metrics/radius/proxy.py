"""A cheap control variate for the class radius: the distance to the nearest linearised boundary at z.

For the :data:`PROXY_CLASSES` highest-scoring other classes j at z, the margin :math:`m_j = f_j - f_y` and its
gradient give the distance :math:`|m_j(z)| / \\|\\nabla m_j(z)\\|` to the boundary of c∘g linearised at z (the
first step of DeepFool); the proxy is the least of them. It costs one scored call and one gradient per class,
against hundreds of calls for a search, and on the bundled d = 64 digit DCGAN it has a correlation of 0.94 with
the full search's radius (100 points).

It is neither a witness nor a bound on r(z): :func:`genloose.class_radius` with ``precision`` uses it only as the
cheapest level of its multilevel estimator (a control variate: the level above it estimates the mean of
r(z) minus a fixed multiple of the proxy on the same points), so the estimate stays an estimate of the mean of
the full search's verified radii whatever the proxy's quality. A point whose proxy is not finite (no gradient,
or a single class) gets the value 0: any fixed function of z is a valid control variate.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genloose.metrics.radius.labeler import LatentLabeler

__all__ = ["PROXY_CLASSES", "linearized_distances"]

#: Other classes whose linearised boundaries the proxy measures (the highest-scoring ones at z). On the d = 64
#: digit DCGAN, 1 class gives a correlation of 0.88 with the full search's radius and 3 give 0.94.
PROXY_CLASSES = 3


def linearized_distances(
    labeler: LatentLabeler, z: torch.Tensor, *, classes: int = PROXY_CLASSES, offset: int = 0
) -> np.ndarray:
    """The distance from each row of ``z`` to its nearest linearised boundary, as float64 (0 where undefined).

    Parameters
    ----------
    labeler : LatentLabeler
        The models (scores differentiable with respect to the latents); counts one forward call per row and
        one gradient per row and class.
    z : torch.Tensor
        Latents (n, d) in the models' dtype and device.
    classes : int
        How many of the highest-scoring other classes are measured.
    offset : int
        The latent index of ``z``'s first row, for error messages.

    Returns
    -------
    numpy.ndarray
        ``min_j |f_j(z) - f_y(z)| / ||∇(f_j - f_y)(z)||`` over the ``classes`` best other classes j, y the label of
        z; 0 where no such distance is finite.

    Examples
    --------
    >>> import torch
    >>> from genloose.models import as_classifier, as_generator
    >>> labeler = LatentLabeler(as_generator(torch.nn.Identity(), latent_dim=2),
    ...                         as_classifier(lambda x: torch.stack([x[:, 0], -x[:, 0]], dim=1)))
    >>> linearized_distances(labeler, torch.tensor([[0.5, 1.0], [-2.0, 0.0]])).round(6).tolist()
    [0.5, 2.0]
    """
    n = z.shape[0]
    out = np.zeros(n)
    if n == 0:
        return out
    scores = labeler.scores(z, where="latent index", offset=offset)
    if scores is None or scores.shape[1] < 2:
        return out
    labels = scores.argmax(dim=1)
    others = scores.clone()
    others[torch.arange(n, device=scores.device), labels] = -math.inf
    targets = others.topk(min(classes, scores.shape[1] - 1), dim=1).indices
    nearest = torch.full((n,), math.inf, dtype=torch.float64)
    for slot in range(targets.shape[1]):
        margin, grad, _ = labeler.margin_gradients(z, labels, targets[:, slot])
        norm = torch.linalg.vector_norm(grad.to(torch.float64), dim=1).cpu()
        distance = margin.to(torch.float64).abs().cpu() / norm
        nearest = torch.where(torch.isfinite(distance), torch.minimum(nearest, distance), nearest)
    out[:] = torch.where(torch.isfinite(nearest), nearest, torch.zeros_like(nearest)).numpy()
    return out
