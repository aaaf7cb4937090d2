"""Progress bars that follow one policy: ``progress=None`` shows a bar unless ``TQDM_DISABLE`` is set or
output is not a terminal; ``False`` never shows one; ``True`` always does (rank 0 only when distributed)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

from genloose._validation import check_progress

T = TypeVar("T")

__all__ = ["progress_bar"]


def _is_rank_zero() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return True
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def progress_bar(iterable: Iterable[T], *, progress: bool | None, **kwargs: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar according to the ``progress`` policy.

    Examples
    --------
    >>> list(progress_bar(range(3), progress=False))
    [0, 1, 2]
    """
    progress = check_progress(progress)
    if progress is False or not _is_rank_zero():
        return iterable
    env_disabled = os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false")
    if progress is None and env_disabled:
        return iterable
    disable = None if progress is None else False
    return tqdm(iterable, disable=disable, leave=False, **kwargs)
