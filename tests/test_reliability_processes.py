"""Harm classes: nothing a training job started outlives it; a job nobody waits for is cancelled;
a CI output file that cannot be written is a clear error that orphans nothing and hides no verdict.

Real processes and real signals: pytest runs in a subprocess, jobs are the local platform's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import load_settings
from pytest_mlgates.records import JobStatus, TrainingSpec

from conftest import process_running, processes_mentioning, write_project

from leftovers import no_leftover_processes  # noqa: F401 - autouse: nothing outlives a test

pytest_plugins = ["pytester"]

GATE = '''
import pytest
from pytest_mlgates.gates import assert_non_inferior

@pytest.mark.champion_gate
def test_gate(challenger, champion):
    assert_non_inferior(challenger, champion)
'''


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def pids_in(model_dir: Path, *names: str) -> list[int]:
    wait_for(lambda: all((model_dir / n).is_file() and (model_dir / n).read_text() for n in names))
    return [int((model_dir / n).read_text()) for n in names]


def gone(pids: list[int], timeout: float = 30.0) -> bool:
    wait_for(lambda: not any(process_running(p) for p in pids), timeout)
    return True


@pytest.fixture
def adapter(tmp_path: Path) -> LocalAdapter:
    folder = write_project(tmp_path / "proj")
    return LocalAdapter(load_settings(folder / "pyproject.toml", env={}))


def submit(adapter: LocalAdapter, **hyperparameters: object) -> str:
    return adapter.submit_training_job(TrainingSpec("m", "train.py", "data.csv", hyperparameters)).name


def test_a_finished_job_leaves_nothing_running(adapter: LocalAdapter) -> None:
    job = submit(adapter, child=1, daemon=1)
    assert adapter.wait_for_job(job, timeout=60, poll_interval=0.05).status is JobStatus.COMPLETED
    child, daemon = pids_in(adapter.job_model_dir(job), "child.pid", "daemon.pid")
    assert not process_running(child) and not process_running(daemon)  # stopped before the job was reported done
    assert "stopped 2 process(es) it left running" in adapter.job_logs(job)


def test_cancel_stops_children_in_the_group_and_in_a_new_session(adapter: LocalAdapter) -> None:
    job = submit(adapter, child=1, daemon=1, sleep=60)
    child, daemon = pids_in(adapter.job_model_dir(job), "child.pid", "daemon.pid")
    adapter.cancel_job(job)
    assert gone([child, daemon])
    assert adapter.get_job(job).status is JobStatus.CANCELLED


def test_deleting_the_state_folder_mid_run_cancels_the_job(adapter: LocalAdapter) -> None:
    job = submit(adapter, child=1, daemon=1, sleep=60)
    model_dir = adapter.job_model_dir(job)
    runner = int(__import__("json").loads((model_dir.parent / "job.json").read_text())["pid"])
    child, daemon = pids_in(model_dir, "child.pid", "daemon.pid")
    shutil.rmtree(adapter.state_dir)
    assert gone([runner, child, daemon])


def test_sigterm_to_pytest_cancels_its_job_and_everything_the_job_started(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "proj", extra="hyperparameters = { sleep = 60, child = 1, daemon = 1 }\n")
    text = (folder / "pyproject.toml").read_text()
    # the extra line belongs to [tool.mlgates.training], the last table
    assert text.rstrip().endswith("daemon = 1 }")
    (folder / "test_gates.py").write_text(GATE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLGATES_", "GITHUB_", "ML_PLATFORM"))}
    pytest_proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder,
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any((folder / ".mlgates" / "jobs").glob("*/model/daemon.pid")), timeout=60)
        (job_dir,) = (folder / ".mlgates" / "jobs").iterdir()
        child, daemon = pids_in(job_dir / "model", "child.pid", "daemon.pid")
        pytest_proc.send_signal(signal.SIGTERM)
        pytest_proc.wait(timeout=30)
        assert gone([child, daemon])
        wait_for(lambda: (job_dir / "exit.json").is_file())
        adapter = LocalAdapter(load_settings(folder / "pyproject.toml", env={}))
        job = adapter.get_job(job_dir.name)
        assert job.status is JobStatus.CANCELLED
        assert "the run that submitted it" in adapter.job_logs(job_dir.name)
        wait_for(lambda: processes_mentioning(str(folder)) == [], timeout=30)  # the runner itself ends too
    finally:
        if pytest_proc.poll() is None:
            pytest_proc.kill()


def test_an_unwritable_github_output_at_submission_cancels_the_job(pytester: pytest.Pytester, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(pytester.path)
    pytester.makepyfile(test_gates=GATE)
    target = tmp_path / "out"
    target.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    # Becomes unwritable after the start-up check: replaced by a directory once the job is submitted.
    (pytester.path / "conftest.py").write_text(
        "import os, shutil\n"
        "import pytest_mlgates.adapters.local.adapter as a\n"
        "_submit = a.LocalAdapter.submit_training_job\n"
        "def submit(self, spec):\n"
        "    job = _submit(self, spec)\n"
        f"    os.remove({str(target)!r}); os.mkdir({str(target)!r})\n"
        "    return job\n"
        "a.LocalAdapter.submit_training_job = submit\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*could not write $GITHUB_OUTPUT*was cancelled, since no cleanup step could learn*"])
    assert "Traceback" not in result.stdout.str()
    (job_dir,) = (pytester.path / ".mlgates" / "jobs").iterdir()
    assert (job_dir / "cancelled").exists()
    wait_for(lambda: processes_mentioning(str(pytester.path)) == [], timeout=30)


@pytest.mark.parametrize(("variable", "option"), [
    ("GITHUB_OUTPUT", None), ("GITHUB_STEP_SUMMARY", None), (None, "--junitxml"), (None, "--mlgates-report"),
])
def test_an_unwritable_output_file_is_refused_before_any_job(pytester: pytest.Pytester, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, variable: str | None,
                                                             option: str | None) -> None:
    write_project(pytester.path)
    pytester.makepyfile(test_gates=GATE)
    folder = tmp_path / "ro"
    folder.mkdir()
    args = []
    if variable:
        monkeypatch.setenv(variable, str(folder))  # a directory, not a file
        expected = f"*${variable} is {folder}, which cannot be written: it is a directory*"
    else:
        (tmp_path / "afile").write_text("")
        args = [option, str(tmp_path / "afile" / "out.xml")]  # its folder is a file
        expected = f"*{option}*afile/out.xml, which cannot be written: *afile is not a directory*"
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert not (pytester.path / ".mlgates" / "jobs").exists() or not any((pytester.path / ".mlgates" / "jobs").iterdir())


def test_an_output_file_that_breaks_at_the_end_keeps_the_verdict_and_fails_the_run(
        pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(pytester.path)
    pytester.makepyfile(test_gates=GATE + '''

def test_break_the_summary():
    import os
    path = os.environ["GITHUB_STEP_SUMMARY"]
    os.remove(path); os.mkdir(path)
''')
    (tmp_path / "summary").write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*[[]champion] PASSED*", "*ERROR: could not write $GITHUB_STEP_SUMMARY*"])
    assert "should_promote=true" in (tmp_path / "out").read_text()  # the other outputs still went out
