"""Progress bars that follow one policy: ``progress=None`` shows a bar unless ``TQDM_DISABLE`` is set or
output is not a terminal; ``False`` never shows one; ``True`` always does (rank 0 only when distributed).

A bar can count something other than the items it iterates over: with ``size_of``, each item advances the
bar by ``size_of(item)`` once its work is done (the class-radius search iterates over chunks of points and
counts points). Such a bar shows the estimated remaining time, stays on screen when done, and is redrawn
every second while an item is being worked on, so that its elapsed time keeps moving through a long chunk.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

from genloose._validation import check_progress

T = TypeVar("T")

__all__ = ["progress_bar"]

REFRESH_SECONDS = 1.0


def _is_rank_zero() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return True
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def progress_bar(
    iterable: Iterable[T],
    *,
    progress: bool | None,
    size_of: Callable[[T], int] | None = None,
    **kwargs: Any,
) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar according to the ``progress`` policy.

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    progress : bool or None
        ``None``: a bar on a terminal unless ``TQDM_DISABLE`` is set; ``False``: none; ``True``: always.
    size_of : callable, optional
        How far each item advances the bar, counted when its work is done (the loop asks for the next
        item); then ``total`` (in kwargs) is the sum of the sizes, and the bar stays on screen at the end.
    **kwargs
        Passed to :class:`tqdm.tqdm` (``desc``, ``unit``, ``total``, ``file``...).

    Examples
    --------
    >>> list(progress_bar(range(3), progress=False))
    [0, 1, 2]
    >>> import io
    >>> out = io.StringIO()
    >>> chunks = progress_bar([0, 256], progress=True, size_of=lambda s: min(256, 300 - s), total=300,
    ...                       unit="point", file=out)
    >>> list(chunks)
    [0, 256]
    >>> "300/300" in out.getvalue()
    True
    """
    progress = check_progress(progress)
    if progress is False or not _is_rank_zero():
        return iterable
    env_disabled = os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false")
    if progress is None and env_disabled:
        return iterable
    disable = None if progress is None else False
    if size_of is None:
        kwargs.setdefault("leave", False)
        return tqdm(iterable, disable=disable, **kwargs)
    kwargs.setdefault("leave", True)
    bar = tqdm(disable=disable, **kwargs)
    return _advance(iterable, bar, size_of)


def _advance(iterable: Iterable[T], bar: Any, size_of: Callable[[T], int]) -> Iterator[T]:
    stop = threading.Event()

    def redraw() -> None:  # keeps the elapsed time moving while a long item is worked on
        while not stop.wait(REFRESH_SECONDS):
            bar.refresh()

    ticker = None
    if not bar.disable:
        ticker = threading.Thread(target=redraw, name="genloose-progress", daemon=True)
        ticker.start()
    try:
        for item in iterable:
            yield item
            bar.update(size_of(item))
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        bar.close()
