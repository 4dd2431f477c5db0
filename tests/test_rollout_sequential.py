"""Sequential rollout steps: stop at a clear breach, pass on clear evidence, extend and fail closed when undecided.

The decisions are tested on simulated request streams with known rates; the whole way (real local
endpoints, real locust load, a candidate whose live server fails 25% of requests at the 10% step)
runs once against the local platform.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import ConfigError, load_settings
from pytest_mlgates.gates.rollout import judge_sequential, rollout_verdict
from pytest_mlgates.records import Faults
from pytest_mlgates.release.rollout import Rollout

from test_rollout import ENDPOINT, Recorder, make_champion, make_settings, model_dirs, platform, register  # noqa: F401

RULE = dict(p99_ms=500.0, max_error_rate=0.01, alpha=0.05, bake_seconds=10.0, cap_seconds=60.0)


def stream(rng: np.random.Generator, n: int, error_rate: float, slow_rate: float = 0.0) -> tuple[list, list]:
    ok = list(rng.random(n) >= error_rate)
    latencies = list(np.where(rng.random(n) < slow_rate, 900.0, 20.0))
    return latencies, ok


def first_call(latencies: list, ok: list, per_second: int) -> tuple[int, object]:
    """Look once per simulated second (``per_second`` candidate requests each): (requests seen, step)."""
    for look in range(1, 10_000):
        n = min(look * per_second, len(ok))
        step = judge_sequential(10, latencies[:n], ok[:n], None, seconds=float(look), looks=look, **RULE)
        if step is not None:
            return n, step
    raise AssertionError("never decided")


def test_a_clear_breach_ends_the_step_after_tens_of_requests_not_the_bake() -> None:
    rng = np.random.default_rng(0)
    n, step = first_call(*stream(rng, 2000, 0.25), per_second=5)
    assert step.extra["decision"] == "breach" and step.breach.startswith("sequential test: errors")
    assert n <= 40 and step.seconds < RULE["bake_seconds"]
    assert step.extra["requests"] == n and "confidence sequence" in step.extra["evidence_text"]


def test_slow_requests_breach_the_latency_slo_the_same_way() -> None:
    n, step = first_call(*stream(np.random.default_rng(1), 2000, 0.0, slow_rate=0.3), per_second=5)
    assert step.extra["decision"] == "breach" and "requests >= 500 ms" in step.breach and n <= 40


def test_a_good_candidate_passes_once_the_evidence_is_clear_after_the_bake() -> None:
    n, step = first_call(*stream(np.random.default_rng(2), 5000, 0.0), per_second=100)
    assert step.breach is None and step.extra["decision"] == "clear"
    assert step.seconds >= RULE["bake_seconds"]


def test_an_undecided_step_extends_to_the_cap_then_fails_closed_saying_what_would_decide() -> None:
    # 31 requests at 10% (the small sample the fixed bake judged): no errors, but nothing shown either.
    n, step = first_call(*stream(np.random.default_rng(3), 400, 0.0), per_second=3)
    assert step.extra["decision"] == "inconclusive" and step.seconds >= RULE["cap_seconds"]
    assert "INCONCLUSIVE after 180 candidate requests" in step.breach and "requests would decide" in step.breach
    verdict = rollout_verdict("eta:2", "eta:1", [step], 0.01, False, [10, 100])
    assert not verdict.passed and verdict.figures["step10_verdict"] == "inconclusive"
    assert verdict.figures["step10_requests"] == 180 and "sequential, 60 looks" in verdict.message


def test_good_candidates_are_rarely_rolled_back_however_often_the_step_looks() -> None:
    rng = np.random.default_rng(4)
    reps = 300
    false_alarms = 0
    for _ in range(reps):
        lat, ok = stream(rng, 600, 0.01)  # exactly at the limit: the worst case for a false rollback
        for look in range(1, 61):
            step = judge_sequential(10, lat[: 10 * look], ok[: 10 * look], None, seconds=float(look), looks=look,
                                    **RULE)
            if step is not None:
                false_alarms += step.extra["decision"] == "breach"
                break
    assert false_alarms / reps <= 0.025 + 3 * (0.025 * 0.975 / reps) ** 0.5


def test_sequential_needs_a_positive_error_limit(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mlgates.rollout]\nsequential = true\nmax_error_rate = 0\n")
    with pytest.raises(ConfigError, match="max_error_rate must be > 0 with sequential = true"):
        load_settings(tmp_path / "pyproject.toml", env={})


def test_a_candidate_with_25_percent_errors_is_rolled_back_early_at_the_10_percent_step(
        platform: LocalAdapter, model_dirs: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    settings = make_settings(tmp_path, steps=[10, 100], bake_seconds=30.0, sequential=True, look_seconds=1.0,
                             max_bake_seconds=60.0, users=4)
    make_champion(platform, model_dirs["v1"])
    candidate = register(platform, model_dirs["v2"], champion="1")
    load = Recorder(settings)
    rollout = Rollout(platform, settings, candidate, load, candidate_faults=Faults(error_rate=0.25))
    verdict = rollout.run()
    assert not verdict.passed and verdict.figures["breach_step"] == 10
    step = verdict.figures["steps"][0]
    assert step["extra"]["decision"] == "breach" and step["breach"].startswith("sequential test: errors")
    # Stopped after a handful of one-second looks, not the 30 s bake.
    assert step["extra"]["looks"] == len(load.steps) < 30
    assert verdict.figures["step10_requests"] == step["candidate"]["requests"] > 0
    assert platform.get_endpoint(ENDPOINT).traffic == {"v1": 100}
    assert platform.get_champion("eta").version == "1"
