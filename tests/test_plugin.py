"""The pytest layer, through pytester: markers, options, errors, outputs, ledger."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import TRAIN_SCRIPT

pytest_plugins = ["pytester"]

BASE = textwrap.dedent('''
    [tool.mlgates]
    model_name = "m"
    {top}
    [tool.mlgates.training]
    entry_point = "train.py"
    data = "data.csv"
    timeout_minutes = 1
    {training}
''')

GATE_TESTS = textwrap.dedent('''
    import pytest
    from pytest_mlgates.gates import assert_non_inferior

    @pytest.mark.champion_gate
    def test_gate(challenger, champion):
        assert_non_inferior(challenger, champion)
''')


@pytest.fixture
def project(pytester: pytest.Pytester):
    def make(top: str = "", training: str = "", tests: str = GATE_TESTS) -> pytest.Pytester:
        pytester.makefile(".toml", pyproject=BASE.format(top=top, training=training))
        pytester.path.joinpath("train.py").write_text(TRAIN_SCRIPT)
        pytester.path.joinpath("data.csv").write_text("x,y\n1,2\n")
        pytester.makepyfile(test_gates=tests)
        return pytester
    return make


def test_markers_are_registered_with_signatures(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.smoke(): stage 1*",
        "@pytest.mark.champion_gate(*, metric=None, tolerance=None*",
        "@pytest.mark.load_gate(*, p99_ms=None, max_error_rate=None)*",
        "@pytest.mark.shadow_gate(*",
        "@pytest.mark.promotion_gate(*",
        "@pytest.mark.drift_gate(*",
    ])


def test_markers_work_under_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n@pytest.mark.smoke\ndef test_a(): pass\n")
    pytester.runpytest("--strict-markers", "-m", "smoke").assert_outcomes(passed=1)


def test_report_header_shows_the_effective_settings(project) -> None:
    p = project(top='tolerance = 0.1\ngreater_is_better = true\nmetric = "auc"')
    result = p.runpytest("--collect-only", "--ml-platform", "local")
    result.stdout.fnmatch_lines(["mlgates: platform=local (option --ml-platform), model=m, metric=auc "
                                 "(higher is better), tolerance=0.1"])


def test_unknown_platform_is_a_usage_error_listing_valid_names(project, monkeypatch) -> None:
    monkeypatch.setenv("ML_PLATFORM", "sagemkaer")
    result = project().runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown ML platform 'sagemkaer'; valid names: azureml, local, sagemaker, "
                                 "vertex*(platform from env ML_PLATFORM)"])


def test_missing_sdk_names_the_extra(project, monkeypatch) -> None:
    # azure-ai-ml is in the dev extra: hide it behind an `azure` package without `ai`, in a fresh
    # interpreter, which is what a machine without the extra looks like to the plugin.
    p = project()
    shadow = p.path / "shadow"
    (shadow / "azure").mkdir(parents=True)
    (shadow / "azure" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    result = p.runpytest_subprocess("--ml-platform", "azureml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs azure.ai.ml, which is not installed; "
                                 "install it with: pip install 'pytest-mlgates[[]azureml]'"])


def test_bad_config_key_is_a_usage_error(project) -> None:
    result = project(top="tolerence = 0.1").runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key tolerence in [[]tool.mlgates[]]*"])


@pytest.mark.parametrize("mark, message", [
    ("champion_gate(0.1)", "*test_gates.py::test_a: @pytest.mark.champion_gate takes keyword arguments only*"),
    ("champion_gate(tolerence=0.1)", "*champion_gate got unknown argument(s) tolerence; signature: champion_gate(*"),
    ("load_gate(p99_ms=-5)", "*p99_ms must be a positive number*"),
    ("champion_gate(tolerance='x')", "*test_a(tolerance=...) must be of type float*"),
])
def test_bad_marker_arguments_are_usage_errors(pytester: pytest.Pytester, mark: str, message: str) -> None:
    pytester.makepyfile(test_gates=f"import pytest\n@pytest.mark.{mark}\ndef test_a(): pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_marker_arguments_override_the_configuration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gates='''
        import pytest
        from pytest_mlgates.gates import assert_non_inferior

        @pytest.mark.champion_gate(tolerance=0.2)
        def test_loose():
            assert_non_inferior({"val_mae": 11.5}, {"val_mae": 10.0})

        @pytest.mark.champion_gate
        def test_default():
            assert_non_inferior({"val_mae": 11.5}, {"val_mae": 10.0})
    ''')
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_default*"])


def test_champion_gate_end_to_end_writes_outputs_ledger_and_reports(project, monkeypatch, tmp_path: Path) -> None:
    out, summary = tmp_path / "gh_output", tmp_path / "gh_summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_SHA", "abc123def")
    p = project(training="hyperparameters = { val_mae = 10.0 }")
    result = p.runpytest_subprocess("--mlgates-report", "report.json", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*FIRST DEPLOYMENT*", "*ledger: m:1 mlgates.gate.champion_gate = passed*"])
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert lines["model_version"] == "1" and lines["should_promote"] == "true"
    assert lines["challenger_val_mae"] == "10" and lines["job_name"].startswith("m-") and "abc123d" in lines["job_name"]
    assert "| champion_gate | passed |" in summary.read_text()
    report = json.loads((p.path / "report.json").read_text())
    assert report["stages"] == {"champion_gate": "passed"} and report["commit"] == "abc123def"
    assert 'name="mlgates.champion.challenger_value" value="10.0"' in (p.path / "junit.xml").read_text()

    # A worse challenger (after promoting the first) is blocked, and the ledger says so.
    from pytest_mlgates.adapters.local import LocalAdapter
    from pytest_mlgates.config import load_settings
    from pytest_mlgates.release.promotion import promote_version

    settings = load_settings(p.path / "pyproject.toml", env={})
    adapter = LocalAdapter(settings)
    promote_version(adapter, settings, "1")
    out.unlink()
    result = p.runpytest_subprocess("--mlgates-hyperparameter", "val_mae=12")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*limit = 10 + max(0.05 x |10|, 0) = 10.5; 12 <= 10.5 is false*"])
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert (lines["should_promote"], lines["champion_val_mae"], lines["model_version"]) == ("false", "10", "2")
    v2 = adapter.get_model_version("m", "2")
    assert v2.tags["mlgates.gate.champion_gate"] == "failed"
    assert v2.tags["mlgates.gate.champion_gate.sha256"] == v2.sha256
    assert v2.tags["mlgates.gate.champion_gate.champion"] == "1"


def test_nothing_is_written_without_github_variables(project, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    p = project()
    before = set(p.path.iterdir())
    p.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert {f.name for f in set(p.path.iterdir()) - before} == {".mlgates"}


def test_attach_to_model_version_does_not_train(project) -> None:
    p = project()
    p.runpytest().assert_outcomes(passed=1)
    jobs = list((p.path / ".mlgates" / "jobs").iterdir())
    result = p.runpytest("--mlgates-model-version", "1", "-p", "no:randomly")
    result.assert_outcomes(passed=1)  # no champion: first deployment again, but no new job
    assert list((p.path / ".mlgates" / "jobs").iterdir()) == jobs


def test_attach_to_job(project) -> None:
    p = project()
    p.runpytest().assert_outcomes(passed=1)
    (job,) = [j.name for j in (p.path / ".mlgates" / "jobs").iterdir()]
    result = p.runpytest("--mlgates-job", job)
    result.assert_outcomes(passed=1)
    assert len(list((p.path / ".mlgates" / "jobs").iterdir())) == 1
    result.stdout.fnmatch_lines([f"*job_name={job}*"])


def test_crashing_training_script_fails_with_its_output(project) -> None:
    result = project(training="hyperparameters = { crash = 1 }").runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*train.py exited with code 3*", "*something went badly wrong*"])


def test_missing_platform_settings_are_a_usage_error_naming_the_setting(project, monkeypatch) -> None:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    result = project().runpytest("--ml-platform", "sagemaker")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest-mlgates:*region*"])
    # a suite with no platform-bound gate is not held up by the platform's settings
    pytest_result = project(tests="def test_plain():\n    pass\n").runpytest("--ml-platform", "sagemaker")
    pytest_result.assert_outcomes(passed=1)
