"""Local endpoints: real HTTP servers on 127.0.0.1, one process per deployment plus a router.

The Azure ML managed-endpoint model, run on this machine:

- an endpoint is a router process with a stable URL; it holds one or more
  deployments (each a model-server process serving one verified model
  version) with live traffic percentages summing to 100, and optionally one
  mirror deployment that gets a copy of up to 50% of the requests, whose
  responses are dropped but recorded (``mirror_records``);
- ``set_traffic`` changes the weights live, in one swap on the router, so no
  request is dropped; a new deployment gets 0% until traffic is set (the first
  one gets 100%); redeploying a deployment name starts the new server, moves
  the route, then stops the old one;
- every endpoint is listed under ``<state>/endpoints/<name>/endpoint.json``
  with its processes, ports, models and traffic, and a file lock per endpoint
  serialises changes made by concurrent runs (xdist workers, two terminals).

No process outlives its owner unless asked: each server watches the pid of
the process that deployed it (``watch_pid``; the pytest process by default)
and exits when it is gone, so even a killed pytest leaves nothing behind.
``detach=True`` (``--mlgates-keep-endpoint``) lets an endpoint outlive the
run for a later workflow job to attach to. Processes are leaders of their
own process group and are stopped by group: SIGTERM, a grace period, SIGKILL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...contract import atomic_write_text
from ...procs import pid_alive
from ...records import (
    AdapterError,
    DeadlineExceeded,
    Endpoint,
    ModelVersion,
    NotFoundError,
)
from ...traffic import TrafficError, check_traffic

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
SERVING_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class EndpointError(AdapterError):
    """A local endpoint could not be started, changed or reached."""


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError(f"{what} {value!r} must be 1-63 letters, digits, '.', '_' or '-', starting with a "
                         f"letter or digit")
    return value


def _is_ours(pid: int) -> bool:
    """Whether ``pid`` is still one of our servers (guards against a recycled pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"pytest_mlgates.serving" in fh.read()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): trust the record
        return pid_alive(pid)


def _tail(path: Path, lines: int = 30) -> str:
    from ...logtail import tail_text

    return tail_text(path, lines) if path.is_file() else "(no log)"


