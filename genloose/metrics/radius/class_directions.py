"""Directions toward other classes, from the class statistics of the labelled pool (black-box candidates).

In high dimension the nearest pool point of a class says almost nothing about the *direction* of that class: the
distance is dominated by the coordinates the classifier ignores. Class means average that noise away, and the
*discriminant subspace* S (where the class means differ) removes what is left of it:

* :meth:`ClassDirections.class_mean_rays` searches the ray from z along P_S(mu_c - mu_y), the projection onto S of
  the pool mean of class c minus that of z's class, for the classes whose mean lies nearest along it. For a
  nearest-mean classifier behind a linear generator that is exactly the normal of the boundary between the two.
* :meth:`ClassDirections.subspace_rays` searches random rays within S, which also reach classes the pool has too
  few (or no) points of to give a mean.

S is spanned by the leading right singular vectors of the matrix whose rows are sqrt(n_c)·(mu_c - mu) (n_c pool
points of class c, mu the pool mean). Without class structure each row is noise of variance s² per coordinate (s²
the pooled within-class variance), and the squared singular values of such a C×d matrix stay below the
Marchenko-Pastur edge s²·(sqrt(C) + sqrt(d))²; directions above twice that edge are kept, at most ``max_rank`` of
them. When none is (no linear class structure, e.g. concentric shells), the class-mean rays use the raw mean
differences and there are no subspace rays.

These rays are candidates for the restarts (:func:`genloose.metrics.radius.restarts.successive_halving`), most
useful in black-box, where no gradient says which boundary is near; each keeps its witness in its own state.
"""

from __future__ import annotations

import numpy as np
import torch

from genloose._random import Purpose, stream
from genloose.metrics.radius.state import CANDIDATE_CEILING, ChunkState

__all__ = ["ClassDirections"]

_RAY_FACTORS = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


