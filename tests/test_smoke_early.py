"""The PR stage in seconds (issue 14): the smoke sample without pandas, training started before collection."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from pytest_mlgates.fixtures.core import deterministic_sample
from pytest_mlgates.fixtures.smoke import selects_smoke
from pytest_mlgates.sampling import SampleError, sample_indices, write_csv_sample

from conftest import process_running

TRICKY_CSV = textwrap.dedent('''\
    id,name,price,note
    1,"Smith, J",1.5,plain
    2,"multi
    line",2.25,"say ""hi"""

    3,,3.0,
    4,x,1e-3,"a,b,c"
    5,é,0.1,last
''')


@pytest.mark.parametrize("total, rows, seed", [(1000, 50, 0), (1000, 999, 7), (40, 40, 0), (30, 500, 1)])
def test_the_sample_is_the_one_pandas_would_draw(tmp_path: Path, total: int, rows: int, seed: int) -> None:
    source = tmp_path / "data.csv"
    frame = pd.DataFrame({"i": range(total), "x": [f"{i * 0.37:.4f}" for i in range(total)],
                          "label": [f"c{i % 3}" for i in range(total)]})
    frame.to_csv(source, index=False)
    written = write_csv_sample(source, tmp_path / "sample.csv", rows, seed)
    ours = pd.read_csv(tmp_path / "sample.csv")
    expected = deterministic_sample(pd.read_csv(source), rows, seed)
    assert written == len(expected) == min(total, rows)
    pd.testing.assert_frame_equal(ours, expected)


def test_quoted_fields_blank_lines_and_a_bom_survive_as_pandas_reads_them(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"\xef\xbb\xbf" + TRICKY_CSV.encode())
    assert write_csv_sample(source, tmp_path / "sample.csv", 3, 0) == 3
    ours = pd.read_csv(tmp_path / "sample.csv")
    expected = deterministic_sample(pd.read_csv(source), 3, 0)
    pd.testing.assert_frame_equal(ours, expected)
    assert list(ours.columns) == ["id", "name", "price", "note"]


def test_indices_match_pandas_and_bad_files_say_what_to_do(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(200)})
    assert sample_indices(200, 20, 3) == sorted(frame.sample(n=20, random_state=3).index.tolist())
    with pytest.raises(FileNotFoundError, match="set \\[tool.mlgates.training\\] data"):
        write_csv_sample(tmp_path / "missing.csv", tmp_path / "s.csv", 5, 0)
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(SampleError, match="needs a header row"):
        write_csv_sample(tmp_path / "empty.csv", tmp_path / "s.csv", 5, 0)


@pytest.mark.parametrize("expr, selected", [
    ("smoke", True), ("smoke and not slow", True), ("(smoke or champion_gate)", True),
    ("not smoke", False), ("champion_gate", False), ("not slow", False), ("", False),
    ("smoke and champion_gate", False), ("smokey", False), ("smoke and (", False),
])
def test_early_start_only_when_the_expression_selects_smoke_tests(expr: str, selected: bool) -> None:
    assert selects_smoke(expr) is selected


MODEL_MODULE = textwrap.dedent('''
    import numpy as np

    class Slope:
        """y = slope * x, fitted by least squares: beats the mean on a linear target."""
        def __init__(self, slope):
            self.slope = slope
        def predict(self, rows):
            return rows["x"].to_numpy() * self.slope
''')

# Logs when it started and on which file, sleeps --sleep seconds, fits a slope, writes the contract files.
TRAIN = textwrap.dedent('''
    import argparse, csv, json, os, time
    import joblib
    from slope import Slope
    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--model-dir"); p.add_argument("--sleep", type=float, default=0)
    a = p.parse_args()
    with open(os.environ["SMOKE_LOG"], "a") as log:
        log.write(json.dumps({"event": "train", "at": time.time(), "data": a.data, "pid": os.getpid()}) + "\\n")
    time.sleep(a.sleep)
    rows = list(csv.DictReader(open(a.data)))
    xs = [float(r["x"]) for r in rows]; ys = [float(r["y"]) for r in rows]
    slope = sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs)
    joblib.dump(Slope(slope), os.path.join(a.model_dir, "model.joblib"))
    json.dump({"val_mae": 1.0, "rows": len(rows)}, open(os.path.join(a.model_dir, "metrics.json"), "w"))
