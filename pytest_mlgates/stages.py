"""The gate stages by name: the one place they are spelled out.

A stage is a pytest marker; the ledger stages are those whose verdict is
written on the candidate's registry entry; the platform stages need the
platform's own settings (they train, register or deploy there).
"""

from __future__ import annotations

SMOKE = "smoke"
CHAMPION_GATE = "champion_gate"
LOAD_GATE = "load_gate"
SHADOW_GATE = "shadow_gate"
PROMOTION_GATE = "promotion_gate"
DRIFT_GATE = "drift_gate"

STAGES: tuple[str, ...] = (SMOKE, CHAMPION_GATE, LOAD_GATE, SHADOW_GATE, PROMOTION_GATE, DRIFT_GATE)
"""Every stage marker, in workflow order."""

LEDGER_STAGES: tuple[str, ...] = (CHAMPION_GATE, LOAD_GATE, SHADOW_GATE, PROMOTION_GATE)
"""Stages whose verdict is recorded on the candidate's registry entry (the gate ledger)."""

PLATFORM_STAGES: frozenset[str] = frozenset(LEDGER_STAGES)
"""Stages that use the platform, so its settings must be valid when one of them is collected."""
