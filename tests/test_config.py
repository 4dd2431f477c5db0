"""Settings: precedence CLI > env > pyproject/ini > default, and strict validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlgates.config import ConfigError, Settings, load_settings, with_overrides

from conftest import write_project


def settings_for(tmp_path: Path, top: str = "", extra: str = "", **kw: object) -> Settings:
    return load_settings(write_project(tmp_path, top, extra) / "pyproject.toml", **kw)  # type: ignore[arg-type]


def test_defaults() -> None:
    s = Settings()
    assert (s.platform, s.metric, s.greater_is_better, s.tolerance, s.no_champion) == (
        "local", "val_mae", False, 0.05, "promote")
    assert (s.training.smoke_rows, s.load.p99_ms, s.load.max_error_rate, s.rollout.steps) == (
        500, 500.0, 0.01, [10, 50, 100])


def test_precedence_cli_over_env_over_pyproject(tmp_path: Path) -> None:
    top = 'platform = "sagemaker"\nstate_dir = "from-pyproject"'
    s = settings_for(tmp_path, top, env={})
    assert (s.platform, s.source_of("platform")) == ("sagemaker", "pyproject.toml")
    s = settings_for(tmp_path, top, env={"ML_PLATFORM": "vertex", "MLGATES_STATE_DIR": "from-env"},
                     ini={"mlgates_state_dir": "from-ini"})
    assert (s.platform, s.state_dir, s.source_of("platform")) == ("vertex", "from-env", "env ML_PLATFORM")
    s = settings_for(tmp_path, top, env={"ML_PLATFORM": "vertex"}, cli={"ml_platform": "azureml"})
    assert (s.platform, s.source_of("platform")) == ("azureml", "option --ml-platform")
    s = settings_for(tmp_path, "", env={}, ini={"mlgates_state_dir": "from-ini"})
    assert s.state_dir == "from-ini"


def test_paths_resolve_against_the_project(tmp_path: Path) -> None:
    s = settings_for(tmp_path, env={})
    assert s.path(s.training.entry_point) == tmp_path / "train.py"
    assert s.state_path == tmp_path / ".mlgates"


@pytest.mark.parametrize("top, extra, message", [
    ("tolerence = 0.1", "", "unknown key tolerence in [tool.mlgates]"),
    ("", "[tool.mlgates.load]\np99 = 3", "unknown key p99 in [tool.mlgates.load]"),
    ('tolerance = "5%"', "", "tool.mlgates.tolerance must be of type float, got '5%'"),
    ("greater_is_better = 1", "", "greater_is_better must be of type bool"),
    ('no_champion = "maybe"', "", "no_champion (pyproject.toml) must be one of promote, fail, skip"),
    ("tolerance = -0.1", "", "tolerance (pyproject.toml) must be >= 0"),
    ("sanity = { val_mae = [5, 1] }", "", "low <= high"),
    ("", "[tool.mlgates.load]\np99_ms = 0", "p99_ms must be a positive number"),
    ("", "[tool.mlgates.rollout]\nsteps = [50, 10, 100]", "steps must rise"),
    ('model_version = "3"', "", "per-run value; pass it as --mlgates-model-version"),
])
def test_bad_configuration_names_the_key(tmp_path: Path, top: str, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_for(tmp_path, top, extra, env={})
    assert message in str(err.value)


def test_env_values_are_typed_and_checked(tmp_path: Path) -> None:
    assert settings_for(tmp_path, env={"MLGATES_KEEP_ENDPOINT": "true"}).keep_endpoint is True
    with pytest.raises(ConfigError, match="keep_endpoint must be of type bool, got 'perhaps' \\(set by env MLGATES_KEEP_ENDPOINT\\)"):
        settings_for(tmp_path, env={"MLGATES_KEEP_ENDPOINT": "perhaps"})


def test_hyperparameter_overrides(tmp_path: Path) -> None:
    extra = "[tool.mlgates.training.hyperparameters]\nmax_depth = 6\nlr = 0.1"
    s = settings_for(tmp_path, "", "", env={"MLGATES_HYPERPARAMETERS": "max_depth=2, name=fast"})
    assert s.training.hyperparameters == {"max_depth": 2, "name": "fast"}
    path = tmp_path / "pyproject.toml"
    path.write_text(path.read_text() + extra)
    s = load_settings(path, cli={"mlgates_hyperparameter": ["max_depth=3"]}, env={})
    assert s.training.hyperparameters == {"max_depth": 3, "lr": 0.1}
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        load_settings(path, cli={"mlgates_hyperparameter": ["oops"]}, env={})


def test_with_overrides_checks_types_and_ranges() -> None:
    s = with_overrides(Settings(), {"tolerance": 0.2, "load.p99_ms": 250}, "test")
    assert (s.tolerance, s.load.p99_ms, s.load.max_error_rate) == (0.2, 250.0, 0.01)
    with pytest.raises(ConfigError, match="p99_ms must be a positive number"):
        with_overrides(Settings(), {"load.p99_ms": -1}, "test")
    with pytest.raises(ConfigError, match="tolerance=...\\) must be of type float"):
        with_overrides(Settings(), {"tolerance": "lots"}, "test")


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mlgates\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(tmp_path / "pyproject.toml", env={})
