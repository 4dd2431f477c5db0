"""The local platform as a real system: subprocess jobs and the SQLite registry."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pytest_mlgates.records import (
    ConflictError,
    DeadlineExceeded,
    IntegrityError,
    JobFailedError,
    JobStatus,
    NotFoundError,
    TrainingSpec,
)
from pytest_mlgates.adapters.local import LocalAdapter
from conftest import process_running as pid_alive


def spec(train_script: Path, **hp: object) -> TrainingSpec:
    return TrainingSpec(model_name="m", entry_point=str(train_script), data=str(train_script.parent / "data.csv"),
                        hyperparameters=hp)




@pytest.fixture
def adapter(tmp_path: Path) -> LocalAdapter:
    return LocalAdapter(state_dir=tmp_path / "state")


def test_job_runs_to_completion_with_metrics(adapter: LocalAdapter, train_script: Path) -> None:
    job = adapter.submit_training_job(spec(train_script, val_mae=7.5))
    assert job.status is JobStatus.RUNNING
    done = adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
    assert done.status is JobStatus.COMPLETED
    assert done.metrics == {"val_mae": 7.5}
    assert "training on" in adapter.job_logs(job.name)


def test_job_status_survives_the_submitting_process(adapter: LocalAdapter, train_script: Path) -> None:
    job = adapter.submit_training_job(spec(train_script, val_mae=3.0))
    adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
    fresh = LocalAdapter(state_dir=adapter.state_dir)  # another process would see the same files
    assert fresh.get_job(job.name).status is JobStatus.COMPLETED
    assert fresh.job_metrics(job.name) == {"val_mae": 3.0}


def test_crashing_script_fails_with_log_tail(adapter: LocalAdapter, train_script: Path) -> None:
    job = adapter.submit_training_job(spec(train_script, crash=1))
    with pytest.raises(JobFailedError) as err:
        adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
    assert "exited with code 3" in str(err.value)
    assert "something went badly wrong" in str(err.value)
    assert job.name in str(err.value)


@pytest.mark.parametrize("knob, expected", [("no_metrics", "wrote no"), ("bad_metrics", "must be a number")])
def test_broken_metrics_fail_the_job(adapter: LocalAdapter, train_script: Path, knob: str, expected: str) -> None:
    job = adapter.submit_training_job(spec(train_script, **{knob: 1}))
    with pytest.raises(JobFailedError, match=expected) as err:
        adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
    assert "train.py" in str(err.value)


def test_missing_entry_point_is_a_clear_error(adapter: LocalAdapter, tmp_path: Path) -> None:
    with pytest.raises(JobFailedError, match="does not exist"):
        adapter.submit_training_job(TrainingSpec(model_name="m", entry_point=str(tmp_path / "nope.py"), data="d"))


def test_deadline_cancels_and_kills_the_whole_process_group(adapter: LocalAdapter, train_script: Path) -> None:
    job = adapter.submit_training_job(spec(train_script, sleep=600, child=1))
    child_pid_file = adapter.job_model_dir(job.name) / "child.pid"
    for _ in range(200):
        if child_pid_file.exists() and child_pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(child_pid_file.read_text())
    runner = json.loads((adapter.jobs_dir / job.name / "job.json").read_text())["pid"]
    assert pid_alive(child)
    with pytest.raises(DeadlineExceeded, match="did not finish within") as err:
        adapter.wait_for_job(job.name, timeout=0.5, poll_interval=0.05)
    assert "training on" in str(err.value)  # the log tail
    assert adapter.get_job(job.name).status is JobStatus.CANCELLED
    for _ in range(100):
        if not pid_alive(child) and not pid_alive(runner):
            break
        time.sleep(0.05)
    assert not pid_alive(child), "the script's own child survived the cancel"
    assert not pid_alive(runner)


def test_cancel_of_a_finished_job_changes_nothing(adapter: LocalAdapter, train_script: Path) -> None:
    job = adapter.submit_training_job(spec(train_script))
    adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
    adapter.cancel_job(job.name)
    assert adapter.get_job(job.name).status is JobStatus.COMPLETED


def test_interrupt_while_waiting_cancels(adapter: LocalAdapter, train_script: Path) -> None:
    job = adapter.submit_training_job(spec(train_script, sleep=600))
    calls = iter(range(1000))

    def sleep(_: float) -> None:
        if next(calls) == 2:
            raise KeyboardInterrupt
        time.sleep(0.01)

    with pytest.raises(KeyboardInterrupt):
        adapter.wait_for_job(job.name, timeout=60, sleep=sleep)
    assert adapter.get_job(job.name).status is JobStatus.CANCELLED


def test_unknown_job_is_not_found(adapter: LocalAdapter) -> None:
    with pytest.raises(NotFoundError):
        adapter.get_job("nope")


def _trained(adapter: LocalAdapter, train_script: Path, val_mae: float) -> str:
    job = adapter.submit_training_job(spec(train_script, val_mae=val_mae))
    return adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05).name


def test_register_promote_and_champion_lookup(adapter: LocalAdapter, train_script: Path) -> None:
    assert adapter.get_champion("m") is None
    v1 = adapter.register_model("m", _trained(adapter, train_script, 5.0), {"val_mae": 5.0})
    assert v1.version == "1" and len(v1.sha256) == 64 and v1.artifact_uri.startswith("file://")
    adapter.promote("m", "1", expected_champion=None, tags={"mlgates.champion_metric.val_mae": "5.0"})
    champ = adapter.get_champion("m")
    assert champ is not None and champ.version == "1" and champ.is_champion
    assert champ.tags["mlgates.champion_metric.val_mae"] == "5.0"
    v2 = adapter.register_model("m", _trained(adapter, train_script, 4.0), {"val_mae": 4.0})
    assert v2.version == "2"
    with pytest.raises(ConflictError, match="champion is now 1"):
        adapter.promote("m", "2", expected_champion=None)
    adapter.promote("m", "2", expected_champion="1")
    assert [v.is_champion for v in adapter.list_model_versions("m")] == [False, True]
    assert [h["event"] for h in adapter.registry.history("m")] == ["registered", "promoted", "registered", "promoted"]


def test_tags_merge(adapter: LocalAdapter, train_script: Path) -> None:
    v1 = adapter.register_model("m", _trained(adapter, train_script, 5.0), {"val_mae": 5.0}, {"a": "1"})
    adapter.set_tags("m", v1.version, {"b": "2"})
    assert adapter.get_model_version("m", "1").tags == {"mlgates.job": v1.tags["mlgates.job"], "a": "1", "b": "2"}
    with pytest.raises(NotFoundError):
        adapter.set_tags("m", "9", {"a": "1"})


def test_artifact_digest_mismatch_is_refused(adapter: LocalAdapter, train_script: Path) -> None:
    v1 = adapter.register_model("m", _trained(adapter, train_script, 5.0), {"val_mae": 5.0})
    assert adapter.model_path(v1).is_dir()
    (adapter.model_path(v1) / "model.joblib").write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="changed after registration"):
        adapter.model_path(v1)


def _register_in_child(state_dir: str, model_dir: str, queue: multiprocessing.Queue) -> None:
    adapter = LocalAdapter(state_dir=state_dir)
    queue.put(adapter.registry.register("m", Path(model_dir), {"val_mae": 1.0}, {}).version)


def test_concurrent_registrations_get_distinct_versions(adapter: LocalAdapter, train_script: Path) -> None:
    model_dir = adapter.job_model_dir(_trained(adapter, train_script, 5.0))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_register_in_child, args=(str(adapter.state_dir), str(model_dir), queue))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    versions = sorted(queue.get(timeout=5) for _ in procs)
    assert versions == ["1", "2", "3", "4"]
    assert [v.version for v in adapter.list_model_versions("m")] == ["1", "2", "3", "4"]


def test_registry_locked_by_another_run_waits_then_succeeds(adapter: LocalAdapter, train_script: Path) -> None:
    model_dir = adapter.job_model_dir(_trained(adapter, train_script, 5.0))
    blocker = sqlite3.connect(adapter.registry.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another run holds the write lock
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(
        adapter.registry.register("m", model_dir, {"val_mae": 1.0}, {}).version))
    worker.start()
    time.sleep(0.3)
    assert result == []  # still waiting for the lock
    blocker.execute("COMMIT")
    worker.join(30)
    assert result == ["1"]


def test_failed_registration_leaves_no_entry(adapter: LocalAdapter, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        adapter.register_model("m", "no-such-job", {"val_mae": 1.0})
    assert adapter.list_model_versions("m") == []


def test_cas_race_has_exactly_one_winner(adapter: LocalAdapter, train_script: Path) -> None:
    job = _trained(adapter, train_script, 5.0)
    for _ in range(2):
        adapter.register_model("m", job, {"val_mae": 5.0})
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(version: str) -> None:
        barrier.wait()
        try:
            adapter.promote("m", version, expected_champion=None)
            outcomes.append("won")
        except ConflictError:
            outcomes.append("lost")

    threads = [threading.Thread(target=attempt, args=(v,)) for v in ("1", "2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "won"]
    assert sum(v.is_champion for v in adapter.list_model_versions("m")) == 1
