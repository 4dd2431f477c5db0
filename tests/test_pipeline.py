"""`mlgates pipeline`: stages in workflow order, the candidate handed on, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_mlgates.pipeline import run_pipeline

from conftest import write_project

BIN = Path(sys.executable).parent

GATES = textwrap.dedent('''
    import pytest
    from pytest_mlgates.gates import assert_non_inferior

    @pytest.mark.champion_gate
    def test_gate(challenger, champion):
        assert_non_inferior(challenger, champion)

    @pytest.mark.load_gate
    def test_load_sees_the_handed_on_version(pytestconfig, challenger):
        # the staging stage must receive the champion gate's model_version, not train again
        assert pytestconfig.getoption("mlgates_model_version") == challenger.version
''')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = write_project(tmp_path / "proj")
    (folder / "tests").mkdir()
    (folder / "tests" / "test_gates.py").write_text(GATES)
    return folder


def test_stages_run_in_order_and_hand_the_candidate_on(project: Path) -> None:
    result = run_pipeline(project)
    outcomes = [(s.name, s.outcome) for s in result.stages]
    assert outcomes == [("smoke", "skipped"), ("champion_gate", "passed"), ("staging", "passed"),
                        ("promotion_gate", "skipped")]
    assert result.model_version == "1"
    assert result.exit_code == 1 and "NOT PROMOTED: the project has no promotion_gate tests" in result.summary
    assert len(list((project / ".mlgates" / "jobs").iterdir())) == 1  # later stages did not train


def test_blocked_stage_stops_the_pipeline(project: Path) -> None:
    run_pipeline(project, stages=["champion_gate"])
    from pytest_mlgates.adapters.local import LocalAdapter
    from pytest_mlgates.config import load_settings
    from pytest_mlgates.release.promotion import promote_version

    settings = load_settings(project / "pyproject.toml", env={})
    promote_version(LocalAdapter(settings), settings, "1")
    result = run_pipeline(project, extra_args=["--mlgates-hyperparameter", "val_mae=50"])
    assert [(s.name, s.outcome) for s in result.stages] == [("smoke", "skipped"), ("champion_gate", "failed")]
    assert result.exit_code == 1 and "BLOCKED at stage champion_gate" in result.summary
    assert "50 <= 10.5 is false" in result.summary


def test_errors_exit_2_and_the_command_reports(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('model_name = "m"', 'model_name = "m"\ntolerence = 1'))
    proc = subprocess.run([str(BIN / "mlgates"), "pipeline", "--project", str(project)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ERROR in stage smoke (pytest exit code 4)" in proc.stdout
    assert "unknown key tolerence" in proc.stdout


def test_unknown_stage_is_a_usage_error(project: Path) -> None:
    proc = subprocess.run([str(BIN / "mlgates"), "pipeline", "--project", str(project), "--stages", "smok"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown stage(s) smok" in proc.stderr


def test_whole_pipeline_on_the_example_promotes_a_first_deployment(example_copy: Path) -> None:
    try:
        proc = subprocess.run([str(BIN / "mlgates"), "pipeline"], cwd=example_copy, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "PROMOTED" in proc.stdout and "rollout 100% ok" in proc.stdout
        status = json.loads(subprocess.run([str(BIN / "mlgates"), "status", "--json"], cwd=example_copy,
                                           capture_output=True, text=True, timeout=60).stdout)
        assert status["champion"] == "1"
        ledger = status["versions"][0]["ledger"]
        assert ledger == {"champion_gate": "passed", "load_gate": "passed", "promotion_gate": "passed"}
        endpoints = subprocess.run([str(BIN / "mlgates"), "endpoints"], cwd=example_copy, capture_output=True,
                                   text=True, timeout=60).stdout
        assert "delivery-eta-prod" in endpoints and "v1 100%" in endpoints
    finally:
        subprocess.run([str(BIN / "mlgates"), "endpoints", "--delete-all"], cwd=example_copy, timeout=120)
