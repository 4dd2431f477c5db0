"""The `mlgates` command: promote (ledger-checked, audited override) and status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mlgates.records import TrainingSpec
from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.cli import main
from pytest_mlgates.config import load_settings
from pytest_mlgates.release.ledger import record_stage

from conftest import write_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, LocalAdapter]:
    folder = write_project(tmp_path / "proj")
    monkeypatch.chdir(folder)
    monkeypatch.delenv("ML_PLATFORM", raising=False)
    adapter = LocalAdapter(load_settings(folder / "pyproject.toml", env={}))
    for val_mae in (5.0, 4.0):
        job = adapter.submit_training_job(TrainingSpec("m", "train.py", "data.csv", {"val_mae": val_mae}))
        adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
        adapter.register_model("m", job.name, {"val_mae": val_mae})
    return folder, adapter


def test_promote_requires_a_passed_champion_gate(project, capsys) -> None:
    folder, adapter = project
    assert main(["promote", "--model-version", "1"]) == 1
    assert "champion_gate is missing" in capsys.readouterr().err
    record_stage(adapter, adapter.get_model_version("m", "1"), "champion_gate", True, "c0ffee", "none")
    assert main(["promote", "--model-version", "1"]) == 0
    champ = adapter.get_champion("m")
    assert champ is not None and champ.version == "1"
    assert champ.tags["mlgates.champion_metric.val_mae"] == "5.0"


def test_promote_refuses_a_ledger_for_another_artifact(project, capsys) -> None:
    folder, adapter = project
    v2 = adapter.get_model_version("m", "2")
    adapter.set_tags("m", "2", {"mlgates.gate.champion_gate": "passed", "mlgates.gate.champion_gate.sha256": "0" * 64})
    assert main(["promote", "--model-version", v2.version]) == 1
    assert "not for this version's artifact" in capsys.readouterr().err


def test_promote_loses_to_a_newer_champion(project, capsys) -> None:
    folder, adapter = project
    for version in ("1", "2"):
        record_stage(adapter, adapter.get_model_version("m", version), "champion_gate", True, "c0ffee", "none")
    assert main(["promote", "--model-version", "1"]) == 0
    assert main(["promote", "--model-version", "2"]) == 1  # it was compared against no champion; now 1 is
    assert "a newer champion exists" in capsys.readouterr().err
    assert adapter.get_champion("m").version == "1"  # type: ignore[union-attr]


def test_emergency_override_is_audited(project, capsys) -> None:
    folder, adapter = project
    assert main(["promote", "--model-version", "2", "--override-by", "alice"]) == 1
    assert "needs a non-blank why" in capsys.readouterr().err
    assert main(["promote", "--model-version", "2", "--override-by", "alice", "--override-reason", "hotfix"]) == 0
    tags = adapter.get_champion("m").tags  # type: ignore[union-attr]
    assert (tags["mlgates.override"], tags["mlgates.override.by"], tags["mlgates.override.reason"]) == (
        "true", "alice", "hotfix")


def test_status_json(project, capsys) -> None:
    folder, adapter = project
    record_stage(adapter, adapter.get_model_version("m", "1"), "champion_gate", True, "c0ffee", "none")
    main(["promote", "--model-version", "1"])
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["champion"] == "1"
    assert [(v["version"], v["val_mae"], v["ledger"]) for v in data["versions"]] == [
        ("1", 5.0, {"champion_gate": "passed"}), ("2", 4.0, {})]
    assert main(["status"]) == 0
    assert "* v1" in capsys.readouterr().out


def test_usage_errors_exit_2(project, capsys, monkeypatch) -> None:
    assert main(["frobnicate"]) == 2
    monkeypatch.setenv("ML_PLATFORM", "nowhere")
    assert main(["status"]) == 2
    assert "unknown ML platform 'nowhere'" in capsys.readouterr().err


def test_override_command_records_who_and_why(project, capsys) -> None:
    folder, adapter = project
    assert main(["override", "--model-version", "2", "--by", "bob", "--reason", "outage fix"]) == 0
    tags = adapter.get_model_version("m", "2").tags
    assert (tags["mlgates.override"], tags["mlgates.override.by"], tags["mlgates.override.reason"]) == (
        "true", "bob", "outage fix")
    assert main(["override", "--model-version", "9", "--by", "bob", "--reason", "x"]) == 2
    assert "has no version '9'" in capsys.readouterr().err
