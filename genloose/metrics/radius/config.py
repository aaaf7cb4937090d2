"""The class-radius search's configuration: budgets, tolerances and stage knobs, validated once.

:class:`SearchConfig` holds everything about *how hard and how* the search works; what changes from call to
call (the models, the sample, the seed, the access mode, the batch size, the confidence level) stays an
argument of :func:`genloose.class_radius`, :func:`genloose.evaluate` and :func:`genloose.compare`, which take
the configuration whole as ``config=``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from genloose._errors import InvalidArgumentError
from genloose._validation import check_choice, check_float, check_int, check_size, describe, fail

__all__ = ["SearchConfig", "as_search_config", "reject_moved_arguments"]


def _int(minimum: int) -> Callable[[str, Any], int]:
    return lambda name, value: check_int(name, value, min_value=minimum)


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else check(name, value)


def _positive(name: str, value: Any) -> float:
    return check_float(name, value, min_value=0.0, min_inclusive=False)


#: Each field's check: it returns the value normalised (an int as ``int``, a real as ``float``) or raises.
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    # the pool's latents and their labelled copies: at least two float64 numbers per point, whatever d
    "pool_size": lambda name, value: check_size(name, value, min_value=0, bytes_each=16, what="a seeding pool"),
    "num_seeds": _optional(_int(1)),
    "max_queries": _optional(_int(1)),
    "rtol": lambda name, value: check_float(name, value, min_value=1e-12, max_value=0.5),
    "refine_steps": _int(0),
    "attack_steps": _optional(_int(0)),
    "top_k": _int(0),
    "blackbox_steps": _int(0),
    "blackbox_explore_steps": _int(0),
    "blackbox_probes": _optional(_int(2)),
    "max_radius": _optional(_positive),
    "lipschitz": _optional(_positive),
    "on_unverified": lambda name, value: check_choice(name, value, ("raise", "censor")),
    "precision_max_points": _int(1),
    "precision_pilot_points": _int(8),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchConfig:
    r"""How the class-radius search works: its budgets, tolerances and stage knobs (frozen, validated).

    The defaults are the ones :func:`genloose.class_radius` has always used. Make a variant with
    :func:`dataclasses.replace` (validated again); save and load one with :meth:`to_dict` /
    :meth:`from_dict` (or ``genloose evaluate --config FILE.json``). Every report records the configuration
    it was made with, in ``result.metadata["search_config"]``.

    Attributes
    ----------
    pool_size : int, default 2048
        Labelled N(0, I) points used as seeds (stage 1); >= 0.
    num_seeds : int, optional
        Pool seeds per point (the nearest pool points of distinct other classes), and the number of other
        candidates (class-mean and subspace rays) of distinct classes shortlisted for the restarts; >= 1.
        Default (``None``): 3 in white-box and 6 in black-box.
    max_queries : int, optional
        Budget of calls of c∘g per point (forward and gradient evaluations each count one), besides the
        point's share of labelling the pool (``pool_size / n``); >= 1. Default (``None``): 960 in white-box
        (so that, with the default pool and n >= 52 points, the calls per point in all stay within 1000) and
        ``150·d + 1000`` in black-box. A stage in progress may overrun it by one ray search.
    rtol : float, default 1e-4
        Relative precision of every bisection, in [1e-12, 0.5]; the final polish bisects to
        ``min(rtol, 1e-7)``.
    refine_steps : int, default 10
        White-box: normal-ray iterations (also for the best restarts); >= 0.
    attack_steps : int, optional
        White-box: at most this many steps per point of the boundary descent, and as many of the fine
        descent that follows it; >= 0. Default: as many as the budget leaves (the candidate stages may use
        40% of the budget, the boundary descent the rest but 250 calls, the fine descent from the best
        witness those but 40 kept for the final normal-ray iterations, polish and hardening).
    top_k : int, default 10
        White-box: classes linearised at z, each one a restart candidate; >= 0.
    blackbox_steps : int, default 16
        Black-box: iterations on the best witness; >= 0.
    blackbox_explore_steps : int, default 2
        Black-box: iterations for the best restarts before choosing one; >= 0.
    blackbox_probes : int, optional
        Black-box: sign queries per iteration; >= 2. Default: ``4·d``.
    max_radius : float, optional
        How far random rays look for a witness when the pool offers no seed; > 0. Default:
        ``4·sqrt(d) + 4``. A point with no witness at all is *censored*.
    lipschitz : float, optional
        A Lipschitz constant (L2 to L2) of z -> scores, > 0: gives certified lower bounds and a bracket
        (needs a classifier that returns scores).
    on_unverified : {"raise", "censor"}, default "raise"
        What to do when a witness fails re-verification (a non-deterministic model): raise
        :class:`~genloose.NonDeterministicModelError`, or censor those points with a warning.
    precision_max_points : int, default 100000
        With ``precision=`` (:func:`genloose.class_radius`, :func:`genloose.evaluate`): the most points used in
        all (searched, or on a proxy level given only the proxy); the run stops there, with a warning, even if
        the precision is not reached; >= 1.
    precision_pilot_points : int, default 32
        With ``precision=``: points searched at every candidate budget to choose the levels; >= 8 and at most
        ``precision_max_points``.

    Raises
    ------
    InvalidArgumentError
        A field of the wrong type or out of range, named as ``SearchConfig.<field>``.

    Examples
    --------
    >>> import dataclasses, genloose
    >>> config = genloose.SearchConfig(max_queries=400, rtol=1e-3)
    >>> dataclasses.replace(config, rtol=1e-5).rtol
    1e-05
    >>> genloose.SearchConfig.from_dict(config.to_dict()) == config
    True
    >>> genloose.SearchConfig(rtol=0.9)
    Traceback (most recent call last):
    ...
    genloose._errors.InvalidArgumentError: SearchConfig.rtol must be a number <= 0.5; got 0.9 (float)
    """

    pool_size: int = 2048
    num_seeds: int | None = None
    max_queries: int | None = None
    rtol: float = 1e-4
    refine_steps: int = 10
    attack_steps: int | None = None
    top_k: int = 10
    blackbox_steps: int = 16
    blackbox_explore_steps: int = 2
    blackbox_probes: int | None = None
    max_radius: float | None = None
    lipschitz: float | None = None
    on_unverified: Literal["raise", "censor"] = "raise"
    precision_max_points: int = 100_000
    precision_pilot_points: int = 32

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = _CHECKS[field.name](f"SearchConfig.{field.name}", getattr(self, field.name))
            object.__setattr__(self, field.name, value)
        if self.precision_pilot_points > self.precision_max_points:
            raise fail(
                "SearchConfig.precision_pilot_points",
                f"at most precision_max_points ({self.precision_max_points})",
                self.precision_pilot_points,
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-safe dict (ints, floats, strings and None), which :meth:`from_dict` reads back.

        Examples
        --------
        >>> import genloose
        >>> genloose.SearchConfig(max_queries=400).to_dict()["max_queries"]
        400
        """
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        """A configuration from a mapping of field names (missing fields take their defaults).

        Parameters
        ----------
        data : mapping of str to value
            Field names and values, e.g. :meth:`to_dict`'s output or a parsed JSON object.

        Returns
        -------
        SearchConfig

        Raises
        ------
        InvalidArgumentError
            ``data`` is not a mapping, holds a key that is not a field (named), or a value out of range.

        Examples
        --------
        >>> import genloose
        >>> genloose.SearchConfig.from_dict({"rtol": 1e-3}).rtol
        0.001
        >>> genloose.SearchConfig.from_dict({"rtool": 1e-3})
        Traceback (most recent call last):
        ...
        genloose._errors.InvalidArgumentError: SearchConfig has no field 'rtool'; its fields are pool_size, ...
        """
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"data must be a mapping of SearchConfig fields; got {describe(data)}")
        unknown = [key for key in data if key not in _CHECKS]
        if unknown:
            listed = ", ".join(repr(key) for key in unknown)
            raise InvalidArgumentError(f"SearchConfig has no field {listed}; its fields are {', '.join(_CHECKS)}")
        return cls(**data)