class ClassDirections:
    """Class means of a labelled pool and its discriminant subspace.

    Parameters
    ----------
    points : numpy.ndarray of shape (n, d)
        Pool latents.
    labels : numpy.ndarray of shape (n,)
        Their labels.
    max_rank : int
        Largest dimension kept for the discriminant subspace.
    """

    def __init__(self, points: np.ndarray, labels: np.ndarray, *, max_rank: int = 8) -> None:
        x = np.asarray(points, dtype=np.float64)
        d = x.shape[1]
        self.classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        sums = np.zeros((self.classes.size, d))
        np.add.at(sums, inverse, x)
        self.means = sums / counts[:, None]
        self.basis = np.zeros((d, 0))
        if self.classes.size >= 2 and x.shape[0] > self.classes.size:
            within = float(np.sum((x - self.means[inverse]) ** 2)) / ((x.shape[0] - self.classes.size) * d)
            weighted = np.sqrt(counts)[:, None] * (self.means - x.mean(axis=0))
            _, singular, vt = np.linalg.svd(weighted, full_matrices=False)
            edge = 2.0 * within * (np.sqrt(self.classes.size) + np.sqrt(d)) ** 2
            self.basis = vt[singular**2 > edge][:max_rank].T

    @property
    def rank(self) -> int:
        """Dimension of the discriminant subspace (0: none found)."""
        return int(self.basis.shape[1])

    def _coordinates(self, x: np.ndarray) -> np.ndarray:
        return x @ self.basis if self.rank else x

    def _latent(self, coordinates: np.ndarray) -> np.ndarray:
        return coordinates @ self.basis.T if self.rank else coordinates

    def class_mean_rays(self, state: ChunkState, num_rays: int, *, budget: int) -> list[ChunkState]:
        """Search, for each point, the rays along P_S(mu_c - mu_y) toward the ``num_rays`` nearest-looking classes.

        Classes are ranked by how far along its ray their mean lies, ``(mu_c - z)·u_c``, which also sets where
        the ray is probed (1/8 to 3 times that distance). z stands in for its class mean when the pool has none
        of its class. Rank k's rays go to the k-th returned state. Points that have spent ``budget`` queries are
        skipped.
        """
        z_latent = state.z.detach().cpu().to(torch.float64).numpy()
        y = state.y.cpu().numpy()
        slot = np.searchsorted(self.classes, y).clip(max=self.classes.size - 1)
        has_own = self.classes[slot] == y
        centroids = self._coordinates(self.means)  # (C, k)
        z = self._coordinates(z_latent)
        own = np.where(has_own[:, None], centroids[slot], z)
        # (mu_c - z)·(mu_c - own) / |mu_c - own| for every pair, from inner products (no (m, C, k) array)
        cc = np.einsum("ck,ck->c", centroids, centroids)
        own_c, z_c = own @ centroids.T, z @ centroids.T
        z_own, own_own = np.einsum("mk,mk->m", z, own), np.einsum("mk,mk->m", own, own)
        separation = np.sqrt(np.maximum(cc[None, :] - 2 * own_c + own_own[:, None], 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            guess = (cc[None, :] - own_c - z_c + z_own[:, None]) / separation
        guess = np.where(guess > 0, guess, separation)  # z beyond the mean: the means' separation is the scale
        usable = (self.classes[None, :] != y[:, None]) & (separation > 0) & np.isfinite(guess)
        order = np.argsort(np.where(usable, guess, np.inf), axis=1, kind="stable")[:, :num_rays]
        ranks = []
        for rank in range(order.shape[1]):
            sub = state.fork(ceiling=CANDIDATE_CEILING)
            pick = order[:, rank]
            rows_np = np.flatnonzero(usable[np.arange(y.size), pick])
            if rows_np.size:
                offset = (centroids[pick[rows_np]] - own[rows_np]) / separation[rows_np, pick[rows_np]][:, None]
                self._search(state, sub, rows_np, self._latent(offset), guess[rows_np, pick[rows_np]], budget)
            ranks.append(sub)
        return ranks

    def subspace_rays(
        self,
        state: ChunkState,
        scale: torch.Tensor,
        *,
        num_rays: int,
        seed: int,
        point_index: torch.Tensor,
        budget: int,
    ) -> list[ChunkState]:
        """Search ``num_rays`` random rays within S from each point, probed at 1/8 to 3 times ``scale`` (per point).

        The directions come from a stream of (seed, point index), so results do not depend on batching. Points
        with a non-finite scale are skipped; with no subspace, no rays are searched.
        """
        if not self.rank:
            return []
        rows_np = np.flatnonzero(torch.isfinite(scale).cpu().numpy())
        gaussian = (
            np.stack(
                [
                    stream(seed, Purpose.SUBSPACE_RAYS, i).standard_normal((num_rays, self.rank))
                    for i in point_index[torch.as_tensor(rows_np)].tolist()
                ]
            )
            if rows_np.size
            else np.zeros((0, num_rays, self.rank))
        )
        gaussian /= np.linalg.norm(gaussian, axis=2, keepdims=True)
        distance = scale.cpu().numpy()[rows_np]
        ranks = []
        for ray in range(num_rays):
            sub = state.fork(ceiling=CANDIDATE_CEILING)
            if rows_np.size:
                self._search(state, sub, rows_np, self._latent(gaussian[:, ray, :]), distance, budget)
            ranks.append(sub)
        return ranks

    @staticmethod
    def _search(
        parent: ChunkState,
        state: ChunkState,
        rows_np: np.ndarray,
        directions: np.ndarray,
        distance: np.ndarray,
        budget: int,
    ) -> None:
        """Search the rays of ``rows_np`` near ``distance`` in ``state`` (a fork of ``parent``), for the points
        that have not spent ``budget``, and offer what they find to ``parent``."""
        device = state.z.device
        keep = state.has_budget(torch.as_tensor(rows_np, device=device), budget).cpu().numpy()
        if not keep.any():
            return
        rows = torch.as_tensor(rows_np[keep], device=device)
        u = torch.as_tensor(directions[keep], device=device).to(state.z.dtype)
        state.search_rays(rows, u, torch.as_tensor(distance[keep], device=device), factors=_RAY_FACTORS)
        parent.offer_from(state, rows)
