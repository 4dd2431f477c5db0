"""Harm class: damaged state is a loud error naming the file and the fix, never a fresh start.

Through the ``mlgates`` console script in a subprocess and pytester runs of the champion gate.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import load_settings
from pytest_mlgates.records import StateError, TrainingSpec

from conftest import write_project

from cli_runs import GATE, mlgates
from leftovers import no_leftover_processes  # noqa: F401 - autouse: nothing outlives a test

pytest_plugins = ["pytester"]



@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """A project with one registered version whose registry we then damage."""
    folder = write_project(tmp_path / "proj")
    adapter = LocalAdapter(load_settings(folder / "pyproject.toml", env={}))
    job = adapter.submit_training_job(TrainingSpec("m", "train.py", "data.csv", {}))
    adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
    adapter.register_model("m", job.name, {"val_mae": 10.0})
    return folder


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    path.write_bytes(b"this was a registry before the disk filled up" * 10)


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _deleted(path: Path) -> None:
    path.unlink()


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:100])


DAMAGE = {"zero-byte": (_zero, "is empty (zero bytes)"), "garbage": (_garbage, "wrong header"),
          "a folder": (_folder, "is a folder"), "deleted": (_deleted, "still holds registered artifacts"),
          "truncated": (_truncated, "the model registry")}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_registry_is_a_loud_error_on_every_command(trained: Path, kind: str) -> None:
    registry = trained / ".mlgates" / "registry.sqlite"
    for extra in ("-wal", "-shm"):
        Path(str(registry) + extra).unlink(missing_ok=True)
    damage, says = DAMAGE[kind]
    damage(registry)
    before = registry.read_bytes() if registry.is_file() else None
    for args in (["status"], ["promote", "--model-version", "1"]):
        result = mlgates(trained, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert str(registry) in result.stderr and says in result.stderr, result.stderr
        assert "Restore it from your state backup" in result.stderr and "Traceback" not in result.stderr
    after = registry.read_bytes() if registry.is_file() else None
    assert after == before  # never re-created or overwritten


def test_a_damaged_registry_stops_the_champion_gate_instead_of_a_first_deployment(
        pytester: pytest.Pytester) -> None:
    write_project(pytester.path)
    pytester.makepyfile(test_gates=GATE)
    state = pytester.path / ".mlgates"
    state.mkdir()
    (state / "registry.sqlite").write_bytes(b"")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*StateError: the model registry*registry.sqlite is empty (zero bytes)*"])
    assert "FIRST DEPLOYMENT" not in result.stdout.str()
    assert (state / "registry.sqlite").read_bytes() == b""


def test_a_fresh_state_folder_is_still_a_first_deployment(pytester: pytest.Pytester) -> None:
    write_project(pytester.path)
    pytester.makepyfile(test_gates=GATE)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*FIRST DEPLOYMENT*"])


@pytest.mark.parametrize("name", ["job.json", "exit.json"])
def test_a_damaged_job_record_names_the_file(trained: Path, name: str) -> None:
    adapter = LocalAdapter(load_settings(trained / "pyproject.toml", env={}))
    (job_dir,) = adapter.jobs_dir.iterdir()
    (job_dir / name).write_text("{truncated")
    with pytest.raises(StateError, match=rf"{name} is not valid JSON.*Restore it"):
        adapter.get_job(job_dir.name)


@pytest.mark.parametrize(("where", "says"), [("afile", "is a file, not a folder"),
                                             ("afile/state", "cannot be created: Not a directory")])
def test_a_state_folder_that_cannot_be_used_names_the_option(trained: Path, tmp_path: Path, where: str,
                                                             says: str) -> None:
    (tmp_path / "afile").write_text("")
    result = mlgates(trained, "status", "--state-dir", str(tmp_path / where))
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "--mlgates-state-dir" in result.stderr and "Traceback" not in result.stderr


def test_a_corrupt_page_inside_the_registry_is_not_an_empty_registry(trained: Path) -> None:
    registry = trained / ".mlgates" / "registry.sqlite"
    with sqlite3.connect(registry) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(registry.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, header intact
    registry.write_bytes(bytes(data))
    result = mlgates(trained, "status")
    assert result.returncode == 2 and str(registry) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_an_artifact_that_cannot_be_copied_leaves_no_partial_files(tmp_path: Path) -> None:
    import socket

    from pytest_mlgates.adapters.local.registry import LocalRegistry

    registry = LocalRegistry(tmp_path / "state")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.joblib").write_bytes(b"m" * 100_000)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(model / "zz.sock"))  # a file no copy can read, after the model was copied
    try:
        with pytest.raises(StateError, match="could not copy the model folder"):
            registry.register("m", model, {"val_mae": 1.0}, {})
    finally:
        server.close()
    assert list(registry.artifacts.iterdir()) == []
    assert registry.list("m") == []
