"""Assertion helpers for tests of estimates and class-radius searches.

Each helper raises :class:`AssertionError` with a message that names the first failing item, so
it can be used directly in a pytest test; a misuse (wrong argument type or value) raises
:class:`~genloose._errors.InvalidArgumentError` instead.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from genloose._errors import InvalidArgumentError
from genloose._validation import as_numpy, check_float, check_int, describe, fail
from genloose.testing.testbeds import Testbed

__all__ = [
    "assert_estimate_close",
    "assert_radii_are_upper_bounds",
    "assert_radii_at_least_exact",
    "assert_radii_close_to_exact",
]

_RESULT_FIELDS = ("latents", "witnesses", "radii", "labels", "witness_labels", "censored")


def assert_estimate_close(
    estimate: Any,
    expected: float,
    *,
    num_stderr: float = 4.0,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> None:
    """Assert that an estimate agrees with the exact value within its standard error.

    Passes when

    .. math::

        |\\hat\\theta - \\theta| \\le k \\cdot \\mathrm{SE} + \\mathrm{atol}
        + \\mathrm{rtol} \\cdot |\\theta|

    with ``k = num_stderr``, or when the value equals ``expected`` exactly (an infinite value
    or expected value passes only then). With the default ``k = 4`` a correct, normally distributed estimator fails a
    seeded test with probability about ``6e-5``.

    Parameters
    ----------
    estimate : Estimate
        Anything with float attributes ``value`` and ``stderr`` (e.g. :class:`genloose.Estimate`).
    expected : float
        The exact value.
    num_stderr : float, default 4.0
        Allowed number of standard errors, ``>= 0``.
    rtol, atol : float, default 0.0
        Extra relative and absolute tolerance, ``>= 0`` (for a known bias, or round-off).

    Raises
    ------
    AssertionError
        When the difference is too large (the message gives the value, the expected value, the
        standard error and the z-score), when the value is NaN, or when the standard error is NaN,
        infinite or negative and neither ``atol`` nor ``rtol`` is given (such a check could not
        fail, or could not be made).

    Examples
    --------
    >>> from genloose import Estimate
    >>> e = Estimate.from_normal(0.81, 0.01, n=1000, confidence=0.95, method="mean")
    >>> assert_estimate_close(e, 0.7979)
    >>> assert_estimate_close(e, 0.70)
    Traceback (most recent call last):
    ...
    AssertionError: estimate 0.81 differs from expected 0.7 by 0.11 (11 standard errors; ...
    """
    for attribute in ("value", "stderr"):
        if not hasattr(estimate, attribute):
            raise fail("estimate", "an Estimate (with .value and .stderr)", estimate)
    expected = check_float("expected", expected, allow_inf=True)
    num_stderr = check_float("num_stderr", num_stderr, min_value=0.0)
    rtol = check_float("rtol", rtol, min_value=0.0)
    atol = check_float("atol", atol, min_value=0.0)
    value, stderr = _real(estimate.value, "estimate.value"), _real(estimate.stderr, "estimate.stderr")

    if value == expected:
        return
    if math.isnan(value):
        raise AssertionError(f"estimate is NaN; expected {expected!r} (stderr {stderr!r})")
    if math.isinf(value) or math.isinf(expected):
        raise AssertionError(f"estimate {value!r} differs from expected {expected!r}")
    usable = math.isfinite(stderr) and stderr >= 0
    if not usable and atol == 0.0 and rtol == 0.0:
        raise AssertionError(
            f"cannot compare estimate {value!r} with expected {expected!r}: its stderr is "
            f"{stderr!r}; give atol or rtol to compare without it"
        )
    allowed = (num_stderr * stderr if usable else 0.0) + atol + rtol * abs(expected)
    difference = abs(value - expected)
    if not difference <= allowed:
        if usable and stderr > 0:
            zscore = (value - expected) / stderr
            spread = f"{abs(zscore):.3g} standard errors; stderr {stderr!r}, z-score {zscore:.3g}"
        else:
            spread = f"stderr {stderr!r}"
        raise AssertionError(
            f"estimate {value!r} differs from expected {expected!r} by {difference:.6g} "
            f"({spread}); allowed {allowed:.6g} = {num_stderr:g}*stderr + atol {atol:g} "
            f"+ rtol {rtol:g}*|expected|"
        )


def assert_radii_are_upper_bounds(
    result: Any,
    generator: Any,
    classifier: Any,
    *,
    rtol: float = 1e-6,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 4096,
) -> None:
    """Re-verify a class-radius result: every witness really is of another class.

    For every point, the models are called plainly,
    ``classifier(generator(torch.as_tensor(latents)))``, and the label is the argmax over dim 1
    of 2-D scores (or the output itself when it is 1-D). The check then requires

    - the stored ``labels`` to equal the recomputed labels of the latents;
    - for every uncensored point, a finite witness whose recomputed label differs from the
      latent's and equals the stored ``witness_labels``, and a radius equal to
      ``||witness - latent||`` within ``rtol`` (so the radius is a proven upper bound on
      ``r(z)``);
    - for every censored point, an infinite radius.

    Parameters
    ----------
    result : object
        Duck-typed: attributes ``latents`` ``(n, d)``, ``witnesses`` ``(n, d)`` (NaN rows where
        censored), ``radii`` ``(n,)`` (inf where censored), ``labels`` ``(n,)``,
        ``witness_labels`` ``(n,)`` and ``censored`` ``(n,)`` boolean; numpy arrays or torch
        tensors.
    generator, classifier : callable
        The models the result was computed for, taking and returning torch tensors.
    rtol : float, default 1e-6
        Relative tolerance of the radius against the witness distance.
    dtype : torch.dtype, optional
        The dtype of the tensors passed to the generator. Default: the search's own, when the result
        records it (``result.metadata["dtype"]``, as :class:`genloose.RadiusResult` does), else that of
        the stored arrays. Verify in the precision the search used: a witness is labelled differently
        in that precision, and may not be in another within rounding of the boundary.
    device : torch.device or str, optional
        Their device (default: CPU).
    batch_size : int, default 4096
        Rows per model call.

    Raises
    ------
    AssertionError
        Naming the first failing index and the number of failing rows.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np
    >>> from genloose.testing import halfspace
    >>> tb = halfspace(2, normal=[1.0, 0.0])
    >>> result = SimpleNamespace(
    ...     latents=np.array([[0.5, 0.0]]), witnesses=np.array([[-0.1, 0.0]]),
    ...     radii=np.array([0.6]), labels=np.array([1]), witness_labels=np.array([0]),
    ...     censored=np.array([False]))
    >>> assert_radii_are_upper_bounds(result, tb.generator, tb.classifier)
    """
    rtol = check_float("rtol", rtol, min_value=0.0)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise fail("dtype", "a torch.dtype or None", dtype)
    if dtype is None:
        recorded = (
            getattr(result, "metadata", {}).get("dtype")
            if isinstance(getattr(result, "metadata", None), dict)
            else None
        )
        if isinstance(recorded, str) and isinstance(getattr(torch, recorded, None), torch.dtype):
            dtype = getattr(torch, recorded)
    fields = _result_fields(result, _RESULT_FIELDS)
    latents, witnesses, radii = fields["latents"], fields["witnesses"], fields["radii"]
    n = _check_shapes(fields)
    censored = fields["censored"]
    if censored.dtype != np.bool_:
        raise AssertionError(f"result.censored must be boolean; got dtype {censored.dtype}")
    labels = _as_labels(fields["labels"], "result.labels")
    witness_labels = _as_labels(fields["witness_labels"], "result.witness_labels")

    _fail_rows(censored & ~(np.isposinf(radii)), "censored point has a radius that is not +inf", radii=radii)
    kept = ~censored
    _fail_rows(kept & ~np.all(np.isfinite(witnesses), axis=1), "uncensored point has a non-finite witness", radii=radii)
    _fail_rows(
        kept & ~(np.isfinite(radii) & (radii >= 0)),
        "uncensored point has a radius that is not finite and >= 0",
        radii=radii,
    )

    recomputed = _model_labels(generator, classifier, latents, dtype, device, batch_size)
    _fail_rows(
        recomputed != labels,
        "stored label differs from the model's label of the latent",
        stored=labels,
        model=recomputed,
    )

    index = np.flatnonzero(kept)
    witness_model = np.full(n, -1, dtype=np.int64)
    if index.size:
        witness_model[index] = _model_labels(generator, classifier, witnesses[index], dtype, device, batch_size)
    _fail_rows(
        kept & (witness_model == recomputed),
        "witness has the same label as its latent (not a witness)",
        label=recomputed,
        witness_label=witness_model,
    )
    _fail_rows(
        kept & (witness_model != witness_labels),
        "stored witness label differs from the model's label of the witness",
        stored=witness_labels,
        model=witness_model,
    )

    distance = np.linalg.norm(witnesses.astype(np.float64) - latents.astype(np.float64), axis=1)
    with np.errstate(invalid="ignore"):
        bad = kept & ~(np.abs(radii - distance) <= rtol * distance)
    _fail_rows(
        bad, f"radius differs from ||witness - latent|| by more than rtol={rtol:g}", radius=radii, distance=distance
    )


def assert_radii_at_least_exact(result: Any, testbed: Testbed, *, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Assert that every estimated radius is at least the exact class radius.

    A radius backed by a witness (a point of another class) can never be below ``r(z)``; one
    that is means the witness is wrong or the radius was not measured from it. Allowed:

    .. math::

        \\hat r(z) \\ge r(z)\\,(1 - \\mathrm{rtol}) - \\mathrm{atol}

    Infinite (censored) radii pass.

    Parameters
    ----------
    result : object
        Anything with ``latents`` ``(n, d)`` and ``radii`` ``(n,)`` (numpy arrays or tensors).
    testbed : Testbed
        The testbed the result was computed on.
    rtol, atol : float, default 1e-6 and 1e-9
        Round-off allowance. The defaults suit float64 models; with float32 models a witness's
        label is decided in float32, so allow about ``atol=1e-4``.

    Raises
    ------
    AssertionError
        Naming the first radius below the exact one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np
    >>> from genloose.testing import sectors
    >>> tb = sectors(2, 4)
    >>> z = np.array([[1.0, 0.5], [2.0, 1.0]])
    >>> assert_radii_at_least_exact(SimpleNamespace(latents=z, radii=np.array([0.5, 1.1])), tb)
    >>> assert_radii_at_least_exact(SimpleNamespace(latents=z, radii=np.array([0.5, 0.9])), tb)
    Traceback (most recent call last):
    ...
    AssertionError: 1 of 2 rows: radius below the exact class radius; first at index 1: ...
    """
    _, radii, exact = _against_testbed(result, testbed)
    rtol = check_float("rtol", rtol, min_value=0.0)
    atol = check_float("atol", atol, min_value=0.0)
    with np.errstate(invalid="ignore"):
        bad = ~(radii >= exact * (1.0 - rtol) - atol)
    _fail_rows(bad, "radius below the exact class radius", radius=radii, exact=exact)


def assert_radii_close_to_exact(
    result: Any,
    testbed: Testbed,
    *,
    rtol: float = 1e-3,
    atol: float = 0.0,
    allow_censored: bool = False,
) -> None:
    """Assert that every estimated radius is close to the exact class radius.

    .. math::

        |\\hat r(z) - r(z)| \\le \\mathrm{atol} + \\mathrm{rtol} \\cdot r(z)

    Parameters
    ----------
    result : object
        Anything with ``latents`` ``(n, d)`` and ``radii`` ``(n,)``; with ``allow_censored``, also
        ``censored`` ``(n,)`` boolean.
    testbed : Testbed
        The testbed the result was computed on.
    rtol, atol : float, default 1e-3 and 0.0
        Tolerances.
    allow_censored : bool, default False
        Skip censored rows instead of failing on their infinite radius.

    Raises
    ------
    AssertionError
        Naming the first radius too far from the exact one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import numpy as np
    >>> from genloose.testing import spheres
    >>> tb = spheres(2, [1.0])
    >>> result = SimpleNamespace(latents=np.array([[0.0, 3.0]]), radii=np.array([2.001]))
    >>> assert_radii_close_to_exact(result, tb)
    >>> assert_radii_close_to_exact(result, tb, rtol=1e-4)
    Traceback (most recent call last):
    ...
    AssertionError: 1 of 1 rows: radius not within atol + rtol*exact of the exact class radius; ...
    """
    _, radii, exact = _against_testbed(result, testbed)
    rtol = check_float("rtol", rtol, min_value=0.0)
    atol = check_float("atol", atol, min_value=0.0)
    if not isinstance(allow_censored, bool):
        raise fail("allow_censored", "a bool", allow_censored)
    skip = np.zeros(radii.shape, dtype=bool)
    if allow_censored:
        skip = _result_fields(result, ("censored",))["censored"]
        if skip.shape != radii.shape or skip.dtype != np.bool_:
            raise AssertionError(
                f"result.censored must be a boolean array of shape {radii.shape}; got {describe(skip)}"
            )
    with np.errstate(invalid="ignore"):
        bad = ~skip & ~(np.abs(radii - exact) <= atol + rtol * exact)
    _fail_rows(bad, "radius not within atol + rtol*exact of the exact class radius", radius=radii, exact=exact)


# --------------------------------------------------------------------------------------------


def _real(value: Any, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(name, "a real number", value)
    return float(value)


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return as_numpy(value, name)
    return np.asarray(value)


def _result_fields(result: Any, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    missing = [name for name in names if not hasattr(result, name)]
    if missing:
        raise fail("result", "an object with attributes " + ", ".join(names), result)
    return {name: _to_numpy(getattr(result, name), f"result.{name}") for name in names}


def _check_shapes(fields: dict[str, np.ndarray]) -> int:
    latents = fields["latents"]
    if latents.ndim != 2:
        raise AssertionError(f"result.latents must be 2-D (n, d); got shape {latents.shape}")
    n, d = latents.shape
    expected = {"witnesses": (n, d), "radii": (n,), "labels": (n,), "witness_labels": (n,), "censored": (n,)}
    for name, shape in expected.items():
        if fields[name].shape != shape:
            raise AssertionError(
                f"result.{name} must have shape {shape} to match result.latents {latents.shape}; "
                f"got {fields[name].shape}"
            )
    for name in ("latents", "witnesses", "radii"):
        if fields[name].dtype.kind != "f":
            raise AssertionError(f"result.{name} must be floating point; got {fields[name].dtype}")
    return n


def _as_labels(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype.kind not in "iu":
        raise AssertionError(f"{name} must be integer labels; got dtype {array.dtype}")
    return array.astype(np.int64)


def _model_labels(
    generator: Any,
    classifier: Any,
    points: np.ndarray,
    dtype: torch.dtype | None,
    device: torch.device | str | None,
    batch_size: int,
) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, points.shape[0], batch_size):
            x = torch.as_tensor(points[start : start + batch_size], dtype=dtype, device=device)
            scores = classifier(generator(x))
            if not isinstance(scores, torch.Tensor):
                scores = torch.as_tensor(np.asarray(scores))
            if scores.ndim == 2:
                labels = scores.argmax(dim=1)
            elif scores.ndim == 1 and not torch.is_floating_point(scores):
                labels = scores
            else:
                raise InvalidArgumentError(
                    "classifier must return scores of shape (n, K) or integer labels of shape "
                    f"(n,); got a tensor of shape {tuple(scores.shape)} and dtype {scores.dtype}"
                )
            out.append(labels.detach().cpu().numpy().astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _against_testbed(result: Any, testbed: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(testbed, Testbed):
        raise fail("testbed", "a Testbed", testbed)
    fields = _result_fields(result, ("latents", "radii"))
    latents, radii = fields["latents"], fields["radii"]
    if latents.ndim != 2 or latents.shape[1] != testbed.latent_dim:
        raise AssertionError(f"result.latents must have shape (n, {testbed.latent_dim}); got {latents.shape}")
    if radii.shape != (latents.shape[0],) or radii.dtype.kind != "f":
        raise AssertionError(
            f"result.radii must be a float array of shape ({latents.shape[0]},); got {describe(radii)}"
        )
    return latents, radii.astype(np.float64), testbed.exact_radius(latents)


def _fail_rows(bad: np.ndarray, what: str, **columns: np.ndarray) -> None:
    if not np.any(bad):
        return
    index = np.flatnonzero(bad)
    i = int(index[0])
    details = ", ".join(f"{name} {columns[name][i]!r}" for name in columns)
    raise AssertionError(f"{index.size} of {bad.size} rows: {what}; first at index {i}: {details}")
