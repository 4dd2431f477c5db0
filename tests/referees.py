"""Each cloud's own open-source runtime, run here as the referee of what an adapter submits.

The runtimes live in venvs of their own under ``.venv-referees/`` (``make referees``;
``make test`` builds them and sets ``MLGATES_REFEREES=required``, so a missing one
fails CI instead of skipping).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    steps = (["ip link set lo up"] if own_network else []) + [
        f'mount --bind "{source}" "{target}"' for target, source in mounts.items()]
    flags = ["-m", "--propagation", "private"] + (["-n"] if own_network else [])
    return subprocess.run([unshare, *flags, "sh", "-c", " && ".join([*steps, 'exec "$@"']), "sh", *argv],
                          env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# Run inside the namespace: the server exactly as its container starts it, then one
# request once the health route answers; the response body goes to stdout.
_DRIVER = """\
import json, os, signal, subprocess, sys, tempfile, time, urllib.error, urllib.request
argv, health, predict, bodies = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
log = tempfile.TemporaryFile(mode="w+")  # not a pipe: a server's workers would hold it open
server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)

def stop(sig):
    try:
        os.killpg(server.pid, sig)  # the server and every worker it started
    except ProcessLookupError:
        pass

try:
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(health, timeout=1).read()
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                stop(signal.SIGKILL)
                log.seek(0)
                sys.exit("the server never answered " + health + ":\\n" + log.read()[-4000:])
            time.sleep(0.1)
    answers = []
    for body in bodies:
        request = urllib.request.Request(predict, data=body.encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answers.append([response.status, response.read().decode()])
        except urllib.error.HTTPError as exc:
            answers.append([exc.code, exc.read().decode()])
    print(json.dumps(answers))
finally:
    stop(signal.SIGTERM)
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        stop(signal.SIGKILL)
"""


def ask_container(argv: list[str], env: dict[str, str], mounts: dict[str, Path], health: str, predict: str,
                  *bodies: Any, timeout: float = 180.0) -> list[tuple[int, str]]:
    """Start a serving container's command in a namespace of its own and send it each body in turn.

    Returns (HTTP status, body) per request; fails the test with the server's output
    when it never became healthy.
    """
    texts = [b if isinstance(b, str) else json.dumps(b) for b in bodies]
    result = run_with_mounts(mounts, [sys.executable, "-c", _DRIVER, json.dumps(argv), health, predict,
                                      json.dumps(texts)], env, timeout=timeout, own_network=True)
    if result.returncode != 0:
        pytest.fail(f"the server did not answer:\n{result.stdout[-4000:]}{result.stderr[-4000:]}", pytrace=False)
    return [(status, body) for status, body in json.loads(result.stdout.strip().splitlines()[-1])]
