"""The record every gate leaves behind, whether it passed or failed.

Gate helpers are pure decisions; they hand their ``Verdict`` to the running
test through :mod:`.context`, so the pytest layer can report the figures
(terminal summary, JUnit properties, GitHub outputs, JSON report) without the
helpers doing any I/O. Used without pytest, the verdict is only returned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Verdict:
    gate: str
    """Which gate: "champion", "baseline", "load", "shadow", "drift", "rollout"."""
    passed: bool
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    """Values for $GITHUB_OUTPUT (job_name, model_version, should_promote...)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt(value: Any) -> str:
    """A number as people read it in a gate message (a numpy scalar as its plain number)."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
