"""bench/run_all.py (what `make bench` runs): finds every bench_*.py, runs each, reports a table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "bench" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_in_the_repository_is_found(run_all):
    names = [p.name for p in run_all.discover()]
    assert names == sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))
    assert "bench_core.py" in names and "run_all.py" not in names
    assert set(run_all.QUICK_ARGS) <= set(names), "a --quick entry names a script that does not exist"


def test_runs_each_script_and_tables_status_and_last_line(run_all, tmp_path, capsys):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench_good.py").write_text("import sys\nprint('warming up')\nprint('result: 1.5 s', sys.argv[1:])\n")
    (bench / "bench_bad.py").write_text("print('half way')\nraise SystemExit(3)\n")
    (bench / "helper.py").write_text("raise SystemExit('not a benchmark, never run')\n")
    code = run_all.main([], folder=bench)
    out = capsys.readouterr().out
    assert code == 1
    assert "[bench_good] warming up" in out
    assert "| bench_good.py | ok |" in out and "result: 1.5 s []" in out
    assert "| bench_bad.py | FAILED (exit 3) |" in out and "half way" in out
    assert "not a benchmark" not in out


def test_only_selects_and_unknown_selection_is_an_error(run_all, tmp_path, capsys):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench_a.py").write_text("print('a ran')\n")
    (bench / "bench_b.py").write_text("raise SystemExit(1)\n")
    assert run_all.main(["--only", "a"], folder=bench) == 0
    assert "a ran" in capsys.readouterr().out
    assert run_all.main(["--only", "zzz"], folder=bench) == 2
    assert "no benchmark matches 'zzz'" in capsys.readouterr().err


def test_long_last_lines_are_cut_and_pipes_escaped(run_all):
    text = run_all.table([run_all.Outcome("bench_x.py", 0, 2.0, "a|b " + "x" * 200)], width=20)
    row = text.splitlines()[-1]
    assert "a/b" in row and row.endswith("... |") and "x" * 30 not in row
