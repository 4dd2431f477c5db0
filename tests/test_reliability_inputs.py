"""Classes that failed closed but did not say what to do: bad training data, bad values, path options spelled
with a space, unbounded output, serving parser refusals, lost promotion races, a registry locked for long."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings as hsettings, strategies as st

from pytest_mlgates.adapters.local.registry import LocalRegistry
from pytest_mlgates.config import ConfigError, load_settings
from pytest_mlgates.contract import ContractError, read_metrics
from pytest_mlgates.records import ConflictError, StateError

from conftest import write_project
from test_serving import model_dir, server  # noqa: F401 - the real model server, started once for this module

from cli_runs import GATE, mlgates
from leftovers import no_leftover_processes  # noqa: F401 - autouse: nothing outlives a test

pytest_plugins = ["pytester"]



# -- bad training data: named before it reaches the training script -------------------------------
def _dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


BAD_DATA = {
    "empty": (lambda p: p.write_bytes(b""), "is empty (zero bytes)"),
    "header only": (lambda p: p.write_text("x,y\n"), "has a header but no rows"),
    "not text": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" * 10), "is not text"),
    "a folder": (_dir, "is a folder, not a file"),
    "no target column": (lambda p: p.write_text("a,b\n1,2\n"), "has no column 'y' (its columns: a, b)"),
}


@pytest.mark.parametrize("kind", sorted(BAD_DATA))
def test_bad_training_data_is_named_before_training(pytester: pytest.Pytester, kind: str) -> None:
    write_project(pytester.path)
    pyproject = pytester.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('data = "data.csv"', 'data = "data.csv"\ntarget = "y"'))
    damage, says = BAD_DATA[kind]
    damage(pytester.path / "data.csv")
    pytester.makepyfile(test_gates=GATE)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*training data *data.csv (from [[]tool.mlgates.training] data) {says}*"])
    jobs = pytester.path / ".mlgates" / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []  # the script never ran


# -- values accepted that should not be ------------------------------------------------------------
@pytest.mark.parametrize(("line", "says"), [
    ('tolerance = "5%"', "tool.mlgates.tolerance must be of type float, got '5%'"),
    ('tolerance = "5%"', "(e.g. tolerance = 0.05)"),
    ('[tool.mlgates.load]\np99_ms = "500"', "tool.mlgates.load.p99_ms must be of type float"),
    ('[tool.mlgates.shadow]\nrequired = "true"', "(e.g. required = true)"),
])
def test_a_quoted_number_in_pyproject_is_refused(tmp_path: Path, line: str, says: str) -> None:
    folder = write_project(tmp_path / "proj", extra=line if line.startswith("[") else "", top="" if line.startswith("[") else line)
    result = mlgates(folder, "status")
    assert result.returncode == 2, result.stderr
    assert "is quoted" in result.stderr and says in result.stderr and "without quotes" in result.stderr


def test_env_values_are_still_text(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "proj")
    assert load_settings(folder / "pyproject.toml", env={"MLGATES_KEEP_ENDPOINT": "1"}).keep_endpoint is True


@hsettings(max_examples=40, deadline=None)
@given(key=st.sampled_from(["tolerance", "absolute_tolerance"]),
       value=st.floats(min_value=0, max_value=0.9, allow_nan=False).map(repr) | st.sampled_from(["5%", "0,05", " 1"]))
def test_any_quoted_tolerance_is_refused(tmp_path_factory: pytest.TempPathFactory, key: str, value: str) -> None:
    folder = tmp_path_factory.mktemp("q")
    (folder / "pyproject.toml").write_text(f'[tool.mlgates]\nmodel_name = "m"\n{key} = {json.dumps(value)}\n')
    with pytest.raises(ConfigError, match="is quoted"):
        load_settings(folder / "pyproject.toml", env={})


@pytest.mark.parametrize("name", ["", "  ", "../../etc", "a/b", "..", "x\\\\y"])
def test_a_model_name_that_is_empty_or_escapes_the_state_folder_is_refused(tmp_path: Path, name: str) -> None:
    folder = write_project(tmp_path / "proj")
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('model_name = "m"', f"model_name = {json.dumps(name)}"))
    result = mlgates(folder, "status")
    assert result.returncode == 2 and "model_name" in result.stderr, result.stderr


def test_duplicate_keys_in_metrics_json_are_refused(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"val_mae": 3.0, "val_mae": 30.0}')
    with pytest.raises(ContractError, match="'val_mae' appears more than once"):
        read_metrics(tmp_path)


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=3), max_leaves=8)


@hsettings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(["val_mae", "r2", "validation_fingerprint", "x"]), json_values),
                      max_size=5))
def test_any_metrics_json_is_read_or_refused_clearly(tmp_path_factory: pytest.TempPathFactory, pairs: list) -> None:
    folder = tmp_path_factory.mktemp("metrics")
    body = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}"
    (folder / "metrics.json").write_text(body)
    try:
        metrics = read_metrics(folder)
    except ContractError as exc:
        assert "metrics.json" in str(exc)
        return
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)) and set(metrics) == set(keys)
    assert all(isinstance(v, float) for k, v in metrics.items() if k != "validation_fingerprint")


# -- a path option spelled with a space -----------------------------------------------------------
def test_a_path_option_with_a_space_keeps_the_project_configuration(pytester: pytest.Pytester, tmp_path: Path) -> None:
    write_project(pytester.path, top='tolerance = 0.07')
    other = tmp_path / "elsewhere" / "state"
    other.mkdir(parents=True)
    (tmp_path / "elsewhere" / "pyproject.toml").write_text("[tool.other]\n")  # a decoy ini file beside DIR
    pytester.makepyfile(test_gates="import pytest\n@pytest.mark.smoke\ndef test_a():\n    pass\n")
    spaced = pytester.runpytest_subprocess("--mlgates-state-dir", str(other))
    joined = pytester.runpytest_subprocess(f"--mlgates-state-dir={other}")
    for result in (spaced, joined):
        result.stdout.fnmatch_lines(["mlgates: *model=m,*tolerance=0.07*"])


def test_gate_tests_without_any_configuration_say_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gates="import pytest\n@pytest.mark.smoke\ndef test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*no [[]tool.mlgates] table was found*"])


# -- unbounded output ---------------------------------------------------------------------------------
def test_a_huge_log_line_is_capped_in_the_failure_message(pytester: pytest.Pytester) -> None:
    write_project(pytester.path)
    pytester.path.joinpath("train.py").write_text(
        "import sys\nsys.stdout.write('x' * 20_000_000 + '\\n'); sys.stdout.write('the real error\\n'); sys.exit(3)\n")
    pytester.makepyfile(test_gates=GATE)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "the real error" in out and "more bytes of this line cut" in out
    assert len(out.encode()) < 100_000


# -- serving: what the parser refuses is the client's fault ---------------------------------------
@pytest.mark.parametrize("body", [
    b'{"instances": [{"distance_km": ' + b"9" * 5000 + b"}]}",
    b'{"instances": ' + b"[" * 2900 + b"]" * 2900 + b"}",
])
def test_bodies_the_json_parser_refuses_are_400(server: str, body: bytes) -> None:  # noqa: F811
    response = requests.post(f"{server}/invocations", data=body, headers={"content-type": "application/json"},
                             timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "BadRequest"


# -- a lost promotion race says exactly that ------------------------------------------------------
def test_losing_a_promotion_race_to_the_same_version_says_so(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "state")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(b"m")
    registry.register("m", folder, {"val_mae": 1.0}, {})
    registry.promote("m", "1", None)  # the other run
    with pytest.raises(ConflictError, match="another run promoted this same version first"):
        registry.promote("m", "1", None)  # this run, which compared against no champion


def test_a_registry_locked_for_long_names_the_file(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "state", busy_timeout=0.3)
    holder = sqlite3.connect(registry.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StateError, match=r"registry.sqlite has been locked by another process for over 0.3 s"):
            registry.promote("m", "1", None)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- where an error came from ---------------------------------------------------------------------
def test_a_fixture_error_is_printed_once(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, extra="hyperparameters = { crash = 1 }\n")
    pytester.makepyfile(test_gates=GATE)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    # pytest's short summary repeats the whole message when it runs on CI (the CI
    # environment variable); what must not repeat is the report of the error itself
    report = out.split("short test summary info")[0]
    assert report.count("something went badly wrong") == 1, out
    assert "During handling of the above exception" not in out


def test_losing_a_promotion_race_says_so_through_the_shared_promotion(tmp_path: Path) -> None:
    from pytest_mlgates.adapters.local import LocalAdapter
    from pytest_mlgates.records import TrainingSpec
    from pytest_mlgates.release.ledger import record_stage
    from pytest_mlgates.release.promotion import promote_version

    folder = write_project(tmp_path / "proj")
    settings = load_settings(folder / "pyproject.toml", env={})
    adapter = LocalAdapter(settings)
    job = adapter.submit_training_job(TrainingSpec("m", "train.py", "data.csv", {}))
    adapter.wait_for_job(job.name, timeout=60, poll_interval=0.05)
    model = adapter.register_model("m", job.name, {"val_mae": 10.0})
    record_stage(adapter, model, "champion_gate", True, "c0ffee", "none")

    class Racing(LocalAdapter):
        """The other run's promotion lands between this run's checks and its compare-and-swap."""

        def promote(self, model_name, version, expected_champion, tags=None):  # type: ignore[no-untyped-def]
            LocalAdapter(settings).promote(model_name, version, expected_champion, tags)
            return super().promote(model_name, version, expected_champion, tags)

    with pytest.raises(ConflictError, match="another run promoted this same version first"):
        promote_version(Racing(settings), settings, model.version)
