"""Harm classes: every path to production checks the digest and the ledger; policy cannot be weakened by accident.

Through the real entry points: the ``mlgates`` console script in a subprocess, the
rollout, and pytester runs for marker arguments.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import ConfigError, load_settings, looks_higher_is_better
from pytest_mlgates.records import TrainingSpec
from pytest_mlgates.release.ledger import record_stage

from conftest import write_project

from cli_runs import mlgates
from leftovers import no_leftover_processes  # noqa: F401 - autouse: nothing outlives a test

pytest_plugins = ["pytester"]



@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, LocalAdapter]:
    folder = write_project(tmp_path / "proj")
    adapter = LocalAdapter(load_settings(folder / "pyproject.toml", env={}))
    for val_mae in (5.0, 4.0):
        job = adapter.submit_training_job(TrainingSpec("m", "train.py", "data.csv", {"val_mae": val_mae}))
        adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
        adapter.register_model("m", job.name, {"val_mae": val_mae})
    return folder, adapter


def passed(adapter: LocalAdapter, version: str, *stages: str) -> None:
    for stage in stages:
        record_stage(adapter, adapter.get_model_version("m", version), stage, True, "c0ffee", "none")


def tamper(adapter: LocalAdapter, version: str) -> None:
    path = adapter.registry.artifacts / adapter.get_model_version("m", version).sha256 / "model.joblib"
    path.write_bytes(b"swapped after the gates passed")


def test_promote_verifies_the_digest(project) -> None:
    folder, adapter = project
    passed(adapter, "1", "champion_gate")
    tamper(adapter, "1")
    result = mlgates(folder, "promote", "--model-version", "1")
    assert result.returncode == 1, result.stderr
    assert "could not be verified against the registry" in result.stderr and "changed after registration" in result.stderr
    assert adapter.get_champion("m") is None


def test_an_override_skips_gates_but_never_the_digest(project) -> None:
    folder, adapter = project
    tamper(adapter, "2")
    for args in (["override", "--model-version", "2", "--by", "alice", "--reason", "hotfix"],
                 ["promote", "--model-version", "2", "--override-by", "alice", "--override-reason", "hotfix"]):
        result = mlgates(folder, *args)
        assert result.returncode == 1 and "changed after registration" in result.stderr, result.stderr
    assert "mlgates.override" not in adapter.get_model_version("m", "2").tags
    assert adapter.get_champion("m") is None


def test_the_rollout_verifies_the_digest_before_deploying(project) -> None:
    from pytest_mlgates.release.promotion import PromotionRefused
    from pytest_mlgates.release.rollout import Rollout

    folder, adapter = project
    passed(adapter, "1", "champion_gate", "load_gate")
    tamper(adapter, "1")
    settings = load_settings(folder / "pyproject.toml", env={})

    def no_load(url: str, seconds: float):  # type: ignore[no-untyped-def]
        raise AssertionError("the rollout must refuse before any traffic")

    with pytest.raises(PromotionRefused, match="changed after registration"):
        Rollout(adapter, settings, adapter.get_model_version("m", "1"), no_load).run(bake_seconds=0.1)
    assert adapter.list_endpoints() == []


@pytest.mark.parametrize(("who", "why", "blank"), [(" ", "hotfix", "who"), ("alice", "", "why"), ("", "\t", "who (--override-by / --by) and why")])
def test_an_override_with_a_blank_who_or_why_is_refused(project, who: str, why: str, blank: str) -> None:
    folder, adapter = project
    for args in (["override", "--model-version", "2", "--by", who, "--reason", why],
                 ["promote", "--model-version", "2", "--override-by", who, "--override-reason", why]):
        result = mlgates(folder, *args)
        assert result.returncode == 1, result.stderr
        assert f"needs a non-blank {blank}" in result.stderr
    assert not any(k.startswith("mlgates.override") for k in adapter.get_model_version("m", "2").tags)
    assert adapter.get_champion("m") is None


def test_an_override_records_what_it_skipped(project) -> None:
    folder, adapter = project
    result = mlgates(folder, "override", "--model-version", "2", "--by", " alice ", "--reason", "hotfix")
    assert result.returncode == 0, result.stderr
    tags = adapter.get_model_version("m", "2").tags
    assert tags["mlgates.override.by"] == "alice"
    assert "champion_gate is missing" in tags["mlgates.override.skipped"] and "skipped: champion_gate" in result.stdout


def test_require_adds_to_the_default_requirement(project) -> None:
    folder, adapter = project
    passed(adapter, "1", "load_gate")  # the extra stage passed, the default one did not
    result = mlgates(folder, "promote", "--model-version", "1", "--require", "load_gate")
    assert result.returncode == 1 and "champion_gate is missing" in result.stderr, result.stderr
    passed(adapter, "1", "champion_gate")
    assert mlgates(folder, "promote", "--model-version", "1", "--require", "load_gate").returncode == 0
    bad = mlgates(folder, "promote", "--model-version", "2", "--require", "lod_gate")
    assert bad.returncode == 1 and "'lod_gate' is not a stage" in bad.stderr


def test_a_recorded_failure_of_any_gate_blocks_promotion_by_default(project) -> None:
    folder, adapter = project
    passed(adapter, "1", "champion_gate")
    record_stage(adapter, adapter.get_model_version("m", "1"), "shadow_gate", False, "c0ffee")
    result = mlgates(folder, "promote", "--model-version", "1")
    assert result.returncode == 1 and "shadow_gate failed" in result.stderr, result.stderr
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.mlgates.rollout]\nignore_failed = ["shadow_gate"]\n')
    assert mlgates(folder, "promote", "--model-version", "1").returncode == 0  # opted out, explicitly


@pytest.mark.parametrize(("top", "error"), [
    ("tolerance = 5", "did you mean 0.05"),
    ('metric = "val_accuracy"', "reads as higher-is-better"),
    ('metric = "roc_auc"', "set greater_is_better = true"),
])
def test_a_weakened_policy_is_a_configuration_error(project, top: str, error: str) -> None:
    folder, adapter = project
    pyproject = folder / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('model_name = "m"', f'model_name = "m"\n{top}'))
    result = mlgates(folder, "status")
    assert result.returncode == 2 and error in result.stderr, result.stderr
    intended = "allow_large_tolerance = true" if "tolerance" in top else "greater_is_better = false"
    pyproject.write_text(text.replace('model_name = "m"', f'model_name = "m"\n{top}\n{intended}'))
    assert mlgates(folder, "status").returncode == 0


def test_a_marker_argument_that_weakens_the_policy_names_the_test(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, top="tolerance = 0.05")  # pyproject is fine: the marker is to blame
    pytester.makepyfile(test_gates=textwrap.dedent('''
        import pytest

        @pytest.mark.champion_gate(tolerance=5)
        def test_gate():
            pass
    '''))
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_gates.py::test_gate*champion_gate*tolerance*did you mean 0.05*"])
    assert "pyproject.toml" not in result.stderr.str()


@hsettings(max_examples=60, deadline=None)
@given(st.floats(min_value=1.0, max_value=1e6, allow_nan=False))
def test_any_tolerance_of_100_percent_or_more_needs_intent(tmp_path_factory: pytest.TempPathFactory,
                                                           tolerance: float) -> None:
    folder = tmp_path_factory.mktemp("tol")
    (folder / "pyproject.toml").write_text(f'[tool.mlgates]\nmodel_name = "m"\ntolerance = {tolerance!r}\n')
    with pytest.raises(ConfigError, match="did you mean"):
        load_settings(folder / "pyproject.toml", env={})


@given(st.sampled_from(["accuracy", "auc", "roc_auc", "f1", "precision", "recall", "r2", "R²", "ndcg"]),
       st.sampled_from(["", "val_", "test_", "valid-"]), st.sampled_from(["", "_macro", "_weighted", "@10"]))
def test_higher_is_better_names_are_recognised(name: str, prefix: str, suffix: str) -> None:
    assert looks_higher_is_better(prefix + name + suffix)
    assert not looks_higher_is_better(prefix + name + "_loss")


@given(st.sampled_from(["mae", "rmse", "loss", "log_loss", "error_rate", "mape", "brier"]),
       st.sampled_from(["", "val_", "test_"]))
def test_lower_is_better_names_are_left_alone(name: str, prefix: str) -> None:
    assert not looks_higher_is_better(prefix + name)
