"""A user project whose promotion gate runs the rollout on a cloud platform (the rollout tests of each cloud)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
USERS = 3
ENDPOINT = "eta-prod"

PROMOTION_TEST = '''
import json
import pytest

@pytest.mark.promotion_gate
def test_rollout(rollout):
    verdict = rollout.run()
    print("STEPS", json.dumps(verdict.figures["steps"]))
'''


def write_rollout_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, platform: str,
                          table: Mapping[str, Any]) -> Path:
    """The project's files, with short rollout settings and ``[tool.mlgates.<platform>]`` set to ``table``;
    ML_PLATFORM is ``platform`` and the working folder is the project."""
    root = pytester.path
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text("print('training')\n")
    (root / "data.csv").write_text("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(1, 41)))
    pytester.makepyfile(test_promotion=PROMOTION_TEST)
    settings = "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items())
    (root / "pyproject.toml").write_text(
        '[tool.mlgates]\nmodel_name = "eta"\n\n[tool.mlgates.training]\nentry_point = "src/train.py"\n'
        'data = "data.csv"\ntarget = "y"\n\n'
        f'[tool.mlgates.rollout]\nsteps = [10, 50, 100]\nbake_seconds = 1.5\nusers = {USERS}\n'
        f'p99_ms = 2000\nmax_error_rate = 0.01\nendpoint = "{ENDPOINT}"\n\n'
        f'[tool.mlgates.{platform}]\n{settings}\n')
    monkeypatch.setenv("ML_PLATFORM", platform)
    monkeypatch.chdir(root)
    return root
