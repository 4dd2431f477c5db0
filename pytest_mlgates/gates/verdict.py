"""The record every gate leaves behind, whether it passed or failed.

Gate helpers are pure decisions; they append a ``Verdict`` to an in-memory
list so the pytest layer can report the figures (terminal summary, JUnit
properties, GitHub outputs, JSON report) without the helpers doing any I/O.
Used without pytest, the list is simply never read.
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


_recorded: list[Verdict] = []


def record(verdict: Verdict) -> Verdict:
    _recorded.append(verdict)
    return verdict


def drain() -> list[Verdict]:
    """Take every verdict recorded since the last drain."""
    taken = list(_recorded)
    _recorded.clear()
    return taken


def conclude(verdict: Verdict) -> Verdict:
    """Record the verdict, then raise AssertionError with its message if it failed."""
    __tracebackhide__ = True
    record(verdict)
    if not verdict.passed:
        raise AssertionError(verdict.message)
    return verdict


def fmt(value: Any) -> str:
    """A number as people read it in a gate message."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
