"""Gate helpers, usable with or without pytest.

Each raises AssertionError with both sides, the threshold and the arithmetic
when its gate fails, and returns a ``Verdict`` when it passes. Helpers that
need scipy or pandas import them on first use.
"""

from __future__ import annotations

from typing import Any

from .baseline import assert_beats_baseline
from .champion import assert_non_inferior
from .verdict import Verdict

_LAZY = {
    "assert_slo": "pytest_mlgates.gates.load",
    "assert_shadow_agreement": "pytest_mlgates.gates.shadow",
    "assert_no_drift": "pytest_mlgates.gates.drift",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_mlgates.gates' has no attribute {name!r}")


__all__ = ["Verdict", "assert_beats_baseline", "assert_non_inferior", *_LAZY]