def reject_moved_arguments(function: str, given: Mapping[str, Any]) -> None:
    """Refuse keyword arguments that a function does not take, naming where a moved one went.

    A :class:`SearchConfig` field passed directly (``class_radius(..., rtol=1e-3)``) is told to go in
    ``config=SearchConfig(rtol=...)``; any other unknown keyword gets Python's usual message.

    Parameters
    ----------
    function : str
        The function's name, for the message.
    given : mapping of str to value
        The unexpected keyword arguments (the function's ``**moved``); nothing is raised when it is empty.

    Raises
    ------
    InvalidArgumentError
        A search knob given as a keyword argument.
    TypeError
        Any other unexpected keyword argument.

    Examples
    --------
    >>> reject_moved_arguments("class_radius", {"rtol": 1e-3})
    Traceback (most recent call last):
    ...
    genloose._errors.InvalidArgumentError: class_radius() takes no argument rtol: rtol is a SearchConfig field: \
pass config=SearchConfig(rtol=...)
    """
    if not given:
        return
    moved = [key for key in given if key in _CHECKS]
    if moved:
        fields = ", ".join(moved)
        example = ", ".join(f"{key}=..." for key in moved)
        verb = "is a SearchConfig field" if len(moved) == 1 else "are SearchConfig fields"
        raise InvalidArgumentError(
            f"{function}() takes no argument {fields}: {fields} {verb}: pass config=SearchConfig({example})"
        )
    _unexpected(function, next(iter(given)))


def _unexpected(function: str, name: str) -> NoReturn:
    raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")


def as_search_config(config: Any, name: str = "config") -> SearchConfig:
    """``config`` itself, or the default :class:`SearchConfig` for ``None``; anything else is refused by name.

    Examples
    --------
    >>> as_search_config(None) == SearchConfig()
    True
    """
    if config is None:
        return SearchConfig()
    if not isinstance(config, SearchConfig):
        raise InvalidArgumentError(
            f"{name} must be a genloose.SearchConfig or None; got {describe(config)} (a dict of fields: "
            "SearchConfig.from_dict(...))"
        )
    return config
