"""Test configuration shared by the test suite and the package's doctests.

Hypothesis profiles
-------------------
``fast`` (default) and ``thorough`` are chosen with ``GENLOOSE_HYPOTHESIS_PROFILE``. Under CI (the ``CI``
environment variable set) both are derandomized, so a CI run is reproducible.

Slow tests
----------
Tests marked ``slow`` run only with ``GENLOOSE_SLOW=1`` or when ``-m`` selects them explicitly.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

# genloose.integrations.torchmetrics needs the optional torchmetrics (the "torchmetrics" extra, not in "test"):
# without it, its doctests are not collected (its tests skip themselves with pytest.importorskip).
collect_ignore = [] if importlib.util.find_spec("torchmetrics") else ["genloose/integrations/torchmetrics.py"]

_IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
_COMMON = {
    "derandomize": _IN_CI,
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow],
    **({"database": None} if _IN_CI else {}),
}
settings.register_profile("fast", max_examples=40, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("GENLOOSE_HYPOTHESIS_PROFILE", "fast"))


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = os.environ.get("GENLOOSE_SLOW", "") == "1" or "slow" in (
        config.option.markexpr or ""
    )
    skip_slow = pytest.mark.skip(reason="slow: set GENLOOSE_SLOW=1 or select with -m slow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    has_gpu: bool | None = None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords:
            if has_gpu is None:
                has_gpu = _cuda_available()
            if not has_gpu:
                item.add_marker(skip_gpu)
