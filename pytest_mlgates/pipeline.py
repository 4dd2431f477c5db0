"""Run the gate stages locally in workflow order, as the GitHub workflow would.

Each stage is its own ``pytest -m <stage>`` process; the candidate is handed
on through ``$GITHUB_OUTPUT`` exactly as workflow jobs hand it on through job
outputs (``model_version`` from the champion gate becomes
``--mlgates-model-version`` of the later stages). The first failing stage stops
the pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .stages import CHAMPION_GATE, LOAD_GATE, PROMOTION_GATE, SHADOW_GATE, SMOKE

#: (stage name, pytest -m expression, needs the candidate version)
STAGES: tuple[tuple[str, str, bool], ...] = (
    (SMOKE, SMOKE, False),
    (CHAMPION_GATE, CHAMPION_GATE, False),
    ("staging", f"{LOAD_GATE} or {SHADOW_GATE}", True),
    (PROMOTION_GATE, PROMOTION_GATE, True),
)

EXIT_PROMOTED, EXIT_BLOCKED, EXIT_ERROR = 0, 1, 2
NO_TESTS = 5  # pytest.ExitCode.NO_TESTS_COLLECTED


@dataclass
class StageResult:
    name: str
    outcome: str
    """passed, failed, skipped (no tests) or error."""
    seconds: float
    exit_code: int
    outputs: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    output_tail: str = ""


@dataclass
class PipelineResult:
    stages: list[StageResult]
    exit_code: int
    summary: str
    model_version: str | None


def read_outputs(path: Path) -> dict[str, str]:
    """``key=value`` lines of a ``$GITHUB_OUTPUT`` file (later lines win)."""
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def run_stage(
    name: str,
    marker: str,
    project: Path,
    extra_args: Sequence[str],
    env: Mapping[str, str],
    workdir: Path,
    echo: Callable[[str], None] | None = None,
) -> StageResult:
    """One ``pytest -m <marker>`` process in the project; its outputs and JSON report collected."""
    out_file, report_file = workdir / f"{name}.output", workdir / f"{name}.json"
    cmd = [sys.executable, "-m", "pytest", "-m", marker, "-p", "no:cacheprovider", "-q", "-rN", "--tb=line",
           "--mlgates-report", str(report_file), *extra_args]
    stage_env = {**env, "GITHUB_OUTPUT": str(out_file)}
    stage_env.pop("GITHUB_STEP_SUMMARY", None)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=project, env=stage_env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    text = proc.stdout + proc.stderr
    if echo:
        echo(text)
    outcome = {0: "passed", 1: "failed", NO_TESTS: "skipped"}.get(proc.returncode, "error")
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    tail = "\n".join(text.strip().splitlines()[-25:])
    return StageResult(name, outcome, seconds, proc.returncode, read_outputs(out_file), report, tail)


def run_pipeline(
    project: Path,
    platform: str | None = None,
    stages: Sequence[str] | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Run the stages in order, stop at the first failure, and summarise."""
    base_env = dict(os.environ if env is None else env)
    if platform:
        base_env["ML_PLATFORM"] = platform
    wanted = list(stages) if stages else [s[0] for s in STAGES]
    unknown = set(wanted) - {s[0] for s in STAGES}
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}; stages: {', '.join(s[0] for s in STAGES)}")
    results: list[StageResult] = []
    version: str | None = base_env.get("MLGATES_MODEL_VERSION") or None
    with tempfile.TemporaryDirectory(prefix="mlgates-pipeline-") as tmp:
        for name, marker, needs_version in STAGES:
            if name not in wanted:
                continue
            args = list(extra_args)
            if needs_version:
                if not version:
                    results.append(StageResult(name, "error", 0.0, EXIT_ERROR, output_tail=(
                        "no candidate model version: the champion gate did not hand one on "
                        "(run it, or set MLGATES_MODEL_VERSION)")))
                    break
                args += ["--mlgates-model-version", version]
            result = run_stage(name, marker, project, args, base_env, Path(tmp), echo)
            results.append(result)
            version = result.outputs.get("model_version") or version
            if result.outcome in ("failed", "error"):
                break
            if name == CHAMPION_GATE and _nothing_new(result):
                break  # the retrain reproduced the champion: a neutral stop, see _conclusion
            if name == CHAMPION_GATE and result.outcome == "passed" and \
                    result.outputs.get("should_promote") != "true":
                result.outcome = "failed"
                result.output_tail += "\nshould_promote is not true: the champion gate did not clear the candidate"
                break
    exit_code, verdict = _conclusion(results, wanted)
    return PipelineResult(results, exit_code, format_report(results, verdict, version), version)


