"""Each cloud's own open-source runtime, run here as the referee of what an adapter submits.

The runtimes live in venvs of their own under ``.venv-referees/`` (``make referees``;
``make test`` builds them and sets ``MLGATES_REFEREES=required``, so a missing one
fails CI instead of skipping).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFEREES = ROOT / ".venv-referees"


def referee_python(name: str) -> Path:
    """The interpreter of referee venv ``name``; skips (or fails, under ``make test``) when it is missing."""
    python = REFEREES / name / "bin" / "python"
    if not python.exists():
        message = f"the {name} referee is not installed in {python.parent.parent}: run `make referees`"
        if os.environ.get("MLGATES_REFEREES") == "required":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return python


def run_with_mounts(mounts: dict[str, Path], argv: list[str], env: dict[str, str], timeout: float = 120.0,
                    own_network: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a private mount namespace where each target path shows its source.

    The cloud toolkits hard-code ``/opt/ml`` (and the paths our adapters send point
    there) and expect the hosts file a cloud writes; a private namespace gives them
    that layout without touching the host's /opt or /etc/hosts. With ``own_network``
    the command also gets a network namespace of its own whose only interface is
    loopback: a container's server may bind 0.0.0.0 there and nothing outside sees it.
    """
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        message = "a private mount namespace needs root and util-linux's unshare"
        if os.environ.get("MLGATES_REFEREES") == "required":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    binds = " && ".join(f'mount --bind "{source}" "{target}"' for target, source in mounts.items())
    flags = ["-m", "--propagation", "private"] + (["-n"] if own_network else [])
    lo = "ip link set lo up && " if own_network else ""
    return subprocess.run([unshare, *flags, "sh", "-c", f'{lo}{binds} && exec "$@"', "sh", *argv],
                          env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
