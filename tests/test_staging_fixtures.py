"""Stage 3 end to end: pytest runs of a user project using staging_endpoint, load_test and shadow_test.

Each run is a real pytest subprocess with the mlgates plugin, a local
registry holding real scikit-learn models, real endpoint processes and real
locust load. After every run no process of the run may be left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.serving.demo import demo_rows, train_demo_model
from conftest import processes_mentioning

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = """
[tool.mlgates]
model_name = "eta"

[tool.mlgates.training]
data = "rows.csv"
target = "eta_minutes"

[tool.mlgates.load]
users = 4
spawn_rate = 50
duration = 3
ready_timeout = {ready_timeout}

[tool.mlgates.shadow]
rows = 120
margin = 1.0
"""

CONFTEST = 'pytest_plugins = ["pytest_mlgates.fixtures.staging"]\n'




def make_project(folder: Path, ready_timeout: float = 60) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(PYPROJECT.format(ready_timeout=ready_timeout))
    (folder / "conftest.py").write_text(CONFTEST)
    demo_rows(300, seed=9).to_csv(folder / "rows.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user project whose registry holds eta:1 (champion), eta:2 (close to it) and eta:3 (shifted by 5)."""
    folder = make_project(tmp_path_factory.mktemp("project"))
    adapter = LocalAdapter(state_dir=folder / ".mlgates")
    models = tmp_path_factory.mktemp("models")
    for name, kwargs in (("v1", {"seed": 1}), ("v2", {"seed": 1, "target_shift": 0.2}),
                         ("v3", {"seed": 1, "target_shift": 5.0})):
        adapter.registry.register("eta", train_demo_model(models / name, **kwargs), {"val_mae": 2.0}, {})
    adapter.promote("eta", "1", None)
    yield folder
    for name in adapter.endpoints.names():
        adapter.delete_endpoint(name)
    assert processes_mentioning(str(folder)) == []


