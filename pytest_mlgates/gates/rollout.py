"""The rollout's step machine: judge each traffic step, decide continue or roll back.

Pure decisions over the figures measured at one step (no I/O). A step is a
breach when the candidate's own error rate or p99 is over its threshold, when
no request reached the candidate at all (no evidence is not a pass), or,
optionally, when it is clearly worse than the champion measured at the same
step. The first breach ends the rollout; the caller rolls back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .verdict import Verdict, fmt


@dataclass
class Side:
    """What one deployment served during a step."""

    requests: int
    failures: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else math.nan

    @classmethod
    def from_samples(cls, latencies_ms: Sequence[float], ok: Sequence[bool]) -> Side:
        """Figures from raw per-request samples (p99 over the successful requests' latencies)."""
        good = [lat for lat, success in zip(latencies_ms, ok) if success]
        p99 = float(np.percentile(good, 99, method="higher")) if good else None
        return cls(len(latencies_ms), sum(1 for success in ok if not success), p99)


@dataclass
class StepResult:
    percent: int
    candidate: Side
    champion: Side | None
    breach: str | None
    """None when the step passed, else why it did not."""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def judge_step(
    percent: int,
    candidate: Side,
    champion: Side | None,
    *,
    p99_ms: float,
    max_error_rate: float,
    compare_to_champion: bool = False,
    max_latency_ratio: float = 1.5,
) -> StepResult:
    """One step's verdict; ``breach`` names the first rule broken, with its figures."""
    breach = None
    if candidate.requests == 0:
        breach = f"no request reached the candidate at {percent}% traffic: no evidence that it works"
    elif candidate.error_rate > max_error_rate:
        breach = (f"candidate error rate {candidate.error_rate:.2%} ({candidate.failures}/{candidate.requests}) "
                  f"> {max_error_rate:.2%}")
    elif candidate.p99_ms is None or candidate.p99_ms >= p99_ms:
        breach = f"candidate p99 {fmt(candidate.p99_ms)} ms >= {fmt(p99_ms)} ms"
    elif compare_to_champion and champion is not None and champion.requests:
        if candidate.error_rate > champion.error_rate + max_error_rate:
            breach = (f"candidate error rate {candidate.error_rate:.2%} is more than {max_error_rate:.2%} above "
                      f"the champion's {champion.error_rate:.2%}")
        elif champion.p99_ms and candidate.p99_ms > champion.p99_ms * max_latency_ratio:
            breach = (f"candidate p99 {fmt(candidate.p99_ms)} ms > {fmt(max_latency_ratio)} x the champion's "
                      f"{fmt(champion.p99_ms)} ms")
    return StepResult(percent, candidate, champion, breach)


def rollout_verdict(
    candidate_id: str, champion_id: str | None, steps: list[StepResult], rolled_back_seconds: float | None,
    promoted: bool, planned: Sequence[int],
) -> Verdict:
    """The rollout's Verdict for reports: every step's figures, and the rollback time on a breach."""
    lines = []
    for step in steps:
        c = step.candidate
        word = "ok" if step.breach is None else f"BREACH: {step.breach}"
        champ = ""
        if step.champion is not None and step.champion.requests:
            champ = (f"; champion {step.champion.requests} req, {step.champion.error_rate:.2%} errors, "
                     f"p99 {fmt(step.champion.p99_ms)} ms")
        lines.append(f"  {step.percent:>3}%: candidate {c.requests} req, "
                     f"{(c.error_rate if c.requests else 0):.2%} errors, p99 {fmt(c.p99_ms)} ms{champ} -> {word}")
    breach = next((s for s in steps if s.breach), None)
    if breach is not None:
        head = (f"rollout of {candidate_id} FAILED at the {breach.percent}% step and was rolled back to "
                f"{champion_id or 'no deployment (first deployment)'} in "
                f"{'?' if rolled_back_seconds is None else f'{rolled_back_seconds * 1000:.0f}'} ms")
    elif promoted:
        head = f"rollout of {candidate_id} passed every step ({' -> '.join(f'{p}%' for p in planned)}); it is the champion"
    else:
        head = f"rollout of {candidate_id} did not complete"
    figures: dict[str, Any] = {"candidate": candidate_id, "champion": champion_id, "promoted": promoted,
                               "steps": [asdict(s) for s in steps]}
    if breach is not None:
        figures.update(breach_step=breach.percent, rollback_seconds=rolled_back_seconds)
    outputs = {"should_promote": "true" if promoted else "false", "rollout": "promoted" if promoted else "rolled_back"}
    return Verdict("rollout", breach is None and promoted, head + "\n" + "\n".join(lines), figures, outputs)
