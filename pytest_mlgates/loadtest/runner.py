"""Run locust against an endpoint in a subprocess and bring every request's latency back.

Why a subprocess: ``import locust`` monkey-patches sockets for the whole
process (gevent), which would break pytest, boto3 and every other client in
the test process. The runner starts ``python -m locust`` headless with our
locustfile in a scratch folder (so no ``locust.conf`` or ``LOCUST_*`` variable
of the user's changes the run), waits with a hard deadline, kills the whole
process group if it is passed, and turns a crash into a LoadTestError that
carries locust's output. Nothing here imports locust, gevent or pandas at
module level.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..attribution import BY_ROUTER_HEADER, ServedBy
from ..gates.load import LoadResult
from ..rows import bodies_from_rows, read_payload_file, rows_to_instances
from .signing import SECRET_ENV_PREFIX, RequestSigner, signer_config

__all__ = ["LOCUSTFILE", "LoadTestError", "bodies_from_rows", "load_processes", "merge_samples", "read_payload_file",
           "rows_to_instances", "run_load"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STARTUP_ALLOWANCE_SECONDS = 60.0


#: Users and requests per second one locust process drives comfortably (FastHttpUser, one core);
#: above either, load_processes spreads the load over locust's distributed mode.
USERS_PER_PROCESS = 100
RPS_PER_PROCESS = 1500.0


def _free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_processes(users: int, rps: float | None, cpus: int | None = None) -> int:
    """How many locust worker processes ``users`` and ``rps`` need: 1 until one process would be
    the bottleneck, then enough for both, at most one per core."""
    cores = cpus or os.cpu_count() or 1
    need = max(math.ceil(users / USERS_PER_PROCESS), math.ceil((rps or 0.0) / RPS_PER_PROCESS), 1)
    return max(1, min(need, cores))


def merge_samples(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One process's worth of sample data from every process's file: the samples untouched, their
    error-kind and deployment indexes renumbered into one shared list each."""
    kinds: list[str] = []
    deployments: list[str] = []
    samples: list[list[float]] = []
    for part in parts:
        kind_map = []
        for kind in part.get("error_kinds", []):
            if kind not in kinds:
                kinds.append(kind)
            kind_map.append(kinds.index(kind))
        dep_map = []
        for name in part.get("deployments", []):
            if name not in deployments:
                deployments.append(name)
            dep_map.append(deployments.index(name))
        for sample in part.get("samples", []):
            merged = list(sample)
            if merged[3] >= 0:
                merged[3] = kind_map[int(merged[3])]
            if len(merged) > 4 and merged[4] >= 0:
                merged[4] = dep_map[int(merged[4])]
            samples.append(merged)
    return {"samples": samples, "error_kinds": kinds, "deployments": deployments}


