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
from collections.abc import Mapping
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


def _serving_env(home: Path, variables: Mapping[str, str]) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(home), "NO_GCE_CHECK": "true", "NO_PROXY": "*", **variables}


def ask_azureml(home: Path, code: Path, entry_script: str, model_root: Path, variables: Mapping[str, str],
                *bodies: Any) -> list[tuple[int, str]]:
    """POST each body to azureml-inference-server-http serving ``code``/``entry_script`` as a managed online
    deployment's container runs it (azmlinfsrv on 0.0.0.0:5001), with the deployment's environment
    ``variables`` and the registered model mounted under ``model_root`` (AZUREML_MODEL_DIR)."""
    server = referee_python("azureml-inference").parent / "azmlinfsrv"
    env = {**_serving_env(home, variables), "AZUREML_MODEL_DIR": str(model_root), "AML_APP_ROOT": str(code),
           "AZUREML_ENTRY_SCRIPT": entry_script, "GUNICORN_CMD_ARGS": "--no-control-socket"}
    argv = [str(server), "--entry_script", str(code / entry_script), "--model_dir", str(model_root), "--port", "5001"]
    return ask_container(argv, env, {}, "http://127.0.0.1:5001/", "http://127.0.0.1:5001/score", *bodies)


def ask_vertex_cpr(home: Path, code: Path, artifacts: Path, container: Mapping[str, Any],
                   *bodies: Any) -> list[tuple[int, str]]:
    """POST each body to aiplatform's custom prediction routine server as Vertex runs a model's ``containerSpec``
    (proto3 JSON: env, ports, routes), with the predictor in ``code`` and the artifact folder ``artifacts``
    (AIP_STORAGE_URI)."""
    from pytest_mlgates.packaging import VERTEX_PREDICTOR_CLASS

    python = referee_python("vertex-prediction")
    port = int(container.get("ports", [{}])[0].get("containerPort", 8080))
    health, predict = container.get("healthRoute", "/health"), container.get("predictRoute", "/predict")
    env = {**_serving_env(home, {e["name"]: e["value"] for e in container.get("env", [])}),
           "PYTHONPATH": str(code), "AIP_HTTP_PORT": str(port), "AIP_HEALTH_ROUTE": health,
           "AIP_PREDICT_ROUTE": predict, "AIP_STORAGE_URI": str(artifacts),
           "HANDLER_MODULE": "google.cloud.aiplatform.prediction.handler", "HANDLER_CLASS": "PredictionHandler",
           "PREDICTOR_MODULE": "predictor", "PREDICTOR_CLASS": VERTEX_PREDICTOR_CLASS,
           # one worker: the default (one per core, at least 2) forks workers that die silently here
           "VERTEX_CPR_WEB_CONCURRENCY": "1"}
    # the CPR image's entrypoint: python -m google.cloud.aiplatform.prediction.model_server (0.0.0.0:<port>)
    base = f"http://127.0.0.1:{port}"
    return ask_container([str(python), "-m", "google.cloud.aiplatform.prediction.model_server"], env, {},
                         base + health, base + predict, *bodies)
