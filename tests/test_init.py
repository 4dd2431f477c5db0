"""`mlgates init`: what it scaffolds, what the workflows contain, and what it never overwrites."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import yaml

from pytest_mlgates.ci import scaffold as init
from pytest_mlgates.commands import init as init_command
from pytest_mlgates.config import load_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STAGE_MARKERS = {"smoke", "champion_gate", "load_gate", "shadow_gate", "promotion_gate", "drift_gate"}
CREDENTIAL_ACTIONS = {
    "sagemaker": "aws-actions/configure-aws-credentials",
    "azureml": "azure/login",
    "vertex": "google-github-actions/auth",
}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "workflows"

USER_PYPROJECT = """\
[project]
name = "eta-service"
version = "1.0"

[tool.pytest.ini_options]
addopts = "-q"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(USER_PYPROJECT)
    (tmp_path / "train.py").write_text("print('train')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a,b\n1,2\n")
    return tmp_path


def load_workflow(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the `on` key as True
    return data


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_scaffolds_config_tests_and_two_workflows(repo: Path, capsys):
    assert init_command.main(["--platform", "sagemaker", str(repo)]) == 0
    out = capsys.readouterr().out
    for item in ("pyproject.toml [tool.mlgates]", init.TEST_MODULE, ".github/workflows/mlgates-pr.yml",
                 ".github/workflows/mlgates-retrain.yml"):
        assert f"wrote {item}" in out
    text = (repo / "pyproject.toml").read_text()
    assert text.startswith(USER_PYPROJECT)  # appended, the user's tables untouched
    data = tomllib.loads(text)
    assert data["tool"]["pytest"]["ini_options"] == {"addopts": "-q"}
    table = data["tool"]["mlgates"]
    assert table["platform"] == "sagemaker" and table["model_name"] == "eta-service"
    assert table["training"] == {"entry_point": "train.py", "data": "data/rows.csv"}
    assert "# tolerance = 0.05" in text  # defaults shown as comments
    settings = load_settings(repo / "pyproject.toml", env={})  # unknown keys would raise here
    assert settings.platform == "sagemaker" and settings.training.data == "data/rows.csv"


@pytest.mark.parametrize("drift", ["", "data/recent.csv"])
def test_gate_module_covers_every_stage_with_real_gate_helpers(repo: Path, drift: str):
    init.scaffold(repo, init.options_from_repo(repo, drift_current=drift), parts=["tests"])
    source = (repo / init.TEST_MODULE).read_text()
    tree = ast.parse(source)
    markers = {d.attr for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
               for d in ast.walk(node) if isinstance(d, ast.Attribute) and isinstance(d.value, ast.Attribute)
               and d.value.attr == "mark"}
    assert markers == (STAGE_MARKERS if drift else STAGE_MARKERS - {"drift_gate"})  # no red suite until configured
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "pytest_mlgates.gates" for a in node.names}
    from pytest_mlgates import gates

    assert imported <= set(gates.__all__)
    assert {"assert_beats_baseline", "assert_non_inferior", "assert_slo", "assert_shadow_agreement"} <= imported
    assert ("assert_no_drift" in imported) == bool(drift)
    fixtures = {a.arg for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) for a in node.args.args}
    assert {"smoke_sample", "smoke_model", "challenger", "champion", "staging_endpoint", "load_test",
            "rollout", "training_job"} <= fixtures


