"""Process-level behaviour: one training job under xdist, pytest-timeout interplay, light import."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time

import pytest

from conftest import TRAIN_SCRIPT

pytest_plugins = ["pytester"]

PYPROJECT = textwrap.dedent('''
    [tool.mlgates]
    model_name = "m"
    [tool.mlgates.training]
    entry_point = "train.py"
    data = "data.csv"
    timeout_minutes = {minutes}
    hyperparameters = {{ sleep = {sleep}, child = 1 }}
''')


def make_project(pytester: pytest.Pytester, tests: str, minutes: float = 1, sleep: float = 0.5) -> None:
    pytester.makefile(".toml", pyproject=PYPROJECT.format(minutes=minutes, sleep=sleep))
    pytester.path.joinpath("train.py").write_text(TRAIN_SCRIPT)
    pytester.path.joinpath("data.csv").write_text("x,y\n1,2\n")
    pytester.makepyfile(test_gates=tests)


def test_one_training_job_for_two_workers(pytester: pytest.Pytester) -> None:
    tests = "import pytest, os\n" + "".join(textwrap.dedent(f'''
        @pytest.mark.champion_gate
        def test_{i}(challenger, champion, training_job):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            open("seen-{i}.txt", "w").write(f"{{worker}} {{challenger.version}} {{training_job.name}}")
            assert champion is None
        ''') for i in range(6))
    make_project(pytester, tests)
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=6)
    jobs = list((pytester.path / ".mlgates" / "jobs").iterdir())
    assert len(jobs) == 1, f"expected one training job for the run, found {len(jobs)}"
    seen = [(pytester.path / f"seen-{i}.txt").read_text().split() for i in range(6)]
    assert {worker for worker, _, _ in seen} == {"gw0", "gw1"}
    assert {(version, job) for _, version, job in seen} == {("1", jobs[0].name)}
    from pytest_mlgates.adapters.local import LocalAdapter

    versions = LocalAdapter(state_dir=pytester.path / ".mlgates").list_model_versions("m")
    assert [v.version for v in versions] == ["1"]
    assert versions[0].tags["mlgates.gate.champion_gate"] == "passed"  # recorded once, by the controller


def test_default_timeout_comes_from_the_stage_deadline(pytester: pytest.Pytester) -> None:
    make_project(pytester, textwrap.dedent('''
        import pytest

        def show(request):
            mark = request.node.get_closest_marker("timeout")
            print("TIMEOUT", mark and mark.args, mark and mark.kwargs)

        @pytest.mark.champion_gate
        def test_default(request):
            show(request)

        @pytest.mark.champion_gate
        @pytest.mark.timeout(7)
        def test_explicit(request):
            show(request)

        def test_plain(request):
            show(request)
    '''), minutes=3)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=3)
    # 3 minutes of training deadline + 120 s margin, with the signal method so teardown still runs.
    result.stdout.fnmatch_lines(["*TIMEOUT (300.0,) {'method': 'signal'}", "*TIMEOUT (7,) {}", "*TIMEOUT None None"])
    result = pytester.runpytest("-s", "--timeout", "9")  # an explicit --timeout wins: no marker is added
    result.stdout.fnmatch_lines(["*TIMEOUT None None", "*TIMEOUT (7,) {}", "*TIMEOUT None None"])


def test_pytest_timeout_fails_a_stalled_job_and_teardown_cancels_it(pytester: pytest.Pytester) -> None:
    make_project(pytester, textwrap.dedent('''
        import pytest

        @pytest.mark.champion_gate
        def test_stalls(training_job):
            pass
    '''), minutes=30, sleep=600)
    result = pytester.runpytest_subprocess("--timeout", "3")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Timeout (>3.0s)*"])
    (job_dir,) = list((pytester.path / ".mlgates" / "jobs").iterdir())
    assert (job_dir / "cancelled").exists()
    child = int((job_dir / "model" / "child.pid").read_text())
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the training script's child outlived the cancelled job")


def test_own_deadline_cancels_with_log_tail(pytester: pytest.Pytester) -> None:
    make_project(pytester, textwrap.dedent('''
        import pytest

        @pytest.mark.champion_gate
        def test_stalls(training_job):
            pass
    '''), minutes=0.02, sleep=600)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*did not finish within 1.2 s*it was cancelled*", "*training on*"])


HEAVY = ["boto3", "azure.ai.ml", "google.cloud.aiplatform", "locust", "sklearn", "pandas", "scipy", "uvicorn"]


def test_collect_only_of_an_unrelated_suite_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unrelated="def test_a():\n    assert 1 + 1 == 2\n")
    pytester.makeconftest(textwrap.dedent(f'''
        import json, sys
        def pytest_sessionfinish(session):
            heavy = [m for m in {HEAVY!r} if m in sys.modules]
            plugins = [name for name, _ in session.config.pluginmanager.list_name_plugin()]
            open("modules.json", "w").write(json.dumps({{"heavy": heavy, "plugins": plugins}}))
    '''))
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    assert result.ret == 0
    data = json.loads((pytester.path / "modules.json").read_text())
    assert "mlgates" in data["plugins"], "the plugin was not loaded, so this test proves nothing"
    assert data["heavy"] == []
