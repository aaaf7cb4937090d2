"""The per-chunk search state and the ray primitives every stage is built on.

A chunk holds m latents z with their labels y, the best witness found so far for each (the closest point with
another label that the classifier has actually labelled), and the queries each point has used. Witnesses only
ever improve, and only through points that were labelled, so every finite radius is a verified upper bound.

Ray primitives work on rays z + s·u (u a unit vector, s >= 0): a probe scan finds the first sampled crossing,
and a bisection shrinks the bracket [lo, hi] (lo labelled y or lo = 0, hi labelled differently) to a relative
width ``rtol``.
"""

from __future__ import annotations

import math

import torch

from genloose.metrics.radius.labeler import LatentLabeler

__all__ = ["CANDIDATE_CEILING", "POLISH_RTOL", "ChunkState"]

#: A candidate search skips distances beyond this multiple of the best radius found so far.
CANDIDATE_CEILING = 3.0

#: Relative width to which the final polish bisects (finer than the stages' ``rtol``: about a dozen more calls
#: per point, and the reported radius then sits within float32 resolution of the boundary on its ray).
POLISH_RTOL = 1e-7

#: Pushes tried at once for a witness that does not cross in two batch layouts, in units of 4 roundings of the
#: model dtype at the witness's largest coordinate.
HARDEN_PUSHES = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)

#: Model dtypes with a unit roundoff at least this coarse (float16, bfloat16) always have their witnesses moved out.
COARSE_DTYPE_EPS = 1e-4


