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


SLO_QUANTILE_RATE = 0.01
"""p99 < X ms is "at most 1% of requests take X ms or more": a rate, judged like the error rate."""


def judge_sequential(
    percent: int,
    latencies_ms: Sequence[float],
    ok: Sequence[bool],
    champion: tuple[Sequence[float], Sequence[bool]] | None,
    *,
    p99_ms: float,
    max_error_rate: float,
    alpha: float,
    seconds: float,
    bake_seconds: float,
    cap_seconds: float,
    looks: int,
) -> StepResult | None:
    """A sequential step's verdict so far, or None to keep looking (stats/sequential.py).

    Two anytime-valid tests, each at alpha / 2 (Bonferroni): the error rate against ``max_error_rate``
    and the rate of successful requests at or over ``p99_ms`` against 1%. Either breaching ends the
    step at once; both clear after the bake passes it; anything else extends the step up to the cap,
    where it fails closed and says how many requests would decide.
    """
    from ..stats.sequential import BREACH, CLEAR, RateEvidence, requests_to_decide

    failures = sum(1 for good in ok if not good)
    good_latencies = [lat for lat, good in zip(latencies_ms, ok) if good]
    slow = sum(1 for lat in good_latencies if lat >= p99_ms)
    errors = RateEvidence.of("errors", failures, len(ok), max_error_rate, alpha / 2)
    slowness = RateEvidence.of(f"requests >= {fmt(p99_ms)} ms", slow, len(good_latencies), SLO_QUANTILE_RATE,
                               alpha / 2)
    breach: str | None = None
    if errors.verdict == BREACH or slowness.verdict == BREACH:
        which = errors if errors.verdict == BREACH else slowness
        breach = f"sequential test: {which.describe()}"
        decision = BREACH
    elif seconds >= bake_seconds and errors.verdict == CLEAR and slowness.verdict == CLEAR:
        decision = CLEAR
    elif seconds >= cap_seconds:
        decision = "inconclusive"
        needed = [requests_to_decide(e.events, e.n, e.threshold, e.alpha) for e in (errors, slowness)
                  if e.verdict != CLEAR]
        known = [n for n in needed if n is not None]
        more = f"about {max(known):,} candidate requests would decide" if known else "no number of requests decides"
        breach = (f"INCONCLUSIVE after {len(ok)} candidate requests in {fmt(seconds)} s of load (the cap; fails "
                  f"closed): {errors.describe()}; {slowness.describe()}; {more}")
    else:
        return None
    step = StepResult(percent, Side.from_samples(latencies_ms, ok),
                      Side.from_samples(*champion) if champion is not None else None, breach, seconds)
    step.extra = {"decision": decision, "looks": looks, "requests": len(ok), "evidence": [asdict(errors),
                                                                                        asdict(slowness)],
                  "evidence_text": f"{errors.describe()}; {slowness.describe()}"}
    return step


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
        if step.extra.get("decision"):
            lines.append(f"        sequential, {step.extra['looks']} looks, {fmt(step.seconds)} s of load: "
                         f"{step.extra['evidence_text']}")
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
    for step in steps:  # flat figures of sequential steps, for the step summary and JUnit properties
        if step.extra.get("decision"):
            figures[f"step{step.percent}_requests"] = step.extra["requests"]
            figures[f"step{step.percent}_seconds"] = step.seconds
            figures[f"step{step.percent}_verdict"] = step.extra["decision"]
            figures[f"step{step.percent}_evidence"] = step.extra["evidence_text"]
    outputs = {"should_promote": "true" if promoted else "false", "rollout": "promoted" if promoted else "rolled_back"}
    return Verdict("rollout", breach is None and promoted, head + "\n" + "\n".join(lines), figures, outputs)