@pytest.mark.parametrize("platform", init.PLATFORMS)
def test_retrain_workflow_shape(repo: Path, platform: str):
    init.scaffold(repo, init.options_from_repo(repo, [platform]), parts=["workflows"])
    wf = load_workflow(repo / ".github/workflows/mlgates-retrain.yml")
    jobs = wf["jobs"]
    assert list(jobs) == ["drift", "train", "champion_gate", "staging", "production"]
    assert set(wf["on"]) == {"schedule", "workflow_dispatch"}
    assert len(wf["on"]["schedule"]) == 2
    assert {"platform", "data_version", "hyperparameters"} <= set(wf["on"]["workflow_dispatch"]["inputs"])
    assert wf["on"]["workflow_dispatch"]["inputs"]["platform"]["options"] == [platform]
    assert wf["concurrency"]["cancel-in-progress"] is False
    assert f"'{platform}'" in wf["env"]["ML_PLATFORM"] and "inputs.platform" in wf["env"]["ML_PLATFORM"]
    # chained with needs:, the candidate handed on through outputs
    assert jobs["train"]["needs"] == "drift" and jobs["champion_gate"]["needs"] == "train"
    assert jobs["staging"]["needs"] == "champion_gate"
    assert jobs["production"]["needs"] == ["champion_gate", "staging"]
    assert set(jobs["champion_gate"]["outputs"]) == {"job_name", "model_version", "challenger_val_mae",
                                                      "champion_val_mae", "should_promote"}
    assert "drift_detected == 'true'" in jobs["train"]["if"]
    for later in ("staging", "production"):
        assert jobs[later]["if"] == "needs.champion_gate.outputs.should_promote == 'true'"
        run = " ".join(s.get("run", "") for s in jobs[later]["steps"])
        assert '--mlgates-model-version "$MODEL_VERSION"' in run
        env = next(s["env"] for s in jobs[later]["steps"] if "MODEL_VERSION" in s.get("env", {}))
        assert env["MODEL_VERSION"] == "${{ needs.champion_gate.outputs.model_version }}"
    assert jobs["production"]["environment"] == "production"
    assert all(isinstance(job["timeout-minutes"], int) for job in jobs.values())
    assert jobs["train"]["timeout-minutes"] == 90  # training.timeout_minutes (60) + 30
    cleanup = [s for s in jobs["train"]["steps"] if s.get("if") == "failure() || cancelled()"]
    assert len(cleanup) == 1 and cleanup[0]["run"].startswith("mlgates cancel --job")
    uses = {s.get("uses", "").split("@")[0] for job in jobs.values() for s in job["steps"]}
    # every job sets up through the one composite action, which holds the platform's login
    assert all(job["steps"][1]["uses"] == "./.github/actions/mlgates-setup" for job in jobs.values())
    action = yaml.safe_load((repo / init.ACTION_DIR / "action.yml").read_text())
    action_uses = {s.get("uses", "").split("@")[0] for s in action["runs"]["steps"]}
    for cloud, credentials in CREDENTIAL_ACTIONS.items():
        assert (credentials in action_uses) == (cloud == platform)
        assert credentials not in uses
    assert ("actions/upload-artifact" in uses) == (platform == "local")
    assert ("id-token" in wf["permissions"]) == (platform != "local")
    markers = " ".join(s.get("run", "") for job in jobs.values() for s in job["steps"])
    for stage in ("drift_gate", "champion_gate", '"load_gate or shadow_gate"', "promotion_gate"):
        assert f"pytest -m {stage}" in markers


def test_pull_request_workflow_is_smoke_only_without_credentials(repo: Path):
    init.scaffold(repo, init.options_from_repo(repo, ["vertex"]), parts=["workflows"])
    wf = load_workflow(repo / ".github/workflows/mlgates-pr.yml")
    assert list(wf["on"]) == ["pull_request"]
    assert "train.py" in wf["on"]["pull_request"]["paths"]
    assert wf["env"]["ML_PLATFORM"] == "local" and wf["permissions"] == {"contents": "read"}
    text = (repo / ".github/workflows/mlgates-pr.yml").read_text()
    assert "secrets." not in text and "champion_gate or" in text  # the gates are excluded from unit tests
    assert any(s.get("run") == "pytest -m smoke" for s in wf["jobs"]["smoke"]["steps"])
    assert all("timeout-minutes" in job for job in wf["jobs"].values())


def test_multi_platform_render_offers_each_with_its_credentials(repo: Path):
    opts = init.options_from_repo(repo, ["azureml", "local", "vertex"])
    wf = yaml.safe_load(init.render_workflows(opts)["mlgates-retrain.yml"])
    assert wf[True]["workflow_dispatch"]["inputs"]["platform"]["options"] == ["azureml", "local", "vertex"]
    steps = wf["jobs"]["train"]["steps"]
    guarded = {s["uses"].split("@")[0]: s["if"] for s in steps if "uses" in s and "if" in s}
    assert guarded["actions/upload-artifact"] == "env.ML_PLATFORM == 'local'"
    action = yaml.safe_load(init.render_action(opts))
    logins = {s["uses"].split("@")[0]: s["if"] for s in action["runs"]["steps"] if "if" in s}
    assert logins == {"azure/login": "inputs.platform == 'azureml'",
                      "google-github-actions/auth": "inputs.platform == 'vertex'"}


