"""The rollout step machine's verdicts (pure logic)."""

from __future__ import annotations

import math

from pytest_mlgates.gates.rollout import Side, judge_step, rollout_verdict

RULE = dict(p99_ms=500.0, max_error_rate=0.01)


def test_side_from_samples() -> None:
    side = Side.from_samples([10.0] * 98 + [900.0, 20.0], [True] * 99 + [False])
    assert (side.requests, side.failures, side.p99_ms) == (100, 1, 900.0)
    assert math.isclose(side.error_rate, 0.01)
    assert Side.from_samples([], []).p99_ms is None


def test_healthy_step_passes() -> None:
    assert judge_step(10, Side(200, 0, 40.0), Side(1800, 0, 35.0), **RULE).breach is None


def test_errors_latency_and_silence_are_breaches() -> None:
    assert "error rate 5.00% (10/200) > 1.00%" in judge_step(50, Side(200, 10, 40.0), None, **RULE).breach
    assert "p99 600 ms >= 500 ms" in judge_step(50, Side(200, 0, 600.0), None, **RULE).breach
    assert "no request reached the candidate" in judge_step(10, Side(0, 0, None), None, **RULE).breach
    assert "p99 None ms" in judge_step(10, Side(5, 0, None), None, **dict(RULE, max_error_rate=0.99)).breach


def test_comparison_with_the_champion_is_optional() -> None:
    cand, champ = Side(200, 0, 300.0), Side(1800, 0, 100.0)
    assert judge_step(50, cand, champ, **RULE).breach is None
    assert "1.5 x the champion's 100 ms" in judge_step(50, cand, champ, **RULE, compare_to_champion=True).breach


def test_verdict_reports_every_step_and_the_rollback() -> None:
    steps = [judge_step(10, Side(100, 0, 30.0), Side(900, 0, 30.0), **RULE),
             judge_step(50, Side(500, 60, 30.0), Side(500, 0, 30.0), **RULE)]
    v = rollout_verdict("m:2", "m:1", steps, 0.05, promoted=False, planned=[10, 50, 100])
    assert not v.passed and v.outputs["should_promote"] == "false"
    assert "FAILED at the 50% step and was rolled back to m:1 in 50 ms" in v.message
    assert " 10%: candidate 100 req, 0.00% errors" in v.message and "BREACH" in v.message
    ok = rollout_verdict("m:2", "m:1", steps[:1], None, promoted=True, planned=[10, 100])
    assert ok.passed and "passed every step (10% -> 100%)" in ok.message