def run_pytest(folder: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in list(env):
        if key.startswith(("MLGATES_", "PYTEST_XDIST", "PYTEST_ADDOPTS")) or key == "ML_PLATFORM":
            env.pop(key)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "-rA", "-q", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def outcomes(run: subprocess.CompletedProcess[str]) -> str:
    return run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr


PASSING = '''
import joblib, pandas as pd, pytest
from pytest_mlgates.gates import assert_slo, assert_shadow_agreement

@pytest.mark.load_gate
def test_load(staging_endpoint, load_test):
    result = load_test(staging_endpoint, duration=20, max_requests=400)
    assert result.requests == 400
    assert_slo(result, p99_ms=2000, max_error_rate=0.05)

def test_predict_returns_one_prediction_per_row_in_order(staging_endpoint, ml_platform, candidate_version):
    rows = pd.read_csv("rows.csv").drop(columns=["eta_minutes"]).iloc[::-1].head(37)
    model = joblib.load(ml_platform.model_path(candidate_version) / "model.joblib")
    assert staging_endpoint.predict(rows) == pytest.approx(list(model.predict(rows)), rel=1e-9)
    assert staging_endpoint.deployment == "v2" and staging_endpoint.created
    assert staging_endpoint.url.startswith("http://127.0.0.1:")
    with open("endpoint.txt", "w") as fh:
        fh.write(staging_endpoint.name)

@pytest.mark.shadow_gate
def test_shadow(champion_endpoint, staging_endpoint, shadow_test):
    result = shadow_test(champion_endpoint, staging_endpoint)
    assert result.rows == 120 and result.champion_id == "eta:1" and result.challenger_id == "eta:2"
    assert_shadow_agreement(result)
'''


def test_stage3_passes_for_a_close_candidate_and_leaves_nothing(project: Path) -> None:
    (project / "test_stage3.py").write_text(PASSING)
    run = run_pytest(project, "test_stage3.py", "--mlgates-model-version", "2", "--mlgates-report", "report.json")
    assert "3 passed" in outcomes(run), run.stdout + run.stderr
    assert "load gate passed" in run.stdout or "load" in run.stdout
    charts = json.loads((project / "report.json").read_text())["charts"]  # the step summary's histogram
    (histogram,) = [c for c in charts if c["kind"] == "latency_histogram"]
    assert sum(histogram["counts"]) == histogram["requests"] == 400 and histogram["threshold_ms"] == 500.0
    name = (project / "endpoint.txt").read_text()
    assert name.startswith("eta-staging-")
    assert processes_mentioning(str(project)) == []
    assert list((project / ".mlgates" / "endpoints").glob("*/endpoint.json")) == []


FAILING = '''
import pandas as pd, pytest
from pytest_mlgates.gates import assert_slo, assert_shadow_agreement

def _faults(platform, endpoint, **faults):
    platform.endpoints.set_faults(endpoint.name, endpoint.deployment, **faults)

@pytest.mark.load_gate
def test_latency(staging_endpoint, load_test, ml_platform):
    _faults(ml_platform, staging_endpoint, latency_ms=150, latency_fraction=0.5)
    try:
        result = load_test(staging_endpoint, users=4, duration=1.5)
    finally:
        _faults(ml_platform, staging_endpoint, latency_ms=0, latency_fraction=1)
    assert_slo(result, p99_ms=100, max_error_rate=0.05)

@pytest.mark.load_gate
def test_errors(staging_endpoint, load_test, ml_platform):
    _faults(ml_platform, staging_endpoint, error_rate=0.3)
    try:
        result = load_test(staging_endpoint, users=4, duration=1.5)
    finally:
        _faults(ml_platform, staging_endpoint, error_rate=0)
    assert_slo(result, p99_ms=2000, max_error_rate=0.01)

@pytest.mark.load_gate
def test_too_few_requests(staging_endpoint, load_test):
    assert_slo(load_test(staging_endpoint, max_requests=60, duration=20), p99_ms=2000)

@pytest.mark.shadow_gate
def test_shadow(champion_endpoint, staging_endpoint, shadow_test):
    rows = pd.read_csv("rows.csv").head(40)
    assert_shadow_agreement(shadow_test(champion_endpoint, staging_endpoint, rows))
'''


def test_stage3_gates_fail_on_latency_errors_small_samples_and_disagreement(project: Path) -> None:
    (project / "test_failing.py").write_text(FAILING)
    run = run_pytest(project, "test_failing.py", "--mlgates-model-version", "3")
    out = run.stdout
    assert "4 failed" in outcomes(run), out + run.stderr
    assert "load gate FAILED" in out and "p99" in out and "is not below the 100 ms threshold" in out
    assert "HTTP 500 InjectedFault x" in out and "is not below 1%" in out
    assert "load gate INCONCLUSIVE (fails closed)" in out and "at least 299 requests" in out
    assert "shadow gate FAILED for challenger eta:3 vs champion eta:1" in out
    assert processes_mentioning(str(project)) == []


KEEP = '''
def test_deploy(staging_endpoint):
    assert staging_endpoint.name == "eta-staging-v2"
    assert len(staging_endpoint.predict([{"distance_km": 2.0, "items": 1, "hour": 12, "zone": "north"}])) == 1
'''

ATTACH = '''
def test_attach(staging_endpoint):
    assert not staging_endpoint.created and staging_endpoint.name == "eta-staging-v2"
    assert len(staging_endpoint.predict([{"distance_km": 2.0, "items": 1, "hour": 12, "zone": "north"}])) == 1
'''


def test_a_kept_endpoint_is_handed_on_to_a_later_run(project: Path) -> None:
    (project / "test_keep.py").write_text(KEEP)
    (project / "test_attach.py").write_text(ATTACH)
    adapter = LocalAdapter(state_dir=project / ".mlgates")
    try:
        kept = run_pytest(project, "test_keep.py", "--mlgates-model-version", "2", "--mlgates-keep-endpoint")
        assert "1 passed" in outcomes(kept), kept.stdout + kept.stderr
        endpoint = adapter.get_endpoint("eta-staging-v2")  # still running after its run ended
        attached = run_pytest(project, "test_attach.py", "--mlgates-endpoint", "eta-staging-v2")
        assert "1 passed" in outcomes(attached), attached.stdout + attached.stderr
        assert adapter.get_endpoint("eta-staging-v2") == endpoint  # attaching never deletes
    finally:
        if "eta-staging-v2" in adapter.endpoints.names():
            adapter.delete_endpoint("eta-staging-v2")
    assert processes_mentioning(str(project)) == []


def test_an_unreachable_endpoint_fails_with_its_url_and_last_error(tmp_path: Path) -> None:
    import socket

    folder = make_project(tmp_path / "p", ready_timeout=1)
    (folder / "test_x.py").write_text("def test_x(staging_endpoint):\n    pass\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = run_pytest(folder, "test_x.py", "--mlgates-endpoint", f"http://127.0.0.1:{port}")
    assert "1 error" in outcomes(run), run.stdout + run.stderr
    assert f"http://127.0.0.1:{port} was not healthy after 1 s" in run.stdout
    assert "last error: ConnectionError" in run.stdout and "ready_timeout" in run.stdout


def test_ctrl_c_leaves_no_process_behind(project: Path) -> None:
    (project / "test_hang.py").write_text(textwrap.dedent('''
        import time
        def test_hang(staging_endpoint):
            with open("up.txt", "w") as fh:
                fh.write(staging_endpoint.url)
            time.sleep(120)
    '''))
    up = project / "up.txt"
    up.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLGATES_", "PYTEST_XDIST"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_hang.py",
                             "--mlgates-model-version", "2"], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not up.exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the endpoint never came up"
            time.sleep(0.1)
        assert processes_mentioning(str(project / ".mlgates")) != []
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in out
    assert processes_mentioning(str(project / ".mlgates")) == []
    assert list((project / ".mlgates" / "endpoints").glob("*/endpoint.json")) == []


SHARED = '''
import pytest

@pytest.mark.parametrize("i", range(4))
def test_shared(staging_endpoint, i):
    with open(f"url-{i}.txt", "w") as fh:
        fh.write(staging_endpoint.url)
'''


def test_xdist_workers_share_one_endpoint(project: Path) -> None:
    pytest.importorskip("xdist")
    (project / "test_shared.py").write_text(SHARED)
    run = run_pytest(project, "test_shared.py", "-n", "2", "--mlgates-model-version", "2")
    assert "4 passed" in outcomes(run), run.stdout + run.stderr
    urls = {(project / f"url-{i}.txt").read_text() for i in range(4)}
    assert len(urls) == 1  # deployed once, not once per worker
    assert processes_mentioning(str(project)) == []
    assert list((project / ".mlgates" / "endpoints").glob("*/endpoint.json")) == []


def test_the_fixture_module_imports_nothing_heavy() -> None:
    code = ("import sys, pytest_mlgates.fixtures.staging, pytest_mlgates.loadtest, pytest_mlgates.serving; "
            "heavy = [m for m in ('pandas', 'locust', 'gevent', 'uvicorn', 'starlette', 'scipy', 'sklearn', "
            "'httpx') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"