class LoadTestError(RuntimeError):
    """The load generator crashed, hung or produced nothing readable; the message has its output."""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def run_load(
    url: str,
    bodies: Iterable[Mapping[str, Any]],
    *,
    users: int = 10,
    spawn_rate: float = 10.0,
    duration: float = 30.0,
    max_requests: int | None = None,
    rps: float | None = None,
    headers: Mapping[str, str] | None = None,
    path: str = "/invocations",
    timeout: float = 30.0,
    deadline: float | None = None,
    check_predictions: bool = True,
    python: str | None = None,
    processes: int | None = None,
    served_by: ServedBy | None = None,
    signer: RequestSigner | None = None,
) -> LoadResult:
    """Run locust headless against ``url`` and return every request's latency and outcome.

    Stops at ``duration`` seconds or after ``max_requests`` requests, whichever
    comes first; ``deadline`` (default: duration + ramp-up + 60 s) is the hard
    limit after which the process group is killed and LoadTestError raised.
    ``rps`` caps the total request rate (None: as fast as ``users`` can go).
    ``processes`` > 1 runs locust's own distributed mode (``--processes``: a master and that many
    workers) so load generation scales past one core; None chooses by ``users`` and ``rps``
    (:func:`load_processes`). Every worker's samples are merged, each latency exactly as measured.
    ``served_by`` is the adapter's rule naming the deployment that answered each request
    (``Adapter.served_by``; default the ``x-mlgates-deployment`` header): ``LoadResult.deployments``.
    ``signer`` signs every request in the locust process (``Adapter.request_signer``, AWS SigV4): its
    spec goes into the run's config file, its credentials only into locust's environment (never a file).
    """
    payloads = [dict(b) for b in bodies]
    if not payloads:
        raise ValueError("no payloads to send: pass rows or a payload file with at least one row")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"load_test needs an http(s) URL, got {url!r}")
    for name, value in (("users", users), ("spawn_rate", spawn_rate), ("duration", duration)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or not math.isfinite(value):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if int(users) != users:
        raise ValueError(f"users must be a whole number, got {users!r}")
    if max_requests is not None and max_requests < 1:
        raise ValueError(f"max_requests must be >= 1, got {max_requests!r}")
    if rps is not None and not rps > 0:
        raise ValueError(f"rps must be a positive number, got {rps!r}")
    if processes is None:
        processes = load_processes(int(users), rps)
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a whole number >= 1, got {processes!r}")
    processes = min(processes, int(users))  # a worker without a user would send nothing
    if deadline is None:
        deadline = duration + users / spawn_rate + STARTUP_ALLOWANCE_SECONDS
    signing, secret_env = signer_config(signer) if signer is not None else (None, {})
    with tempfile.TemporaryDirectory(prefix="mlgates-locust-") as work:
        folder = Path(work)
        (folder / "payloads.json").write_text(json.dumps(payloads))
        samples_file = folder / "samples.json"
        config = {"payloads_file": str(folder / "payloads.json"), "samples_file": str(samples_file),
                  "path": path, "headers": dict(headers or {}), "duration": float(duration),
                  "max_requests": max_requests, "rps": rps, "users": int(users), "timeout": float(timeout),
                  "check_predictions": check_predictions,
                  "served_by": (served_by or BY_ROUTER_HEADER).to_dict(), "signer": signing,
                  "process_max_requests": math.ceil(max_requests / processes) if max_requests else None}
        (folder / "config.json").write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", SECRET_ENV_PREFIX))}
        env.update(secret_env)  # the signer's credentials: in the process's environment only, never on disk
        env.update(MLGATES_LOAD_CONFIG=str(folder / "config.json"), HOME=str(folder), PYTHONUNBUFFERED="1")
        command = [python or sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                   "-u", str(int(users)), "-r", repr(float(spawn_rate)), "-t", f"{math.ceil(duration) + 10}s",
                   "--host", url.rstrip("/"), "--only-summary", "--exit-code-on-error", "0",
                   "--stop-timeout", "0", "--loglevel", "WARNING"]
        if processes > 1:
            # the master listens on loopback only, on a free port: the default is every interface on 5557,
            # which a second run at the same time (another xdist worker, another CI job) already holds
            port = _free_port()
            command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1",
                        "--master-bind-port", str(port), "--master-host", "127.0.0.1", "--master-port", str(port)]
        log = folder / "locust.log"
        started = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise LoadTestError(
                    f"locust against {url} did not finish within its hard deadline of {deadline:g} s "
                    f"(duration {duration:g} s); it was killed.\n--- locust output ---\n"
                    f"{_tail(log.read_text(errors='replace'))}") from None
            except BaseException:
                _kill_group(proc)
                raise
        output = log.read_text(errors="replace")
        parts = sorted(p for p in folder.glob(samples_file.name + ".*") if not p.name.endswith(".tmp"))
        if code != 0 or not parts:
            raise LoadTestError(
                f"locust against {url} crashed (exit code {code}"
                f"{'' if parts else ', no samples written'}) after "
                f"{time.monotonic() - started:.1f} s.\n--- locust output ---\n{_tail(output)}")
        data = merge_samples([json.loads(p.read_text()) for p in parts])
    samples = sorted(data["samples"], key=lambda s: s[0])
    if max_requests is not None:
        samples = samples[:max_requests]
    kinds = data["error_kinds"]
    errors: dict[str, int] = {}
    for sample in samples:
        if sample[3] >= 0:
            errors[kinds[sample[3]]] = errors.get(kinds[sample[3]], 0) + 1
    span = 0.0
    if samples:
        span = max(s[0] + s[1] / 1000.0 for s in samples) - samples[0][0]
    return LoadResult(
        latencies_ms=[float(s[1]) for s in samples],
        ok=[s[3] < 0 for s in samples],
        errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        duration_s=span,
        target=url,
        users=int(users),
        statuses=[int(s[2]) for s in samples],
        deployments=[data.get("deployments", [])[s[4]] if len(s) > 4 and s[4] >= 0 else "" for s in samples],
        start_times=[float(s[0]) for s in samples],
        output=_tail(output, 20),
    )