def _conclusion(results: list[StageResult], wanted: Sequence[str]) -> tuple[int, str]:
    last = results[-1] if results else None
    if last is None:
        return EXIT_ERROR, "no stage ran"
    if last.outcome == "error":
        return EXIT_ERROR, f"ERROR in stage {last.name} (pytest exit code {last.exit_code})"
    if last.outcome == "failed":
        return EXIT_BLOCKED, f"BLOCKED at stage {last.name}"
    if last.name == CHAMPION_GATE and _nothing_new(last):
        return EXIT_PROMOTED, "NOTHING NEW TO PROMOTE: the retrain reproduced the champion (same artifact sha256)"
    promotion = next((r for r in results if r.name == PROMOTION_GATE), None)
    if promotion is not None and promotion.outcome == "passed":
        return EXIT_PROMOTED, "PROMOTED: the candidate passed every gate and is the champion"
    if PROMOTION_GATE not in wanted:
        return EXIT_PROMOTED, "PASSED the stages that were run (promotion not requested)"
    return EXIT_BLOCKED, "NOT PROMOTED: the project has no promotion_gate tests, so no rollout took place"


def _nothing_new(result: StageResult) -> bool:
    """The champion gate found the challenger's artifact identical to the champion's (a neutral stop)."""
    return any(v.get("gate") == "champion" and v.get("figures", {}).get("nothing_new")
               for v in result.report.get("verdicts", []))


def _num(value: Any, unit: str = "") -> str:
    return f"{value:.4g}{unit}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"


def _gate_figures(gate: str, f: Mapping[str, Any]) -> str:
    """The few figures of one verdict that fit on the pipeline's one-screen report."""
    if gate == "champion" and f.get("nothing_new"):
        return f"nothing new: the same artifact as champion {f.get('champion')}"
    if gate == "champion" and "challenger_value" in f:
        champ = f.get("champion_value")
        rule = f.get("direction", "")
        if f.get("limit") is not None:
            rule += f", limit {_num(f['limit'])}"
        return f"{f['metric']} {_num(f['challenger_value'])} vs champion " + (
            _num(champ) if champ is not None else "none (first deployment)") + (f" ({rule})" if rule else "")
    if gate == "baseline" and "model_score" in f:
        return f"model {_num(f['model_score'])} vs baseline {_num(f['baseline_score'])}"
    if gate == "load":
        return (f"load {f.get('requests')} req, p99 {_num(f.get('p99_ms'), ' ms')}, "
                f"errors {_num(100 * f.get('error_rate', 0), '%')}, {_num(f.get('rps'))} req/s")
    if gate == "shadow":
        what = (f"agreement {_num(100 * f['agreement'], '%')}" if "agreement" in f
                else f"mean |diff| {_num(f.get('mean_abs_difference'))}")
        return f"shadow {f.get('compared')} rows, {what}"
    if gate == "rollout":
        steps = ", ".join(f"{s['percent']}% " + ("ok" if not s["breach"] else "BREACH")
                          for s in f.get("steps", []))
        back = f.get("rollback_seconds")
        return f"rollout {steps}" + (f"; rolled back in {back * 1000:.0f} ms" if back is not None else "")
    return gate


def _figures(result: StageResult) -> str:
    return "; ".join(_gate_figures(v["gate"], v.get("figures", {})) for v in result.report.get("verdicts", []))


def format_report(results: list[StageResult], verdict: str, version: str | None) -> str:
    """The one-screen report: a line per stage with its figures, then the verdict."""
    lines = ["", "mlgates pipeline", "-" * 78]
    for r in results:
        lines.append(f"{r.name:<15} {r.outcome.upper():<8} {r.seconds:6.1f}s  {_figures(r)}")
        if r.outcome in ("failed", "error"):
            reasons = [v["message"] for v in r.report.get("verdicts", []) if not v.get("passed") and v.get("message")]
            for reason in reasons:  # the whole reason: a fail-closed one is on the lines after the first
                lines += ["    " + line for line in str(reason).splitlines()]
            lines += ["    " + line for line in r.output_tail.splitlines()[-(6 if reasons else 12):]]
    lines += ["-" * 78, f"candidate: {version or 'none'}", verdict]
    return "\n".join(lines)
