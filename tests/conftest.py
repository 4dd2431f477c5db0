"""Shared test helpers: small training scripts and projects written into tmp folders."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "delivery_eta"

# A training script obeying the contract, with knobs through hyperparameters:
# --val_mae sets the metric, --sleep stalls, --crash fails, --no_metrics skips metrics.json,
# --bad_metrics writes a malformed one, --child spawns a grandchild that sleeps, --daemon one that
# leaves the script's session by setsid and a double fork, --model_kind writes a broken model.
TRAIN_SCRIPT = textwrap.dedent('''
    import argparse, json, os, subprocess, sys, time

    def write_model(model_dir, kind, value):
        # --model_kind: joblib (a real, tiny model), pickle (model.pkl only), notmodel, garbage, missing,
        # hostile (kills its loader on load), wrongcount (predicts the wrong number of rows)
        path = os.path.join(model_dir, "model.joblib")
        if kind in ("joblib", "notmodel", "hostile", "wrongcount"):
            import joblib
            from pytest_mlgates.serving.demo import ConstantModel
            obj = {"joblib": ConstantModel(value), "notmodel": {"weights": [1, 2]},
                   "hostile": Hostile(), "wrongcount": WrongCount()}[kind]
            joblib.dump(obj, path)
        elif kind == "pickle":
            import pickle
            from pytest_mlgates.serving.demo import ConstantModel
            pickle.dump(ConstantModel(value), open(os.path.join(model_dir, "model.pkl"), "wb"))
        elif kind == "garbage":
            open(path, "wb").write(b"not a model at all")

    class Hostile:
        def __reduce__(self):
            return (eval, ("__import__('os').kill(__import__('os').getpid(), 9)",))

    class WrongCount:
        def __reduce__(self):
            return (eval, ("type('W', (), {'predict': lambda self, rows: []})()",))
    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--model-dir")
    p.add_argument("--val_mae", type=float, default=10.0)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--crash", type=int, default=0)
    p.add_argument("--no_metrics", type=int, default=0)
    p.add_argument("--bad_metrics", type=int, default=0)
    p.add_argument("--child", type=int, default=0)
    p.add_argument("--fingerprint", default="")
    p.add_argument("--model_kind", default="joblib")
    p.add_argument("--daemon", type=int, default=0)
    a = p.parse_args()
    print("training on", a.data, flush=True)
    if a.child:
        c = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(os.path.join(a.model_dir, "child.pid"), "w").write(str(c.pid))
    if a.daemon:
        # a daemon: new session, double fork; the grandchild records its pid and sleeps
        code = ("import os, sys, time; os.setsid(); pid = os.fork()\\n"
                "if pid: os._exit(0)\\n"
                "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)")
        subprocess.Popen([sys.executable, "-c", code, os.path.join(a.model_dir, "daemon.pid")]).wait()
    time.sleep(a.sleep)
    if a.crash:
        print("something went badly wrong", flush=True)
        sys.exit(3)
    write_model(a.model_dir, a.model_kind, a.val_mae)
    if a.bad_metrics:
        open(os.path.join(a.model_dir, "metrics.json"), "w").write('{"val_mae": "oops"}')
    elif not a.no_metrics:
        m = {"val_mae": a.val_mae}
        if a.fingerprint:
            m["validation_fingerprint"] = a.fingerprint
        json.dump(m, open(os.path.join(a.model_dir, "metrics.json"), "w"))
''')


@pytest.fixture
def train_script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(TRAIN_SCRIPT)
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    return path


def write_project(folder: Path, top: str = "", extra: str = "", script: bool = True) -> Path:
    """A project folder whose pyproject.toml has ``top`` keys in ``[tool.mlgates]`` and ``extra`` tables."""
    folder.mkdir(parents=True, exist_ok=True)
    if script:
        (folder / "train.py").write_text(TRAIN_SCRIPT)
        (folder / "data.csv").write_text("x,y\n1,2\n")
    base = textwrap.dedent('''
        [tool.mlgates]
        model_name = "m"
        {top}
        [tool.mlgates.training]
        entry_point = "train.py"
        data = "data.csv"
        timeout_minutes = 2
    ''')
    (folder / "pyproject.toml").write_text(base.replace("{top}", textwrap.dedent(top)) + textwrap.dedent(extra))
    return folder


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A private copy of examples/delivery_eta (its registry state starts empty)."""
    target = tmp_path / "delivery_eta"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mlgates", "__pycache__", ".pytest_cache"))
    return target


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a running process; a zombie (dead, not yet reaped) is not."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_mentioning(marker: str) -> list[int]:
    """Running processes other than this one whose command line contains ``marker``: orphan checks."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and process_running(int(proc.name)):
            found.append(int(proc.name))
    return found
