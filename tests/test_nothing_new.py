"""A retrain that reproduced the champion (same artifact digest) is neutral: nothing new to promote (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import load_settings
from pytest_mlgates.pipeline import run_pipeline
from pytest_mlgates.release.promotion import promote_version

from conftest import write_project

GATES = textwrap.dedent('''
    import pytest
    from pytest_mlgates.gates import assert_non_inferior

    @pytest.mark.champion_gate
    def test_gate(challenger, champion):
        assert_non_inferior(challenger, champion)

    @pytest.mark.load_gate
    def test_staging(challenger):
        raise AssertionError("staging must not run when there is nothing new to promote")
''')


@pytest.fixture
def promoted(tmp_path: Path) -> Path:
    """A project whose champion is version 1, trained with the script's default knobs."""
    folder = write_project(tmp_path / "proj")
    (folder / "tests").mkdir()
    (folder / "tests" / "test_gates.py").write_text(GATES)
    assert run_pipeline(folder, stages=["champion_gate"]).exit_code == 0
    settings = load_settings(folder / "pyproject.toml", env={})
    promote_version(LocalAdapter(settings), settings, "1")
    return folder


def champion_gate(project: Path, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "github_output"
    out.write_text("")
    env = {**os.environ, "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "champion_gate", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    return proc, outputs


def test_same_artifact_as_the_champion_is_a_neutral_success(promoted: Path, tmp_path: Path) -> None:
    proc, outputs = champion_gate(promoted, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOTHING NEW TO PROMOTE" in proc.stdout and "same artifact sha256" in proc.stdout
    assert outputs["should_promote"] == "false" and outputs["model_version"] == "2"
    settings = load_settings(promoted / "pyproject.toml", env={})
    adapter = LocalAdapter(settings)
    assert adapter.get_champion("m").version == "1"
    tags = adapter.get_model_version("m", "2").tags
    assert not any(k.startswith("mlgates.gate.") for k in tags), "a neutral run must not enter the ledger"


def test_a_different_model_is_still_judged(promoted: Path, tmp_path: Path) -> None:
    proc, outputs = champion_gate(promoted, tmp_path, "--mlgates-hyperparameter", "val_mae=50")
    assert proc.returncode == 1
    assert "NOTHING NEW" not in proc.stdout and "50 <= 10.5 is false" in proc.stdout
    assert outputs["should_promote"] == "false"


def test_the_pipeline_stops_neutrally_and_exits_0(promoted: Path) -> None:
    result = run_pipeline(promoted)
    assert [(s.name, s.outcome) for s in result.stages] == [("smoke", "skipped"), ("champion_gate", "passed")]
    assert result.exit_code == 0
    assert "NOTHING NEW TO PROMOTE" in result.summary and "the same artifact as champion m:1" in result.summary
