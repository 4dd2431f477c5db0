"""The endpoint front: weighted routing between deployments, plus an optional mirror.

Each request goes to one deployment drawn by the live traffic weights (or the
one named in the ``x-mlgates-deployment`` / ``azureml-model-deployment``
request header). A share of requests is copied to the mirror deployment in the
background: its response never reaches the caller but is recorded, beside the
live response to the same request, at ``GET /mlgates/mirror`` - which is what a
shadow test reads. ``PUT /mlgates/config`` swaps the whole routing table in
one assignment on the event loop, so a traffic change drops no request: a
request in flight finishes on the deployment it was sent to.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import json
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..endpoint_client import AZUREML_DEPLOYMENT_HEADER, DEPLOYMENT_HEADER
from ..records import TrafficError
from ..traffic import check_traffic
from . import ADMIN_PREFIX
from .app import error_response

MIRROR_LOG_SIZE = 100_000


class WeightedChoice:
    """Pick a deployment in proportion to its percentage (immutable; swap a new one in to change)."""

    def __init__(self, traffic: Mapping[str, int], rng: random.Random | None = None) -> None:
        self.names = [k for k, v in traffic.items() if v > 0]
        self.cumulative: list[int] = []
        running = 0
        for name in self.names:
            running += traffic[name]
            self.cumulative.append(running)
        self.total = running
        self.rng = rng or random.Random()

    def pick(self) -> str | None:
        if not self.total:
            return None
        return self.names[bisect.bisect_right(self.cumulative, self.rng.random() * self.total)]


class RoutingTable:
    """Immutable snapshot of deployments, weights and mirror."""

    def __init__(self, deployments: dict[str, str], traffic: dict[str, Any], mirror: dict[str, Any],
                 rng: random.Random) -> None:
        self.traffic, self.mirror = check_traffic(deployments, traffic, mirror)
        self.deployments = dict(deployments)
        self.choice = WeightedChoice(self.traffic, rng)
        self.rng = rng

    def to_dict(self) -> dict[str, Any]:
        return {"deployments": self.deployments, "traffic": self.traffic, "mirror": self.mirror}


class Router:
    def __init__(self, name: str, config: dict[str, Any], timeout: float = 60.0, seed: int | None = None) -> None:
        self.name = name
        self.rng = random.Random(seed)
        self.table = RoutingTable(config.get("deployments", {}), config.get("traffic", {}),
                                  config.get("mirror", {}), self.rng)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=5.0), limits=limits)
        self.mirror_log: collections.deque[dict[str, Any]] = collections.deque(maxlen=MIRROR_LOG_SIZE)
        self.counts: collections.Counter[str] = collections.Counter()
        self.seq = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def forward(self, deployment: str, url: str, request: Request, body: bytes) -> tuple[Response, float]:
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        start = time.perf_counter()
        try:
            upstream = await self.client.request(request.method, url + request.url.path, content=body,
                                                 headers=headers)
        except httpx.TimeoutException as exc:
            return (error_response(504, "UpstreamTimeout",
                                   f"deployment {deployment!r} at {url} did not answer in time: {exc!r}"),
                    (time.perf_counter() - start) * 1000.0)
        except httpx.HTTPError as exc:
            return (error_response(502, "UpstreamUnavailable",
                                   f"deployment {deployment!r} at {url} failed: {type(exc).__name__}: {exc}"),
                    (time.perf_counter() - start) * 1000.0)
        elapsed = (time.perf_counter() - start) * 1000.0
        response = Response(upstream.content, status_code=upstream.status_code,
                            media_type=upstream.headers.get("content-type", "application/json"))
        return response, elapsed

    async def _mirror(self, record: dict[str, Any], deployment: str, url: str, request: Request,
                      body: bytes) -> None:
        response, elapsed = await self.forward(deployment, url, request, body)
        record.update(mirror_status=response.status_code, mirror_ms=elapsed,
                      mirror_body=_decode(response.body))
        self.counts[f"{deployment} (mirror)"] += 1

    async def invocations(self, request: Request) -> Response:
        table = self.table  # one snapshot per request: a concurrent swap cannot split it
        pinned = request.headers.get(DEPLOYMENT_HEADER) or request.headers.get(AZUREML_DEPLOYMENT_HEADER)
        if pinned:
            if pinned not in table.deployments:
                return error_response(404, "DeploymentNotFound",
                                      f"endpoint {self.name!r} has no deployment {pinned!r}; deployments: "
                                      f"{', '.join(table.deployments) or '(none)'}")
            deployment: str | None = pinned
        else:
            deployment = table.choice.pick()
        if deployment is None:
            return error_response(503, "NoLiveTraffic",
                                  f"endpoint {self.name!r} sends 0% traffic to every deployment; set traffic "
                                  f"so that it sums to 100")
        body = await request.body()
        response, elapsed = await self.forward(deployment, table.deployments[deployment], request, body)
        self.counts[deployment] += 1
        response.headers[DEPLOYMENT_HEADER] = deployment
        if table.mirror and not pinned:
            (target, percent), = table.mirror.items()
            if target != deployment and self.rng.random() * 100 < percent:
                self.seq += 1
                record = {"seq": self.seq, "time": time.time(), "request": _decode(body),
                          "deployment": deployment, "status": response.status_code, "ms": elapsed,
                          "body": _decode(response.body), "mirror": target, "mirror_status": None,
                          "mirror_ms": None, "mirror_body": None}
                self.mirror_log.append(record)
                task = asyncio.ensure_future(self._mirror(record, target, table.deployments[target], request, body))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return response

    async def ping(self, request: Request) -> Response:
        table = self.table
        live = [name for name, pct in table.traffic.items() if pct > 0] or list(table.deployments)
        problems = {}
        for name in live:
            try:
                answer = await self.client.get(table.deployments[name] + "/ping", timeout=5.0)
                if answer.status_code != 200:
                    problems[name] = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                problems[name] = f"{type(exc).__name__}: {exc}"
        if not live:
            return error_response(503, "NoDeployment", f"endpoint {self.name!r} has no deployment yet")
        if problems:
            return error_response(503, "Unhealthy", "; ".join(f"{k}: {v}" for k, v in problems.items()))
        return JSONResponse({"status": "healthy", "endpoint": self.name, **table.to_dict()})

    async def config_route(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                new = json.loads(await request.body())
                self.table = RoutingTable(new.get("deployments", self.table.deployments), new.get("traffic", {}),
                                          new.get("mirror", {}), self.rng)
            except (TrafficError, ValueError, TypeError, AttributeError) as exc:
                return error_response(400, "InvalidTraffic", str(exc))
        return JSONResponse(self.table.to_dict())

    async def mirror_route(self, request: Request) -> Response:
        """Mirrored requests recorded since ``?since=SEQ`` (only completed ones unless ?pending=1)."""
        since = int(request.query_params.get("since", "0") or 0)
        pending = request.query_params.get("pending") in ("1", "true")
        records = [r for r in list(self.mirror_log)
                   if r["seq"] > since and (pending or r["mirror_status"] is not None)]
        return JSONResponse({"records": records, "in_flight": len(self.tasks)})

    async def stats_route(self, request: Request) -> Response:
        return JSONResponse({"requests": dict(self.counts), "mirrored": self.seq})


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:200].decode("utf-8", "replace")


def create_router_app(router: Router) -> Starlette:
    from starlette.exceptions import HTTPException

    from .app import _http_error

    routes = [
        Route("/ping", router.ping, methods=["GET"]),
        Route("/invocations", router.invocations, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/config", router.config_route, methods=["GET", "PUT"]),
        Route(f"{ADMIN_PREFIX}/mirror", router.mirror_route, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/stats", router.stats_route, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
