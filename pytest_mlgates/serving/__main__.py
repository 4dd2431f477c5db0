"""Run a model server or an endpoint router on 127.0.0.1.

    python -m pytest_mlgates.serving model --model-dir DIR [--sha256 S] [--port 0]
        [--latency-ms 0] [--latency-fraction 1] [--error-rate 0] [--ready-file F] [--watch-pid PID]
    python -m pytest_mlgates.serving router --config FILE [--name N] [--port 0] [--ready-file F] [--watch-pid PID]
    python -m pytest_mlgates.serving serve [--model-dir /opt/ml/model] [--host 0.0.0.0] [--port 8080]

``serve`` is container mode, for a bring-your-own serving image: SageMaker runs
``docker run <image> serve``, puts the model under /opt/ml/model and sends
``/ping`` and ``/invocations`` to port 8080 (``SAGEMAKER_BIND_TO_PORT``). It
refuses to serve unless the folder has the digest in ``MLGATES_SHA256``, which
the adapter sets from the registry. It binds 0.0.0.0 because a container's
port must be reachable from outside it; everything else binds 127.0.0.1.

The socket is bound before anything else (port 0 picks a free one) and the
ready file (``{"pid", "port", "url"}``) is written only once the model is
loaded and verified, so whoever started the process knows both when and where
to connect. With ``--watch-pid`` the process shuts down by itself when that
process is gone: a killed pytest leaves no server behind. Fault options
default to the environment variables ``MLGATES_SERVING_LATENCY_MS``,
``MLGATES_SERVING_LATENCY_FRACTION`` and ``MLGATES_SERVING_ERROR_RATE``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
CONTAINER_MODEL_DIR = "/opt/ml/model"


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a number") from None


def _watch(pid: int, release_file: str | None = None, interval: float = 0.5) -> None:
    """Terminate this process once ``pid`` no longer exists, unless ``release_file`` appeared first.

    A detached server is started watching its deployer all the same and is
    released only once the deployer has recorded it: a deployer killed in
    between leaves no server that nothing knows about.
    """

    def loop() -> None:
        while True:
            time.sleep(interval)
            if release_file and os.path.exists(release_file):
                return
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=loop, name="mlgates-watch-pid", daemon=True).start()


def _bind(port: int, host: str = HOST) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it a response written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve(app: Any, sock: socket.socket, ready_file: str | None) -> None:
    import uvicorn

    host, port = sock.getsockname()[:2]
    info = {"pid": os.getpid(), "port": port, "url": f"http://{host}:{port}"}
    if ready_file:
        tmp = Path(ready_file + ".tmp")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, ready_file)
    print(f"serving on {info['url']} (pid {info['pid']})", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_keep_alive=75, timeout_graceful_shutdown=10, backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_mlgates.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("model", "router"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=0, help="0 picks a free port")
        p.add_argument("--ready-file", help="write {pid, port, url} here once serving")
        p.add_argument("--watch-pid", type=int, help="exit when this process is gone")
        p.add_argument("--release-file", help="stop watching --watch-pid once this file exists (detach)")
        p.add_argument("--seed", type=int, default=None)
    m = sub.choices["model"]
    m.add_argument("--model-dir", required=True)
    m.add_argument("--sha256", default="", help="refuse to serve unless the folder has this digest")
    m.add_argument("--model-id", default="")
    m.add_argument("--latency-ms", type=float, default=_env_float("MLGATES_SERVING_LATENCY_MS", 0.0))
    m.add_argument("--latency-fraction", type=float,
                   default=_env_float("MLGATES_SERVING_LATENCY_FRACTION", 1.0))
    m.add_argument("--error-rate", type=float, default=_env_float("MLGATES_SERVING_ERROR_RATE", 0.0))
    m.add_argument("--max-body-bytes", type=int, default=None)
    m.add_argument("--max-instances", type=int, default=None)
    c = sub.add_parser("serve", help="container mode: the model under /opt/ml/model on 0.0.0.0:8080")
    c.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", CONTAINER_MODEL_DIR))
    c.add_argument("--host", default="0.0.0.0")
    c.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "") or 8080))
    r = sub.choices["router"]
    r.add_argument("--config", required=True, help="JSON {deployments: {name: url}, traffic, mirror}")
    r.add_argument("--name", default="endpoint")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a deployment")
    args = parser.parse_args(argv)

    if args.command == "serve":
        return _container(args)
    if args.watch_pid:
        _watch(args.watch_pid, args.release_file)
    sock = _bind(args.port)
    if args.command == "model":
        from ..contract import ContractError
        from .app import (
            DEFAULT_MAX_BODY_BYTES,
            DEFAULT_MAX_INSTANCES,
            Faults,
            ModelServer,
            create_app,
            infer_schema,
            verify_and_load,
        )

        try:
            faults = Faults(args.latency_ms, args.latency_fraction, args.error_rate).validate()
            model = verify_and_load(args.model_dir, args.sha256 or None)
            schema = infer_schema(model, args.model_dir)
        except (ContractError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
        server = ModelServer(model, model_id=args.model_id, sha256=args.sha256, schema=schema, faults=faults,
                             max_body_bytes=args.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
                             max_instances=args.max_instances or DEFAULT_MAX_INSTANCES, seed=args.seed)
        app = create_app(server)
    else:
        from ..records import TrafficError
        from .router import Router, create_router_app

        try:
            router = Router(args.name, json.loads(Path(args.config).read_text()), timeout=args.timeout,
                            seed=args.seed)
        except (OSError, ValueError, TrafficError) as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
        app = create_router_app(router)
    _serve(app, sock, args.ready_file)
    return 0


def _container(args: argparse.Namespace) -> int:
    """Serve the mounted model as a cloud's container contract asks, after checking its digest."""
    from ..contract import ContractError
    from .app import ModelServer, create_app, infer_schema, verify_and_load

    sha256 = os.environ.get("MLGATES_SHA256", "")
    if not sha256:
        print("error: MLGATES_SHA256 is not set; the adapter sets it to the registered digest of the model, "
              "and the server refuses to serve a model it cannot verify", file=sys.stderr, flush=True)
        return 2
    sock = _bind(args.port, args.host)
    try:
        model = verify_and_load(args.model_dir, sha256)
        schema = infer_schema(model, args.model_dir)
    except (ContractError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    server = ModelServer(model, model_id=os.environ.get("MLGATES_MODEL", ""), sha256=sha256, schema=schema)
    _serve(create_app(server), sock, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