''')

GATES = textwrap.dedent('''
    import json, os, time
    import pytest
    from pytest_mlgates.gates import assert_beats_baseline

    with open(os.environ["SMOKE_LOG"], "a") as log:
        log.write(json.dumps({"event": "collect", "at": time.time()}) + "\\n")

    @pytest.mark.smoke
    def test_smoke(smoke_model, smoke_sample):
        assert smoke_model.metrics["rows"] == len(smoke_sample)
        assert_beats_baseline(smoke_model, smoke_sample)
''')


def smoke_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sleep: float = 0.0,
                  rows: int = 2000) -> Path:
    log = pytester.path / "events.jsonl"
    monkeypatch.setenv("SMOKE_LOG", str(log))
    pytester.makepyprojecttoml(textwrap.dedent(f'''
        [tool.mlgates]
        model_name = "m"
        [tool.mlgates.training]
        entry_point = "train.py"
        data = "data.csv"
        target = "y"
        smoke_rows = 100
        timeout_minutes = 2
        smoke_hyperparameters = {{ sleep = {sleep} }}
    '''))
    (pytester.path / "slope.py").write_text(MODEL_MODULE)
    (pytester.path / "train.py").write_text(TRAIN)
    (pytester.path / "data.csv").write_text("x,y\n" + "".join(f"{i},{3 * i + i % 7}\n" for i in range(1, rows + 1)))
    return log


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_with_m_smoke_training_starts_before_the_tests_are_collected(pytester, monkeypatch) -> None:
    log = smoke_project(pytester, monkeypatch, sleep=1.0)
    # Collection waits up to 20 s for the training to have started: it only can if it started first.
    wait = ("deadline = time.time() + 20\n"
            "while time.time() < deadline and not (os.path.exists(os.environ['SMOKE_LOG'])\n"
            "                                      and 'train' in open(os.environ['SMOKE_LOG']).read()):\n"
            "    time.sleep(0.05)\n")
    pytester.makepyfile(test_gates=GATES.replace("with open(", wait + "with open(", 1))
    result = pytester.runpytest_subprocess("-m", "smoke", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    seen = events(log)
    assert [e["event"] for e in seen] == ["train", "collect"]
    assert Path(seen[0]["data"]).name == "smoke_sample.csv"
    assert not Path(seen[0]["data"]).parent.exists(), "the smoke run's folder outlived the session"
    result.stdout.fnmatch_lines(["*smoke gate passed*"])


def test_without_m_smoke_the_training_starts_when_a_test_needs_it(pytester, monkeypatch) -> None:
    log = smoke_project(pytester, monkeypatch)
    pytester.makepyfile(test_gates=GATES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert [e["event"] for e in events(log)] == ["collect", "train"]


def test_an_early_run_nobody_uses_is_cancelled_and_removed(pytester, monkeypatch) -> None:
    log = smoke_project(pytester, monkeypatch, sleep=120.0)
    # the unit test waits (up to 20 s, for a loaded machine) until the unused training has started
    pytester.makepyfile(test_other="import os, time, pytest\n@pytest.mark.smoke\ndef test_unit():\n"
                                   "    deadline = time.time() + 20\n"
                                   "    while time.time() < deadline and not (os.path.exists(os.environ['SMOKE_LOG'])\n"
                                   "            and 'train' in open(os.environ['SMOKE_LOG']).read()):\n"
                                   "        time.sleep(0.05)\n")
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-m", "smoke", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert time.monotonic() - started < 60, "the session waited for a training nobody needed"
    (train,) = events(log)
    assert not process_running(train["pid"]), "the unused smoke training outlived the session"
    assert not Path(train["data"]).parent.exists()


def test_a_projects_own_smoke_sample_is_what_gets_trained_on(pytester, monkeypatch) -> None:
    log = smoke_project(pytester, monkeypatch)
    pytester.makeconftest(textwrap.dedent('''
        import pandas as pd, pytest

        @pytest.fixture(scope="session")
        def smoke_sample():
            return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                                 "y": [3.1, 6.0, 9.2, 11.9, 15.0, 18.1, 21.0, 24.2, 27.0, 29.8]})
    '''))
    pytester.makepyfile(test_gates=GATES)
    result = pytester.runpytest_subprocess("-m", "smoke", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)  # the test asserts metrics["rows"] == len(smoke_sample) == 10
    trained = [e for e in events(log) if e["event"] == "train"]
    assert Path(trained[-1]["data"]).name == "smoke_sample_override.csv"
