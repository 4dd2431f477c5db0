"""Gate helpers, usable with or without pytest.

Each raises AssertionError with both sides, the threshold and the arithmetic
when its gate fails, and returns a ``Verdict`` when it passes. Every helper is
imported on first use: the plugin imports this package at start-up, and numpy,
scipy or pandas must not be paid for by test suites that never call a gate.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .baseline import assert_beats_baseline
    from .champion import assert_non_inferior
    from .paired import assert_paired_non_inferior
    from .drift import assert_no_drift
    from .load import assert_slo
    from .shadow import assert_shadow_agreement
    from .verdict import Verdict

_LAZY = {
    "Verdict": "pytest_mlgates.gates.verdict",
    "assert_beats_baseline": "pytest_mlgates.gates.baseline",
    "assert_non_inferior": "pytest_mlgates.gates.champion",
    "assert_paired_non_inferior": "pytest_mlgates.gates.paired",
    "assert_slo": "pytest_mlgates.gates.load",
    "assert_shadow_agreement": "pytest_mlgates.gates.shadow",
    "assert_no_drift": "pytest_mlgates.gates.drift",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_mlgates.gates' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_LAZY)


__all__ = list(_LAZY)