def _distance(points: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Row-wise ||points - z|| in float64, from the exact float64 values of both (a difference taken in a
    low-precision model dtype would round before the norm, and could under-report the radius)."""
    return torch.linalg.vector_norm(points.to(torch.float64) - z.to(torch.float64), dim=1)


def _on_ray(z: torch.Tensor, u: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """z + s·u in z's dtype, row by row (``s`` of shape (m,)), or at P distances per row (``s`` of shape (m, P)).

    The one formula for points on rays: a bisected witness is recomputed from its distance, and must be
    bit-identical to the point the classifier labelled.
    """
    s = s.to(z.dtype)
    if s.ndim == 1:
        return z + s[:, None] * u
    return z[:, None, :] + s[:, :, None] * u[:, None, :]


def _lookahead_levels(open_rows: int, block_size: int) -> int:
    """Halvings to label at once: the most whose midpoint trees (2**levels - 1 per row) fit in the blocks that
    ``open_rows`` single midpoints occupy anyway (at least one)."""
    room = -(-open_rows // block_size) * block_size
    levels = 1
    while open_rows * (2 ** (levels + 1) - 1) <= room:
        levels += 1
    return levels


class ChunkState:
    """Latents, labels, best witnesses and query counts of one chunk of points."""

    def __init__(self, labeler: LatentLabeler, latents: torch.Tensor, labels: torch.Tensor, *, rtol: float) -> None:
        self.labeler = labeler
        self.z = latents
        self.y = labels
        self.rtol = rtol
        m = latents.shape[0]
        device = latents.device
        self.radius = torch.full((m,), math.inf, dtype=torch.float64, device=device)
        self.witness = torch.full_like(latents, math.nan)
        self.witness_label = torch.full((m,), -1, dtype=torch.long, device=device)
        self.spent = torch.zeros(m, dtype=torch.long, device=device)
        self.ceiling = torch.full((m,), math.inf, dtype=torch.float64, device=device)
        self.root = self
        #: The spent count past which a point's radius is recorded in ``radius_at_watch`` (see :meth:`watch`).
        self.watch_from = math.inf
        self.radius_at_watch = torch.full((m,), math.nan, dtype=torch.float64, device=device)  # NaN: not reached

    def watch(self, spent: int) -> None:
        """Record each point's radius when its spent count first reaches ``spent``.

        With ``spent`` = 90% of the budget, ``radius_at_watch`` against the final radius tells which points
        were still improving when their budget ran out. Forks record this state's radius, not their own.
        """
        self.watch_from = spent

    def fork(self, ceiling: float = math.inf) -> ChunkState:
        """A state on the same points with no witnesses yet, charging its queries to this one's counts.

        Its scans skip distances beyond ``ceiling`` times this state's current radius (a candidate search
        that cannot come near the best witness is not worth its queries).
        """
        other = ChunkState(self.labeler, self.z, self.y, rtol=self.rtol)
        other.spent = self.spent
        other.root = self.root
        if math.isfinite(ceiling):
            other.ceiling = self.radius * ceiling
        return other

    def charge(self, rows: torch.Tensor, queries: int | torch.Tensor) -> None:
        """Count ``queries`` calls of c∘g (one number, or one per row) against each of ``rows``.

        A row listed twice is charged twice: each copy made its own calls.
        """
        counts = queries if isinstance(queries, torch.Tensor) else torch.full_like(rows, queries)
        root = self.root
        if math.isfinite(root.watch_from):
            before = self.spent[rows] < root.watch_from
            self.spent.index_add_(0, rows, counts.to(self.spent.dtype))
            crossed = rows[before & (self.spent[rows] >= root.watch_from)]
            root.radius_at_watch[crossed] = root.radius[crossed]
        else:
            self.spent.index_add_(0, rows, counts.to(self.spent.dtype))

    def has_budget(self, rows: torch.Tensor, budget: int) -> torch.Tensor:
        """Mask of the ``rows`` that have spent fewer than ``budget`` queries."""
        return self.spent[rows] < budget

    def offer_from(self, source: ChunkState, rows: torch.Tensor) -> None:
        """Offer the witnesses ``source`` (a state on the same points) holds for ``rows``."""
        rows = rows[torch.isfinite(source.radius[rows])]
        self.offer(rows, source.witness[rows], source.witness_label[rows])

    def adopt(self, rows: torch.Tensor, source: ChunkState) -> None:
        """Take the witnesses that ``source`` (a state on the same points) holds for ``rows``."""
        self.radius[rows] = source.radius[rows]
        self.witness[rows] = source.witness[rows]
        self.witness_label[rows] = source.witness_label[rows]

    @property
    def size(self) -> int:
        """Number of points in the chunk."""
        return int(self.z.shape[0])

    def label_points(self, rows: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Labels of ``points`` (shape (len(rows), P, d) or (len(rows), d)); charges each row its P queries."""
        flat = points.reshape(-1, points.shape[-1])
        per_row = flat.shape[0] // max(1, rows.shape[0])
        self.charge(rows, per_row)
        return self.labeler.labels(flat).reshape(points.shape[:-1])

    def offer(self, rows: torch.Tensor, points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Keep each point of ``points`` (len(rows), d) as witness if it is labelled differently and closer.

        Returns the boolean mask of rows that improved.
        """
        adversarial = labels != self.y[rows]
        dist = _distance(points, self.z[rows])
        better = adversarial & (dist < self.radius[rows])
        take = rows[better]
        self.radius[take] = dist[better]
        self.witness[take] = points[better]
        self.witness_label[take] = labels[better]
        return better

    def ray_points(self, rows: torch.Tensor, u: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Points z[rows] + s·u in the model's dtype; ``s`` has shape (len(rows),) or (len(rows), P)."""
        return _on_ray(self.z[rows], u, s)

    def scan(
        self, rows: torch.Tensor, u: torch.Tensor, s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Probe each ray at increasing distances ``s`` (len(rows), P) and bracket the first crossing.

        Probes at or beyond the row's current radius (or its ceiling) are skipped: they cannot improve it.
        Returns ``(found, lo, hi, hi_label)``: whether a differently-labelled probe was seen, and the bracket.
        """
        usable = s < torch.minimum(self.radius, self.ceiling)[rows, None]
        labels = torch.full(s.shape, -1, dtype=torch.long, device=s.device)
        keep = usable.any(dim=1)
        if keep.any():
            sub = rows[keep]
            points = self.ray_points(sub, u[keep], s[keep])
            mask = usable[keep]
            flat_labels = self.labeler.labels(points[mask])
            self.charge(sub, mask.sum(dim=1))
            block = torch.full(mask.shape, -1, dtype=torch.long, device=s.device)
            block[mask] = flat_labels
            labels[keep] = block
        adversarial = usable & (labels != self.y[rows, None]) & (labels >= 0)
        found = adversarial.any(dim=1)
        first = torch.where(found, adversarial.float().argmax(dim=1), torch.zeros_like(found, dtype=torch.long))
        hi = s.gather(1, first[:, None])[:, 0]
        hi_label = labels.gather(1, first[:, None])[:, 0]
        prev = (first - 1).clamp(min=0)
        lo = torch.where(first > 0, s.gather(1, prev[:, None])[:, 0], torch.zeros_like(hi))
        return found, lo, hi, hi_label

    def bisect(
        self,
        rows: torch.Tensor,
        u: torch.Tensor,
        lo: torch.Tensor,
        hi: torch.Tensor,
        hi_label: torch.Tensor,
        *,
        tol: float | None = None,
    ) -> None:
        """Shrink brackets [lo, hi] on the rays to relative width ``tol`` (default ``rtol``) and offer the hi ends.

        The unfinished brackets are kept packed (finished ones leave the working set). When they fill only part
        of the model's blocks, the rows that would be padding label the next halvings ahead instead (the whole
        tree of midpoints of the next ``levels`` halvings, see :func:`_lookahead_levels`): the midpoints are the
        ones plain bisection computes, so brackets, witnesses and the calls charged to each point are the same
        for any number of open brackets, and only the model calls are fewer. Midpoints labelled ahead and not
        needed are counted as speculative, not as queries.
        """
        tol = self.rtol if tol is None else tol
        lo, hi, hi_label = lo.clone(), hi.clone(), hi_label.clone()
        open_ = torch.nonzero((hi - lo) > tol * hi)[:, 0]
        z, y, w_u = self.z[rows[open_]], self.y[rows[open_]], u[open_]
        w_lo, w_hi, w_label = lo[open_], hi[open_], hi_label[open_]
        halvings = torch.zeros_like(open_)
        while open_.numel():
            levels = _lookahead_levels(open_.numel(), self.labeler.block_size)
            # the midpoints of the next `levels` halvings, level by level (node k's children are 2k and 2k + 1)
            tree_lo, tree_hi, mids = w_lo[:, None], w_hi[:, None], []
            for _ in range(levels):
                mid = 0.5 * (tree_lo + tree_hi)
                mids.append(mid)
                tree_lo = torch.stack([tree_lo, mid], dim=2).reshape(mid.shape[0], -1)
                tree_hi = torch.stack([mid, tree_hi], dim=2).reshape(mid.shape[0], -1)
            s_all = torch.cat(mids, dim=1)  # (k, 2**levels - 1)
            labels_all = self.labeler.labels(_on_ray(z, w_u, s_all).reshape(-1, z.shape[1])).reshape(s_all.shape)
            used = torch.zeros_like(open_)
            going = torch.ones_like(open_, dtype=torch.bool)
            node = torch.zeros_like(open_)
            first = 0
            for level in range(levels):
                k_rows = torch.nonzero(going)[:, 0]
                column = first + node[k_rows]
                mid, labels = s_all[k_rows, column], labels_all[k_rows, column]
                adversarial = labels != y[k_rows]
                w_hi[k_rows] = torch.where(adversarial, mid, w_hi[k_rows])
                w_label[k_rows] = torch.where(adversarial, labels, w_label[k_rows])
                w_lo[k_rows] = torch.where(adversarial, w_lo[k_rows], mid)
                used[k_rows] += 1
                node[k_rows] = 2 * node[k_rows] + (~adversarial).long()
                going[k_rows] = (w_hi[k_rows] - w_lo[k_rows]) > tol * w_hi[k_rows]
                first += 2**level
                if not bool(going.any()):
                    break
            self.labeler.queries.set_aside(int(s_all.numel() - used.sum()))
            halvings += used
            done = ~going
            if bool(done.any()):
                finished = open_[done]
                lo[finished], hi[finished], hi_label[finished] = w_lo[done], w_hi[done], w_label[done]
                self.charge(rows[finished], halvings[done])
            open_, z, y, w_u, halvings = open_[going], z[going], y[going], w_u[going], halvings[going]
            w_lo, w_hi, w_label = w_lo[going], w_hi[going], w_label[going]
        self.offer(rows, self.ray_points(rows, u, hi), hi_label)

    def search_rays(
        self,
        rows: torch.Tensor,
        u: torch.Tensor,
        guess: torch.Tensor,
        factors: tuple[float, ...] = (0.5, 0.9, 0.99, 1.01, 1.1, 1.5, 2.5),
        radius_fractions: tuple[float, ...] = (),
        *,
        tol: float | None = None,
    ) -> None:
        """Look for a closer witness along rays z + s·u near the expected crossing distance ``guess``.

        The rays are probed at ``guess·factors`` and at ``radius·radius_fractions`` (fractions of the current
        radius: any crossing closer than the witness is an improvement, so these catch crossings a poor guess
        misses; one just inside the radius is always added), skipping distances at or beyond the current radius;
        the first crossing found is bisected (to relative width ``tol``, default ``rtol``).
        """
        ok = torch.isfinite(u).all(dim=1)
        if not radius_fractions:
            ok &= torch.isfinite(guess) & (guess > 0)
        if not bool(ok.any()):
            return
        rows, u, guess = rows[ok], u[ok], guess[ok]
        kw = {"dtype": torch.float64, "device": guess.device}
        s = guess[:, None] * torch.tensor(factors, **kw)
        s = torch.where(torch.isfinite(s) & (s > 0), s, torch.full_like(s, math.inf))
        # probes beyond the current radius are skipped, so one just inside it catches a crossing there
        fractions = (*radius_fractions, 1.0 - self.rtol)
        near = self.radius[rows, None] * torch.tensor(fractions, **kw)
        s = torch.sort(torch.cat([s, near], dim=1), dim=1).values
        found, lo, hi, hi_label = self.scan(rows, u, s)
        if bool(found.any()):
            self.bisect(rows[found], u[found], lo[found], hi[found], hi_label[found], tol=tol)

    def polish(self, rows: torch.Tensor) -> None:
        """Probe the segment from z to the current witness and bisect any earlier crossing to ``POLISH_RTOL``.

        This removes the overshoot an attack step leaves; only probed points can become witnesses.
        """
        has = torch.isfinite(self.radius[rows])
        rows = rows[has]
        if rows.numel() == 0:
            return
        direction = (self.witness[rows] - self.z[rows]).to(torch.float64)
        norm = torch.linalg.vector_norm(direction, dim=1)
        u = (direction / norm[:, None]).to(self.z.dtype)
        self.search_rays(rows, u, norm, factors=(0.5, 0.9, 0.99, 0.999, 0.9999), tol=min(self.rtol, POLISH_RTOL))

    def harden(self, rows: torch.Tensor, margin: float) -> None:
        """Keep only witnesses that cross in two batch layouts; move the others the least that makes them cross.

        A witness can lie within floating-point rounding of the boundary, where the model called with another
        batch layout (other kernels, other rounding) labels it the other way; and one found by a gradient step
        was labelled by the scores of a gradient call. Each witness is labelled again in the search's blocks and
        alone (a batch of one row). One that does not cross in both is moved out along its ray by
        ``HARDEN_PUSHES`` (fractions of 4 units of rounding of the model dtype at its largest coordinate, all
        labelled in one go), then, if none of those crosses in both layouts, by ``margin·r`` more, and kept at
        the first moved point that crosses in both. Witnesses that already cross are kept exactly: a push would
        only add to their radius. In half precision (float16, bfloat16), whose rounding is as coarse as 10^-3 of
        a coordinate, every witness is moved, and by the full push: there a crossing that two labellings agree
        on can still sit on the wrong side of the boundary the model approximates.
        """
        # a witness at z itself (only a non-deterministic model gives one) has no ray; re-verification flags it
        rows = rows[torch.isfinite(self.radius[rows]) & (self.radius[rows] > 0)]
        if rows.numel() == 0:
            return
        if torch.finfo(self.z.dtype).eps < COARSE_DTYPE_EPS:
            rows = rows[~self._crosses_in_two_layouts(rows, self.witness[rows])[0]]
            if rows.numel() == 0:
                return
        direction = (self.witness[rows] - self.z[rows]).to(torch.float64)
        norm = torch.linalg.vector_norm(direction, dim=1)
        u = (direction / norm[:, None]).to(self.z.dtype)
        unit = 4.0 * torch.finfo(self.z.dtype).eps
        rounding = unit * self.witness[rows].to(torch.float64).abs().amax(dim=1).clamp_min(1.0)
        # in half precision the least push two layouts agree on can still be on the wrong side: the full one
        ladder = HARDEN_PUSHES if torch.finfo(self.z.dtype).eps < COARSE_DTYPE_EPS else HARDEN_PUSHES[-1:]
        pushes = torch.tensor(ladder, dtype=torch.float64, device=norm.device)
        for relative in (None, margin):
            extra = rounding[:, None] * pushes if relative is None else (rounding + relative * norm)[:, None]
            moved = self.ray_points(rows, u, norm[:, None] + extra)  # (rows, P, d)
            crosses, labels = self._crosses_in_two_layouts(
                rows.repeat_interleave(moved.shape[1]), moved.reshape(-1, moved.shape[-1])
            )
            crosses, labels = crosses.reshape(moved.shape[:2]), labels.reshape(moved.shape[:2])
            keep = crosses.any(dim=1)
            first = crosses.to(torch.int8).argmax(dim=1)
            take = rows[keep]
            chosen = moved[keep, first[keep]]
            self.witness[take] = chosen
            self.witness_label[take] = labels[keep, first[keep]]
            self.radius[take] = _distance(chosen, self.z[take])
            rows, u, norm, rounding = rows[~keep], u[~keep], norm[~keep], rounding[~keep]
            if rows.numel() == 0:
                return

    def _crosses_in_two_layouts(self, rows: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask, labels): whether each point is labelled the same other class in blocks and alone."""
        labels = self.label_points(rows, points)
        alone = self.labeler.labels(points, block_size=1)
        self.charge(rows, 1)
        return (labels != self.y[rows]) & (alone == labels), labels

    def search_opposite(self, rows: torch.Tensor) -> None:
        """Search the ray from z away from its witness (the other side of the point).

        A point between two boundaries whose seeds all cross the same one (a chord to a farther class dips
        through the nearer side, as between concentric shells) never tries the other side otherwise.
        """
        rows = rows[torch.isfinite(self.radius[rows])]
        if rows.numel() == 0:
            return
        direction = (self.z[rows] - self.witness[rows]).to(torch.float64)
        norm = torch.linalg.vector_norm(direction, dim=1)
        u = (direction / norm.clamp_min(1e-300)[:, None]).to(self.z.dtype)
        self.search_rays(rows, u, norm, factors=(), radius_fractions=(0.1, 0.25, 0.5, 0.75, 0.9))
