"""`mlgates init` fills in what it can know (issue 14): metric and direction, target, .gitignore, drift test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_mlgates.ci import scaffold as init
from pytest_mlgates.commands import init as init_command
from pytest_mlgates.config import load_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "churn"\nversion = "1"\n')
    (tmp_path / "train.py").write_text("print('train')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_text("tenure,plan,Churn\n3,basic,1\n")
    return tmp_path


def config(repo: Path) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["mlgates"]


@pytest.mark.parametrize("metric, greater", [
    ("val_accuracy", True), ("roc_auc", True), ("f1_macro", True), ("val_r2", True),
    ("val_mae", False), ("rmse", False), ("val_logloss", False), ("eval-error", False),
    ("val_mystery", None), ("widgets", None),
])
def test_direction_is_inferred_from_well_known_names(metric: str, greater: bool | None) -> None:
    assert init.infer_direction(metric) is greater


def test_metric_and_inferred_direction_go_into_the_config_and_init_says_so(repo: Path, capsys) -> None:
    assert init_command.main(["--metric", "val_accuracy", str(repo)]) == 0
    out = capsys.readouterr().out
    table = config(repo)
    assert table["metric"] == "val_accuracy" and table["greater_is_better"] is True
    assert "higher is better: inferred from the name 'val_accuracy' (pass --lower-is-better if not)" in out
    settings = load_settings(repo / "pyproject.toml", env={})
    assert settings.metric == "val_accuracy" and settings.greater_is_better is True
    retrain = (repo / ".github/workflows/mlgates-retrain.yml").read_text()
    assert "challenger_val_accuracy:" in retrain and "challenger_val_mae" not in retrain


def test_an_explicit_direction_wins_and_an_unknown_name_is_an_assumption_said_aloud(repo: Path, capsys) -> None:
    assert init_command.main(["--metric", "val_mystery", "--greater-is-better", "--only", "config", str(repo)]) == 0
    assert config(repo)["greater_is_better"] is True and "higher is better (as set)" in capsys.readouterr().out
    assert init_command.main(["--metric", "val_widgets", "--force", "--only", "config", str(repo)]) == 0
    out = capsys.readouterr().out
    assert config(repo)["greater_is_better"] is False  # a new metric does not inherit the old one's direction
    assert "assumed, the name 'val_widgets' does not say; pass --greater-is-better" in out
    assert init_command.main(["--force", "--only", "config", str(repo)]) == 0  # same metric: direction kept
    assert config(repo)["greater_is_better"] is False and "lower is better (as set)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        init_command.main(["--greater-is-better", "--lower-is-better", str(repo)])


def test_the_obvious_target_column_is_filled_in(repo: Path, capsys) -> None:
    assert init_command.main(["--only", "config", str(repo)]) == 0
    assert config(repo)["training"]["target"] == "Churn"
    assert "target 'Churn': the label column" in capsys.readouterr().out


def test_no_target_when_the_header_is_ambiguous_or_silent(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,label,target\n1,2,3\n")
    (tmp_path / "b.csv").write_text("x,eta_minutes\n1,2\n")
    assert init.infer_target(tmp_path / "a.csv") == "" and init.infer_target(tmp_path / "b.csv") == ""
    assert init.infer_target(tmp_path / "missing.csv") == ""


def test_state_folder_is_ignored_once(repo: Path, capsys) -> None:
    (repo / ".gitignore").write_text("*.pyc")  # no final newline
    assert init_command.main(["--only", "config", str(repo)]) == 0
    assert "wrote .gitignore (.mlgates/)" in capsys.readouterr().out
    assert (repo / ".gitignore").read_text().splitlines()[0] == "*.pyc"
    assert ".mlgates/" in (repo / ".gitignore").read_text().splitlines()
    before = (repo / ".gitignore").read_text()
    assert init_command.main(["--only", "config", "--force", str(repo)]) == 0
    assert (repo / ".gitignore").read_text() == before and ".gitignore" not in capsys.readouterr().out


def test_rerunning_init_keeps_workflow_outputs_consistent_with_the_config(repo: Path, capsys) -> None:
    assert init_command.main(["--metric", "val_f1", str(repo)]) == 0
    capsys.readouterr()
    assert init_command.main(["--metric", "val_mae", "--only", "workflows", "--only", "config", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "kept metric 'val_f1' of the existing [tool.mlgates]" in out
    # the user edits the metric in the config, then regenerates the workflows: they follow the config
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('metric = "val_f1"', 'metric = "val_auc"'))
    assert init_command.main(["--force", "--only", "workflows", str(repo)]) == 0
    retrain = (repo / ".github/workflows/mlgates-retrain.yml").read_text()
    assert "challenger_val_auc:" in retrain and "val_f1" not in retrain


def test_drift_test_only_once_drift_data_is_configured(repo: Path) -> None:
    assert init_command.main(["--only", "tests", str(repo)]) == 0
    module = (repo / init.TEST_MODULE).read_text()
    assert "@pytest.mark.drift_gate" not in module and "No drift gate yet" in module
    compile(module, "gates", "exec")
    assert init_command.main(["--force", "--drift-current", "data/recent.csv", str(repo)]) == 0
    module = (repo / init.TEST_MODULE).read_text()
    assert "@pytest.mark.drift_gate" in module and "assert_no_drift(reference, current" in module
    assert config(repo)["drift"]["current"] == "data/recent.csv"
    compile(module, "gates", "exec")