def test_second_run_changes_nothing_and_says_so(repo: Path, capsys):
    assert init_command.main([str(repo)]) == 0
    before = snapshot(repo)
    capsys.readouterr()
    assert init_command.main(["--platform", "vertex", str(repo)]) == 0
    assert snapshot(repo) == before
    out = capsys.readouterr().out
    assert out.count("kept existing") == 5 and "wrote" not in out  # config, tests, two workflows, the action


def test_existing_files_are_kept_and_force_overwrites(repo: Path):
    workflow = repo / ".github/workflows/mlgates-retrain.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("# my own workflow\n")
    outcome = init.scaffold(repo, init.options_from_repo(repo))
    assert ".github/workflows/mlgates-retrain.yml" in outcome.skipped
    assert workflow.read_text() == "# my own workflow\n"
    init.scaffold(repo, init.options_from_repo(repo), force=True)
    assert "mlgates retrain" in workflow.read_text()


def test_existing_tool_mlgates_is_never_clobbered_without_force(repo: Path):
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(USER_PYPROJECT + '\n[tool.mlgates]\nmodel_name = "mine"\ntolerance = 0.01\n\n'
                         '[tool.mlgates.training]\ntimeout_minutes = 240\n\n[tool.black]\nline-length = 100\n')
    original = pyproject.read_text()
    outcome = init.scaffold(repo, init.options_from_repo(repo), parts=["config", "workflows"])
    assert "pyproject.toml [tool.mlgates]" in outcome.skipped and pyproject.read_text() == original
    # the workflows still follow the existing configuration
    wf = load_workflow(repo / ".github/workflows/mlgates-retrain.yml")
    assert wf["jobs"]["train"]["timeout-minutes"] == 270

    init.scaffold(repo, init.options_from_repo(repo), force=True, parts=["config"])
    data = tomllib.loads(pyproject.read_text())
    assert data["tool"]["black"] == {"line-length": 100}  # other tables survive
    assert data["tool"]["mlgates"]["model_name"] == "mine"  # re-rendered from what was there
    assert "tolerance" not in data["tool"]["mlgates"]
    assert pyproject.read_text().count("[tool.mlgates]") == 1


def test_force_refuses_a_table_it_cannot_remove_safely(repo: Path):
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(USER_PYPROJECT.replace('addopts = "-q"', 'addopts = "-q"\n\n[tool]\nmlgates.platform = "local"'))
    original = pyproject.read_text()
    with pytest.raises(init.InitError, match="remove it by hand"):
        init.scaffold(repo, init.options_from_repo(repo), force=True, parts=["config"])
    assert pyproject.read_text() == original


def test_creates_pyproject_when_missing(tmp_path: Path):
    assert init_command.main(["--only", "config", str(tmp_path)]) == 0
    settings = load_settings(tmp_path / "pyproject.toml", env={})
    assert settings.model_name == tmp_path.name and settings.platform == "local"


def test_dry_run_writes_nothing(repo: Path, capsys):
    before = snapshot(repo)
    assert init_command.main(["--dry-run", str(repo)]) == 0
    assert snapshot(repo) == before
    assert "would write .github/workflows/mlgates-pr.yml" in capsys.readouterr().out


def test_errors_exit_2_and_write_nothing(repo: Path, tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        init_command.main(["--platform", "databricks", str(repo)])
    assert exc.value.code == 2
    assert init_command.main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (repo / "pyproject.toml").write_text("[project\n")
    before = snapshot(repo)
    assert init_command.main([str(repo)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_render_rejects_unknown_placeholders():
    with pytest.raises(KeyError, match="@@NOPE@@"):
        init.render_text("a: @@NOPE@@\n", {})
    assert init.render_text("x:\n  @@B@@\n", {"B": "- 1\n- 2"}) == "x:\n  - 1\n  - 2\n"


@pytest.mark.parametrize("platform", init.PLATFORMS)
def test_examples_are_the_current_rendering(platform: str):
    """examples/workflows/ must not go stale: regenerate with init.write_examples('examples/workflows')."""
    for name, text in init.render_workflows(init.example_options(platform)).items():
        assert (EXAMPLES / platform / name).read_text() == text, f"examples/workflows/{platform}/{name} is stale"
    action = init.render_action(init.example_options(platform), init.EXAMPLE_DEPENDENCY_FILES)
    assert (EXAMPLES / platform / init.EXAMPLE_ACTION).read_text() == action, f"{platform}'s example action is stale"
