"""The locustfile the load runner starts in its own process (never imported by pytest).

Configuration comes from the JSON file named by ``MLGATES_LOAD_CONFIG``:
``payloads_file`` (a JSON list of request bodies, cycled through),
``samples_file`` (where every request is written at the end), ``path``,
``headers``, ``duration`` (seconds, fractional allowed, counted from the
start of the test), ``max_requests`` (stop after that many), ``rps`` (total
target rate, as Poisson arrivals; unset means as fast as the users can go)
``timeout`` and ``served_by`` (the adapter's rule naming the deployment that
answered: a response header, or a body field and the platform's ids -> our
names; default the ``x-mlgates-deployment`` header) and ``signer`` (the class
and spec of a ``RequestSigner`` that signs every request, AWS SigV4; its
credentials come from this process's ``MLGATES_SIGNER_*`` environment, which
is emptied at once, before locust forks its workers).

Each request's latency is taken from locust's request event, which carries
the exact ``perf_counter`` difference in milliseconds; locust's own
statistics round it, so they are not used. A 200 whose body is not
``{"predictions": [...]}`` with one prediction per instance is a failure too.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time

import gevent
from locust import FastHttpUser, constant, events, task

from pytest_mlgates.attribution import ServedBy
from pytest_mlgates.loadtest.signing import restore_signer

CONFIG = json.loads(open(os.environ["MLGATES_LOAD_CONFIG"], encoding="utf-8").read())
with open(CONFIG["payloads_file"], encoding="utf-8") as _fh:
    _PAYLOADS = json.load(_fh)
# bytes, not str: geventhttpclient writes a bytes body together with the headers in one send, but a str
# body in a second send, which then waits on Nagle + delayed ACK and adds up to 40 ms to the latency.
BODIES = [json.dumps(body).encode() for body in _PAYLOADS]
SIZES = [len(body.get("instances", [])) if isinstance(body, dict) else 0 for body in _PAYLOADS]
NEXT = itertools.count()
PATH = CONFIG.get("path", "/invocations")
SAMPLES: list[list[float]] = []
ERROR_KINDS: dict[str, int] = {}
DEPLOYMENTS: dict[str, int] = {}
"""Deployments named by the responses (the ``served_by`` rule), in order of first sight."""
SERVED_BY = ServedBy.from_dict(CONFIG.get("served_by"))
STATE = {"stopping": False}
SIGNER = restore_signer(CONFIG.get("signer"), os.environ)


def _error_kind(response, exception) -> str:
    status = getattr(response, "status_code", 0) or 0
    if status >= 400:
        code = ""
        try:
            code = response.json()["error"]["code"]
        except Exception:  # not our error format
            pass
        return f"HTTP {status}" + (f" {code}" if code else "")
    text = str(exception)
    return f"{type(exception).__name__}: {text[:160]}" if text else type(exception).__name__


def _served_by(response) -> str:
    """The deployment that answered, "" when the response does not say (connection errors included)."""
    try:
        headers = response.headers if response is not None else None
    except Exception:  # no usable headers (connection error)
        headers = None
    if not headers:
        return ""
    return SERVED_BY.deployment(headers.get, response.json)


@events.request.add_listener
def on_request(response_time, exception, response=None, start_time=0.0, **kwargs):
    kind = -1
    if exception is not None:
        name = _error_kind(response, exception)
        index = list(ERROR_KINDS).index(name) if name in ERROR_KINDS else len(ERROR_KINDS)
        ERROR_KINDS[name] = ERROR_KINDS.get(name, 0) + 1
        kind = index
    deployment = -1
    name = _served_by(response)
    if name:
        if name not in DEPLOYMENTS:
            DEPLOYMENTS[name] = len(DEPLOYMENTS)
        deployment = DEPLOYMENTS[name]
    SAMPLES.append([start_time, response_time, getattr(response, "status_code", 0) or 0, kind, deployment])
    limit = CONFIG.get("process_max_requests") or CONFIG.get("max_requests")  # per process when distributed
    if limit and len(SAMPLES) >= limit and not STATE["stopping"]:
        STATE["stopping"] = True
        gevent.spawn(_stop, kwargs.get("context", {}).get("environment"))


ENV = {}


def _stop(environment=None) -> None:
    env = environment or ENV.get("env")
    if env is not None and env.runner is not None:
        env.runner.quit()


@events.init.add_listener
def on_init(environment, **kwargs):
    ENV["env"] = environment


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    duration = CONFIG.get("duration")
    if duration:
        gevent.spawn_later(float(duration), _stop, environment)


@events.quitting.add_listener
def on_quitting(environment, **kwargs):
    # One file per process: with --processes every worker keeps its own samples (the master none),
    # and the runner merges them, each latency exactly as measured.
    kinds = list(ERROR_KINDS)
    out = {"samples": SAMPLES, "error_kinds": kinds, "error_counts": [ERROR_KINDS[k] for k in kinds],
           "deployments": list(DEPLOYMENTS)}
    target = f"{CONFIG['samples_file']}.{os.getpid()}"
    tmp = target + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    os.replace(tmp, target)


def poisson_throughput(rate: float):
    """Requests started as a Poisson process of ``rate`` per second per user.

    locust's constant_throughput keeps every user on the same fixed period, and
    users started close together stay in lockstep: they hit the endpoint in
    bursts, and the latency then measures the burst queue, not the endpoint.
    Exponential gaps between request starts spread the load the way independent
    clients do, at the same mean rate.
    """
    rng = random.Random()

    def wait_time(user) -> float:
        now = time.monotonic()
        last = getattr(user, "_mlgates_last_start", None)
        gap = rng.expovariate(rate)
        user._mlgates_last_start = (last if last is not None else now) + gap
        if user._mlgates_last_start < now:  # fell behind (slow responses): do not burst to catch up
            user._mlgates_last_start = now
        return max(0.0, user._mlgates_last_start - now)

    return wait_time


class EndpointUser(FastHttpUser):
    """Posts request bodies in turn to the endpoint, as fast as allowed."""

    network_timeout = float(CONFIG.get("timeout", 30.0))
    connection_timeout = float(CONFIG.get("timeout", 30.0))
    if CONFIG.get("rps"):
        wait_time = poisson_throughput(float(CONFIG["rps"]) / max(int(CONFIG.get("users", 1)), 1))
    else:
        wait_time = constant(0)

    @task
    def invoke(self) -> None:
        if STATE["stopping"]:  # the request budget is spent: send nothing more while the runner quits
            gevent.sleep(0.05)
            return
        i = next(NEXT) % len(BODIES)
        headers = {"content-type": "application/json", **CONFIG.get("headers", {})}
        if SIGNER is not None:  # this request's own signature: it covers the time and the body
            headers.update(SIGNER.sign("POST", self.host.rstrip("/") + PATH, headers, BODIES[i]))
        with self.client.post(PATH, data=BODIES[i], headers=headers,
                              catch_response=True, name="invocations") as response:
            if response.status_code != 200 or not CONFIG.get("check_predictions", True):
                return
            try:
                predictions = response.json()["predictions"]
            except Exception:
                response.failure("HTTP 200 without a JSON {\"predictions\": [...]} body")
                return
            if not isinstance(predictions, list) or (SIZES[i] and len(predictions) != SIZES[i]):
                response.failure(f"HTTP 200 with {len(predictions) if isinstance(predictions, list) else 'no'} "
                                 f"predictions for {SIZES[i]} instances")
