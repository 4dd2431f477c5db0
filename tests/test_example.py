"""End to end: the example project's smoke stage and champion gate, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    if "GITHUB_OUTPUT" not in env:
        environment.pop("GITHUB_OUTPUT", None)
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_smoke_stage(example_copy: Path) -> None:
    result = run([sys.executable, "-m", "pytest", "-m", "smoke", "-p", "no:cacheprovider"], example_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout and "smoke gate passed" in result.stdout
    assert not (example_copy / ".mlgates").exists()  # no registry, no job state: the smoke stage is throwaway


def test_champion_gate_promotes_a_good_challenger_and_blocks_a_worse_one(example_copy: Path, tmp_path: Path) -> None:
    pytest_cmd = [sys.executable, "-m", "pytest", "-m", "champion_gate", "-p", "no:cacheprovider"]
    first = run(pytest_cmd, example_copy, GITHUB_OUTPUT=str(tmp_path / "out1"))
    assert first.returncode == 0, first.stdout
    assert outputs(tmp_path / "out1")["should_promote"] == "true"
    version = outputs(tmp_path / "out1")["model_version"]
    promoted = run([str(BIN / "mlgates"), "promote", "--model-version", version], example_copy)
    assert promoted.returncode == 0, promoted.stderr

    worse = run([*pytest_cmd, "--mlgates-hyperparameter", "label_noise=0.3"], example_copy,
                GITHUB_OUTPUT=str(tmp_path / "out2"))
    assert worse.returncode == 1, worse.stdout
    out2 = outputs(tmp_path / "out2")
    assert out2["should_promote"] == "false" and out2["model_version"] == "2"
    assert float(out2["challenger_val_mae"]) > 1.05 * float(out2["champion_val_mae"])

    refused = run([str(BIN / "mlgates"), "promote", "--model-version", "2"], example_copy)
    assert refused.returncode == 1 and "champion_gate is failed" in refused.stderr

    status = json.loads(run([str(BIN / "mlgates"), "status", "--json"], example_copy).stdout)
    assert status["champion"] == version
    assert [(v["version"], v["ledger"]) for v in status["versions"]] == [
        ("1", {"champion_gate": "passed"}), ("2", {"champion_gate": "failed"})]