class LocalEndpoints:
    """Start, change, list and stop local endpoints under one state folder."""

    def __init__(self, state_dir: str | os.PathLike[str], python: str | None = None,
                 ready_timeout: float = READY_TIMEOUT_SECONDS, project_root: str | os.PathLike[str] | None = None
                 ) -> None:
        self.project_root = str(Path(project_root).resolve()) if project_root else ""
        """On the model servers' path, so a model class defined in the project unpickles (issue 14)."""
        self.root = Path(state_dir).resolve() / "endpoints"
        self.root.mkdir(parents=True, exist_ok=True)
        self.python = python or sys.executable
        self.ready_timeout = ready_timeout
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self.skops_trusted: list[str] = []
        """The user's listed skops types, handed to every model server it starts."""

    # -- records --------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.root / _check_name(name, "endpoint name")

    def _lock(self, name: str) -> Any:
        from filelock import FileLock

        return FileLock(str(self.root / f".{_check_name(name, 'endpoint name')}.lock"), timeout=300)

    def _read(self, name: str) -> dict[str, Any] | None:
        from ...state_files import read_json_state

        return read_json_state(self._dir(name) / "endpoint.json", f"the record of endpoint {name!r}",  # type: ignore[no-any-return]
                               missing_ok=True)

    def _write(self, record: dict[str, Any]) -> None:
        folder = self._dir(record["name"])
        atomic_write_text(folder / "endpoint.json", json.dumps(record, indent=2))
        config = {"deployments": {k: v["url"] for k, v in record["deployments"].items()},
                  "traffic": record["traffic"], "mirror": record["mirror"]}
        atomic_write_text(folder / "router.json", json.dumps(config, indent=2))

    def record(self, name: str) -> dict[str, Any]:
        """The stored record of an endpoint (raises NotFoundError)."""
        rec = self._read(name)
        if rec is None:
            raise NotFoundError(f"no local endpoint {name!r} under {self.root}; deployed endpoints: "
                                f"{', '.join(self.names()) or '(none)'}")
        return rec

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob("*/endpoint.json"))

    @staticmethod
    def _endpoint(rec: Mapping[str, Any]) -> Endpoint:
        return Endpoint(name=rec["name"], url=rec["url"], traffic=dict(rec["traffic"]), mirror=dict(rec["mirror"]))

    def get(self, name: str) -> Endpoint:
        """The endpoint, if its router is still running (raises NotFoundError otherwise)."""
        rec = self.record(name)
        pid = rec.get("router", {}).get("pid")
        if not (pid and pid_alive(pid) and _is_ours(pid)):
            raise NotFoundError(f"local endpoint {name!r} is listed in {self._dir(name)} but its router "
                                f"(pid {pid}) is not running; it died with the run that "
                                f"owned it. Deploy it again, or keep it with --mlgates-keep-endpoint.")
        return self._endpoint(rec)

    def list(self) -> list[Endpoint]:
        """Every listed endpoint whose router is running."""
        found = []
        for name in self.names():
            try:
                found.append(self.get(name))
            except NotFoundError:
                continue
        return found

    def pids(self, name: str) -> list[int]:
        """Process ids of the router and every deployment of an endpoint."""
        rec = self.record(name)
        return [rec["router"]["pid"], *(d["pid"] for d in rec["deployments"].values())]

    # -- processes ------------------------------------------------------------
    def _start(self, args: list[str], folder: Path, label: str, watch_pid: int | None,
               detached: bool = False) -> dict[str, Any]:
        """Start one server; a ``detached`` one still watches ``watch_pid`` until ``_release``."""
        ready = folder / f"{label}.ready.json"
        ready.unlink(missing_ok=True)
        log = folder / f"{label}.log"
        command = [self.python, "-m", "pytest_mlgates.serving", *args, "--ready-file", str(ready)]
        if watch_pid:
            command += ["--watch-pid", str(watch_pid)]
        if detached:
            release = folder / f"{label}.detached"
            release.unlink(missing_ok=True)
            command += ["--release-file", str(release)]
        # One math thread per server, unless the user chose: several servers share these cores,
        # and OpenMP/BLAS pools spin-waiting against each other turn 10 ms predictions into seconds.
        env = {**{var: "1" for var in SERVING_THREAD_VARS}, **os.environ}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_PARENT, self.project_root, env.get("PYTHONPATH", "")) if p)
        env["MLGATES_SKOPS_TRUSTED"] = ",".join(self.skops_trusted)
        with log.open("ab") as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=folder, env=env, start_new_session=True)
        self._procs[proc.pid] = proc
        deadline = time.monotonic() + self.ready_timeout
        try:
            while True:
                if ready.is_file():
                    info = json.loads(ready.read_text())
                    return {"pid": proc.pid, "port": info["port"], "url": info["url"], "log": str(log)}
                code = proc.poll()
                if code is not None:
                    raise EndpointError(f"{label} server exited with code {code} before serving "
                                        f"(log {log}):\n{_tail(log)}")
                if time.monotonic() > deadline:
                    raise DeadlineExceeded(f"{label} server did not start within {self.ready_timeout:g} s "
                                           f"(log {log}):\n{_tail(log)}")
                time.sleep(0.03)
        except BaseException:
            self._stop(proc.pid)
            raise

    @staticmethod
    def _release(folder: Path, *labels: str) -> None:
        """Let recorded detached servers stop watching their deployer (they outlive it from now on)."""
        for label in labels:
            (folder / f"{label}.detached").touch()

    def _stop(self, pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop a server's whole process group: SIGTERM, wait, SIGKILL; reap it if it is our child."""
        proc = self._procs.pop(pid, None)
        if proc is None and not _is_ours(pid):
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc is not None:
                if proc.poll() is not None:
                    break
            elif not pid_alive(pid):
                break
            time.sleep(0.02)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _router_put(self, rec: Mapping[str, Any]) -> None:
        import requests

        config = {"deployments": {k: v["url"] for k, v in rec["deployments"].items()},
                  "traffic": rec["traffic"], "mirror": rec["mirror"]}
        try:
            answer = requests.put(rec["url"] + "/mlgates/config", json=config, timeout=10)
        except requests.RequestException as exc:
            raise EndpointError(f"router of endpoint {rec['name']!r} at {rec['url']} did not answer: {exc}") from exc
        if answer.status_code != 200:
            raise EndpointError(f"router of endpoint {rec['name']!r} refused the change: {answer.text}")

    # -- verbs ----------------------------------------------------------------
    def deploy(
        self,
        endpoint_name: str,
        model: ModelVersion,
        model_dir: str | os.PathLike[str],
        deployment_name: str,
        *,
        traffic: Mapping[str, int] | None = None,
        latency_ms: float | None = None,
        latency_fraction: float | None = None,
        error_rate: float | None = None,
        watch_pid: int | None = None,
        detach: bool = False,
        seed: int | None = None,
    ) -> Endpoint:
        """Serve ``model`` as ``deployment_name`` on the endpoint, creating the endpoint if needed.

        The first deployment of an endpoint gets 100% of the traffic, later ones
        0% (pass ``traffic`` to set the split in the same step). Fault options
        are handed to the model server; unset ones default to its
        ``MLGATES_SERVING_*`` environment variables (0 when those are unset).
        ``watch_pid`` defaults to this process; ``detach`` lets the servers
        outlive it.
        """
        _check_name(deployment_name, "deployment name")
        # A detached server outlives its deployer only once it is recorded (see _release): until
        # then it watches the deployer like any other, so a deployer killed mid-way leaves nothing.
        watcher = watch_pid or os.getpid()
        owner = None if detach else watcher
        folder = self._dir(endpoint_name)
        with self._lock(endpoint_name):
            rec = self._read(endpoint_name)
            if rec is not None and not (rec.get("router", {}).get("pid") and pid_alive(rec["router"]["pid"])):
                self._stop_all(rec)  # a stale record from a run that died
                shutil.rmtree(folder, ignore_errors=True)
                rec = None
            folder.mkdir(parents=True, exist_ok=True)
            args = ["model", "--model-dir", str(model_dir), "--sha256", model.sha256, "--model-id", model.id]
            faults = {"latency-ms": latency_ms, "latency-fraction": latency_fraction, "error-rate": error_rate}
            for flag, value in faults.items():  # unset: the server's MLGATES_SERVING_* environment defaults
                if value is not None:
                    args += [f"--{flag}", repr(float(value))]
            if seed is not None:
                args += ["--seed", str(seed)]
            started = self._start(args, folder, f"deployment-{deployment_name}", watcher, detach)
            info = {**started, "model": model.id, "version": model.version, "sha256": model.sha256,
                    "model_dir": str(model_dir), "started_at": time.time(),
                    "faults": {k.replace("-", "_"): v for k, v in faults.items() if v is not None}}
            creating = rec is None
            try:
                if rec is None:
                    rec = {"name": endpoint_name, "url": "", "router": {}, "owner_pid": owner,
                           "created_at": time.time(), "deployments": {deployment_name: info},
                           "traffic": {deployment_name: 100}, "mirror": {}}
                    if traffic is not None:
                        rec["traffic"], rec["mirror"] = check_traffic([deployment_name], traffic, {})
                    self._write(rec)
                    router_args = ["router", "--config", str(folder / "router.json"), "--name", endpoint_name]
                    if seed is not None:
                        router_args += ["--seed", str(seed)]
                    rec["router"] = self._start(router_args, folder, "router", watcher, detach)
                    rec["url"] = rec["router"]["url"]
                    self._write(rec)
                    if detach:
                        self._release(folder, "router", f"deployment-{deployment_name}")
                    return self._endpoint(rec)
                old = rec["deployments"].get(deployment_name)
                deployments = {**rec["deployments"], deployment_name: info}
                new_traffic = dict(traffic) if traffic is not None else {
                    **rec["traffic"], deployment_name: rec["traffic"].get(deployment_name, 0)}
                live, mirror = check_traffic(deployments, new_traffic, rec["mirror"])
                rec = {**rec, "deployments": deployments, "traffic": live, "mirror": mirror}
                self._router_put(rec)
                self._write(rec)
                if detach:
                    self._release(folder, f"deployment-{deployment_name}")
            except BaseException:
                self._stop(started["pid"])
                if creating:  # leave no half-made endpoint behind
                    shutil.rmtree(folder, ignore_errors=True)
                raise
            if old is not None:
                self._stop(old["pid"])
            return self._endpoint(rec)

    def set_traffic(self, endpoint_name: str, traffic: Mapping[str, int],
                    mirror: Mapping[str, int] | None = None) -> Endpoint:
        """Change live traffic (and the mirror; None keeps the current one) without dropping requests."""
        with self._lock(endpoint_name):
            rec = self.record(endpoint_name)
            live, shadow = check_traffic(rec["deployments"], traffic,
                                         rec["mirror"] if mirror is None else mirror)
            rec = {**rec, "traffic": live, "mirror": shadow}
            self._router_put(rec)
            self._write(rec)
            return self._endpoint(rec)

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        """Stop one deployment; it must take no live traffic and not be the mirror."""
        with self._lock(endpoint_name):
            rec = self.record(endpoint_name)
            if deployment_name not in rec["deployments"]:
                raise NotFoundError(f"endpoint {endpoint_name!r} has no deployment {deployment_name!r}; "
                                    f"deployments: {', '.join(rec['deployments'])}")
            if rec["traffic"].get(deployment_name) or rec["mirror"].get(deployment_name):
                raise TrafficError(f"deployment {deployment_name!r} still takes traffic "
                                   f"({rec['traffic'].get(deployment_name, 0)}% live, "
                                   f"{rec['mirror'].get(deployment_name, 0)}% mirrored); move it away first")
            info = rec["deployments"].pop(deployment_name)
            rec["traffic"].pop(deployment_name, None)
            self._router_put(rec)
            self._write(rec)
            self._stop(info["pid"])
            return self._endpoint(rec)

    def _stop_all(self, rec: Mapping[str, Any]) -> None:
        if rec.get("router", {}).get("pid"):
            self._stop(rec["router"]["pid"])
        for info in rec.get("deployments", {}).values():
            self._stop(info["pid"])

    def delete(self, endpoint_name: str) -> None:
        """Stop the router and every deployment, then remove the endpoint's folder."""
        with self._lock(endpoint_name):
            rec = self.record(endpoint_name)
            self._stop_all(rec)
            shutil.rmtree(self._dir(endpoint_name), ignore_errors=True)

    def prune(self) -> list[str]:
        """Remove the records of endpoints whose router died, stopping any process left; returns their names."""
        removed = []
        for name in self.names():
            with self._lock(name):
                rec = self._read(name)
                if rec is not None and not (rec.get("router", {}).get("pid") and pid_alive(rec["router"]["pid"])):
                    self._stop_all(rec)
                    shutil.rmtree(self._dir(name), ignore_errors=True)
                    removed.append(name)
        return removed

    # -- talking to it ----------------------------------------------------------
    def set_faults(self, endpoint_name: str, deployment_name: str, **faults: float) -> dict[str, float]:
        """Change a deployment's injected faults live (latency_ms, latency_fraction, error_rate)."""
        import requests

        rec = self.record(endpoint_name)
        if deployment_name not in rec["deployments"]:
            raise NotFoundError(f"endpoint {endpoint_name!r} has no deployment {deployment_name!r}")
        answer = requests.post(rec["deployments"][deployment_name]["url"] + "/mlgates/faults", json=faults,
                               timeout=10)
        if answer.status_code != 200:
            raise ValueError(answer.json()["error"]["message"])
        return answer.json()

    def mirror_records(self, endpoint_name: str, since: int = 0) -> list[dict[str, Any]]:
        """Completed mirrored requests: the request, the live and the mirror response, both latencies."""
        import requests

        rec = self.record(endpoint_name)
        answer = requests.get(rec["url"] + "/mlgates/mirror", params={"since": since}, timeout=30)
        answer.raise_for_status()
        return answer.json()["records"]

    def invoke(self, endpoint_name: str, body: Mapping[str, Any], deployment: str | None = None,
               timeout: float = 60.0) -> dict[str, Any]:
        """POST /invocations on the endpoint (or one pinned deployment); raises EndpointError on non-200."""
        import requests

        from ...endpoint_client import DEPLOYMENT_HEADER

        rec = self.record(endpoint_name)
        headers = {DEPLOYMENT_HEADER: deployment} if deployment else {}
        answer = requests.post(rec["url"] + "/invocations", json=body, headers=headers, timeout=timeout)
        if answer.status_code != 200:
            raise EndpointError(f"endpoint {endpoint_name!r} answered HTTP {answer.status_code}: {answer.text[:500]}")
        return answer.json()
