"""Stage 1: seeds from a labelled pool, and a random-ray fallback.

For every point, the nearest pool point of each other class is found with faiss (one exact L2 index per class),
and the ``num_seeds`` closest of those, necessarily of distinct classes, become candidate witnesses. Each segment
from z to a candidate is scanned at eight evenly spaced points and its first crossing bisected (stage 2).
Distinct target classes act as natural restarts. In high dimension these seeds are far (10-25x the true radius at
d = 128): they are starting points for the refinement stages, not answers.
For black-box restarts, :func:`pool_candidates` keeps each seed's witness in its own state and adds the rays of
:mod:`genloose.metrics.radius.class_directions`, which carry the direction information these seeds lack.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

from genloose._random import Purpose, stream
from genloose.metrics.radius.class_directions import ClassDirections
from genloose.metrics.radius.state import ChunkState

__all__ = ["ClassPool", "pool_candidates", "random_ray_seeds", "seed_from_pool"]


class ClassPool:
    """Labelled pool points indexed by class for nearest-neighbour queries."""

    def __init__(self, points: np.ndarray, labels: np.ndarray) -> None:
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.labels = labels
        self.classes = np.unique(labels)
        self.indexes: dict[int, tuple[faiss.IndexFlatL2, np.ndarray]] = {}
        for label in self.classes:
            members = np.flatnonzero(labels == label)
            index = faiss.IndexFlatL2(self.points.shape[1])
            index.add(self.points[members])
            self.indexes[int(label)] = (index, members)

    def nearest_other(self, queries: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """For each query, up to ``k`` pool points of distinct other classes, nearest first.

        Returns ``(indices, valid)`` of shape (m, k); invalid slots (fewer other classes) have index -1.
        """
        m = queries.shape[0]
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        dist = np.full((m, len(self.classes)), np.inf)
        index_of = np.full((m, len(self.classes)), -1, dtype=np.int64)
        for col, label in enumerate(self.classes):
            index, members = self.indexes[int(label)]
            d2, nn = index.search(queries, 1)
            own = labels == label
            dist[:, col] = np.where(own, np.inf, d2[:, 0])
            index_of[:, col] = np.where(own, -1, members[nn[:, 0]])
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        chosen = np.take_along_axis(index_of, order, axis=1)
        valid = np.isfinite(np.take_along_axis(dist, order, axis=1)) & (chosen >= 0)
        return np.where(valid, chosen, -1), valid


def seed_from_pool(
    state: ChunkState,
    pool: ClassPool,
    states: list[ChunkState],
    *,
    budget: int,
    scan_points: int = 8,
) -> None:
    """Scan and bisect the segments from each point to its nearest pool points of other classes.

    The k-th nearest class's witness goes to ``states[k]`` (states on the points of ``state``, one per seed,
    for the restarts). Points that have spent ``budget`` queries are skipped.
    """
    z = state.z.detach().cpu().to(torch.float64).numpy()
    y = state.y.cpu().numpy()
    chosen, valid = pool.nearest_other(z, y, len(states))
    fractions = torch.arange(1, scan_points + 1, dtype=torch.float64, device=state.z.device)
    fractions = fractions / scan_points
    every_row = torch.arange(state.size, device=state.z.device)
    for slot in range(chosen.shape[1]):
        target_state = states[slot]
        rows_np = np.flatnonzero(valid[:, slot] & state.has_budget(every_row, budget).cpu().numpy())
        if rows_np.size == 0:
            continue
        rows = torch.as_tensor(rows_np, device=state.z.device)
        target = torch.as_tensor(pool.points[chosen[rows_np, slot]], device=state.z.device)
        direction = target.to(torch.float64) - state.z[rows].to(torch.float64)
        length = torch.linalg.vector_norm(direction, dim=1)
        u = (direction / length[:, None]).to(state.z.dtype)
        found, lo, hi, hi_label = target_state.scan(rows, u, length[:, None] * fractions)
        if bool(found.any()):
            target_state.bisect(rows[found], u[found], lo[found], hi[found], hi_label[found])


def pool_candidates(
    state: ChunkState,
    pool: ClassPool,
    num_seeds: int,
    *,
    seed: int,
    point_index: torch.Tensor,
    budget: int,
    directions: ClassDirections | None = None,
) -> list[ChunkState]:
    """Candidate witnesses, one state each: the ``num_seeds`` nearest-class seeds, then the class-direction rays.

    Each search skips the points that have spent ``budget`` queries. ``directions`` defaults to
    ``ClassDirections(pool.points, pool.labels)``; pass it to share it across chunks.
    """
    seeds = [state.fork() for _ in range(num_seeds)]
    seed_from_pool(state, pool, seeds, budget=budget)
    every_row = torch.arange(state.size, device=state.z.device)
    for seed_state in seeds:
        state.offer_from(seed_state, every_row)
    if directions is None:
        directions = ClassDirections(pool.points, pool.labels)
    rays = directions.class_mean_rays(state, 2 * num_seeds, budget=budget)
    rays += directions.subspace_rays(
        state, state.radius.clone(), num_rays=8, seed=seed, point_index=point_index, budget=budget
    )
    return seeds + rays


def random_ray_seeds(
    state: ChunkState,
    rows: torch.Tensor,
    *,
    max_radius: float,
    num_rays: int,
    seed: int,
    point_index: torch.Tensor,
) -> None:
    """Fallback for points without a pool seed: scan random rays out to ``max_radius``."""
    if rows.numel() == 0:
        return
    d = state.z.shape[1]
    directions = np.stack(
        [stream(seed, Purpose.RANDOM_RAYS, int(i)).standard_normal((num_rays, d)) for i in point_index[rows].tolist()]
    )
    directions /= np.linalg.norm(directions, axis=2, keepdims=True)
    u_all = torch.as_tensor(directions, device=state.z.device)
    steps = torch.linspace(1.0 / 16, 1.0, 16, dtype=torch.float64, device=state.z.device)
    for ray in range(num_rays):
        u = u_all[:, ray, :].to(state.z.dtype)
        s = (max_radius * steps).expand(rows.shape[0], -1)
        found, lo, hi, hi_label = state.scan(rows, u, s)
        if bool(found.any()):
            state.bisect(rows[found], u[found], lo[found], hi[found], hi_label[found])
