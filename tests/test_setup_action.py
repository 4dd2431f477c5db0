"""The local composite action `mlgates init` writes (issue 14): pip cache, the project's dependencies, pins, logins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pytest_mlgates.ci import scaffold as init

USES = re.compile(r"uses:\s*(\S+)")


def rendered(opts: init.Options) -> dict[str, str]:
    return {**init.render_workflows(opts), "action.yml": init.render_action(opts)}


@pytest.mark.parametrize("platform", init.PLATFORMS)
def test_every_action_is_pinned_to_a_full_commit_sha(platform: str) -> None:
    for name, text in rendered(init.Options(platforms=(platform,), model_name="m")).items():
        for ref in USES.findall(text):
            if ref.startswith("./"):
                continue
            action, _, version = ref.partition("@")
            if action in init.PINNED_ACTIONS:
                assert re.fullmatch(r"[0-9a-f]{40}", version), f"{name}: {ref} is not pinned to a commit"
            else:
                assert action == "azure/login", f"{name}: {action} has no pin in PINNED_ACTIONS"


def test_pip_cache_is_keyed_by_the_projects_dependency_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n'
                                             '[project.optional-dependencies]\ntest = ["pytest"]\n')
    (tmp_path / "requirements-dev.txt").write_text("ruff\n")
    (tmp_path / "poetry.lock").write_text("")
    init.scaffold(tmp_path, init.options_from_repo(tmp_path), parts=["workflows"])
    action = yaml.safe_load((tmp_path / init.ACTION_DIR / "action.yml").read_text())
    setup_python, install = action["runs"]["steps"][:2]
    assert setup_python["with"]["cache"] == "pip"
    assert setup_python["with"]["cache-dependency-path"].split() == ["pyproject.toml", "requirements*.txt",
                                                                     "poetry.lock"]
    # the project's own dependencies (with its test extra), not only requirements.txt
    assert 'pip install -e ".[test]"' in install["run"] and 'pytest-mlgates[$EXTRAS]' in install["run"]
    assert action["runs"]["using"] == "composite" and install["shell"] == "bash"


@pytest.mark.parametrize("platform", ["sagemaker", "azureml", "vertex"])
def test_a_platforms_login_template_plugs_in_as_inputs_the_workflow_fills_from_its_secrets(platform: str) -> None:
    opts = init.Options(platforms=(platform, "local"), model_name="m")
    action = yaml.safe_load(init.render_action(opts))
    declared = set(action["inputs"])
    text = init.render_action(opts)
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used <= declared, f"the action uses undeclared inputs {used - declared}"
    assert "${{ secrets." not in text and "env.ML_PLATFORM" not in text  # a composite action sees neither
    _, refs = init.login_steps(platform)
    assert refs, f"{platform}'s login template references no secret or variable"
    retrain = yaml.safe_load(init.render_workflows(opts)["mlgates-retrain.yml"])
    for job in retrain["jobs"].values():
        passed = job["steps"][1]["with"]
        assert passed["platform"] == "${{ env.ML_PLATFORM }}"
        assert {k: passed[k] for k in refs} == refs  # e.g. aws-role-arn: ${{ secrets.AWS_ROLE_ARN }}
    pr = yaml.safe_load(init.render_workflows(opts)["mlgates-pr.yml"])
    for job in pr["jobs"].values():
        assert set(job["steps"][1]["with"]) == {"python-version", "extras", "platform"}  # no secrets in PRs


def test_scaffolding_writes_the_action_once_and_keeps_it(tmp_path: Path, capsys) -> None:
    opts = init.Options(platforms=("local",), model_name="m")
    first = init.scaffold(tmp_path, opts, parts=["workflows"])
    assert f"{init.ACTION_DIR}/action.yml" in first.written
    again = init.scaffold(tmp_path, opts, parts=["workflows"])
    assert f"{init.ACTION_DIR}/action.yml" in again.skipped
