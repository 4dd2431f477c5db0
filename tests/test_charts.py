"""Step summary charts (mermaid) and the same figures in the JSON report (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import load_settings
from pytest_mlgates.gates.rollout import StepResult, rollout_verdict
from pytest_mlgates.pipeline import run_pipeline
from pytest_mlgates.release.promotion import promote_version
from pytest_mlgates.report import summary_markdown
from pytest_mlgates.report.charts import (
    charts_markdown,
    latency_histogram,
    lineage_chart,
    plain,
    report_charts,
)

from conftest import write_project


def test_histogram_bins_hold_every_request_once() -> None:
    rng = np.random.default_rng(3)
    latencies = rng.gamma(2.0, 10.0, size=1000)
    figure = latency_histogram(latencies, p99_ms=float(np.percentile(latencies, 99)), threshold_ms=500.0)
    assert sum(figure["counts"]) == 1000 and len(figure["edges_ms"]) == len(figure["counts"]) + 1
    assert figure["edges_ms"][0] == plain(latencies.min())
    expected, _ = np.histogram(latencies, bins=len(figure["counts"]))
    assert figure["counts"] == expected.tolist()  # the same bins numpy draws
    assert latency_histogram([], None, 500.0)["counts"] == []
    json.dumps(figure)  # plain numbers only: numpy scalars never reach the report


def test_lineage_chart_draws_each_champion_and_the_challenger() -> None:
    figure = lineage_chart("val_mae", "lower is better", [("1", 10.0), ("3", np.float64(9.5))], ("4", 9.25))
    text = charts_markdown({"charts": [figure]})
    assert "```mermaid\nxychart-beta" in text
    assert 'x-axis ["v1 champion", "v3 champion", "v4 challenger"]' in text
    assert "bar [10, 9.5, 9.25]" in text and "line [9.25, 9.25, 9.25]" in text
    assert "val_mae across the champion lineage (lower is better)" in text
    assert json.loads(json.dumps(figure))["champions"][1]["value"] == 9.5


def test_rollout_steps_with_their_figures() -> None:
    from pytest_mlgates.gates.rollout import Side

    ok = StepResult(10, Side(requests=200, failures=0, p99_ms=41.5), None, None)
    bad = StepResult(50, Side(requests=400, failures=40, p99_ms=60.0), None, "candidate error rate 10.00% > 1.00%")
    verdict = rollout_verdict("eta:2", "eta:1", [ok, bad], 0.008, promoted=False, planned=[10, 50, 100])
    charts = report_charts({"verdicts": [verdict.to_dict()]})
    assert [c["kind"] for c in charts] == ["rollout"]
    text = charts_markdown({"verdicts": [verdict.to_dict()]})
    assert 'x-axis ["10%", "50%"]' in text and "bar [41.5, 60]" in text
    assert "| 50% | 400 | 40 | 10.00% | 60.0 | BREACH: candidate error rate 10.00% > 1.00% |" in text
    assert "rolled back in 8 ms" in text


def test_the_summary_says_why_a_gate_failed() -> None:
    report = {"model_name": "eta", "platform": "local", "stages": {"champion_gate": "failed"},
              "verdicts": [{"gate": "champion", "passed": False, "figures": {},
                            "message": "champion gate FAILED (fail-closed)\n  challenger eta:2 val_mae is NaN"}]}
    text = summary_markdown(report)
    assert "**champion FAILED**" in text and "challenger eta:2 val_mae is NaN" in text


GATES = textwrap.dedent('''
    import pytest
    from pytest_mlgates.gates import assert_non_inferior

    @pytest.mark.champion_gate
    def test_gate(challenger, champion):
        assert_non_inferior(challenger, champion)
''')


def test_a_champion_gate_run_charts_the_lineage_in_the_summary_and_the_json(tmp_path: Path) -> None:
    project = write_project(tmp_path / "proj")
    (project / "tests").mkdir()
    (project / "tests" / "test_gates.py").write_text(GATES)
    settings = load_settings(project / "pyproject.toml", env={})
    for mae in ("10", "9"):  # two champions in a row
        assert run_pipeline(project, stages=["champion_gate"],
                            extra_args=["--mlgates-hyperparameter", f"val_mae={mae}"]).exit_code == 0
        latest = LocalAdapter(settings).list_model_versions("m")[-1].version
        promote_version(LocalAdapter(settings), settings, latest)
    summary, report = tmp_path / "summary.md", tmp_path / "report.json"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "champion_gate", "-p", "no:cacheprovider",
                           "--mlgates-hyperparameter", "val_mae=9.2", "--mlgates-report", str(report)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (lineage,) = [c for c in json.loads(report.read_text())["charts"] if c["kind"] == "lineage"]
    assert lineage["champions"] == [{"version": "1", "value": 10.0}, {"version": "2", "value": 9.0}]
    assert lineage["challenger"] == {"version": "3", "value": 9.2}
    text = summary.read_text()
    assert "```mermaid" in text and 'x-axis ["v1 champion", "v2 champion", "v3 challenger"]' in text
