"""Strategy helpers shared by the theory tests."""

from __future__ import annotations

import numpy as np


def water_fill(p: np.ndarray, cap: float) -> np.ndarray:
    """Move mass above ``cap`` onto the other classes in proportion, until no class exceeds ``cap``
    (needs p.size * cap >= 1). The last line only removes ulp-level overshoot from rounding."""
    p = p.copy()
    for _ in range(p.size):
        over = p > cap
        if not over.any():
            break
        excess = float(np.sum(p[over] - cap))
        p[over] = cap
        free = p < cap
        if not free.any():
            break
        p[free] += excess * p[free] / np.sum(p[free])
    return np.minimum(p, cap)
