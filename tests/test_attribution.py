"""Which deployment answered: the rule adapters declare (attribution.ServedBy), and locust applying it."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.adapters.sagemaker.adapter import INVOKED_VARIANT
from pytest_mlgates.attribution import BY_ROUTER_HEADER, DEFAULT_HEADER, ServedBy
from pytest_mlgates.endpoint_client import DEPLOYMENT_HEADER
from pytest_mlgates.loadtest.runner import run_load

VERTEX_LIKE = ServedBy(body_field="deployedModelId", names={"1005": "v1", "1007": "v2"})


def test_the_default_rule_is_the_local_routers_header() -> None:
    assert DEFAULT_HEADER == DEPLOYMENT_HEADER and Adapter.served_by(None, "any") == BY_ROUTER_HEADER  # type: ignore[arg-type]
    assert ServedBy.from_dict(None) == BY_ROUTER_HEADER == ServedBy.from_dict({})


@pytest.mark.parametrize(("rule", "headers", "body", "expect"), [
    (BY_ROUTER_HEADER, {DEFAULT_HEADER: "blue"}, None, "blue"),
    (BY_ROUTER_HEADER, {}, {"deployedModelId": "1005"}, ""),  # a body field nobody declared is not read
    (VERTEX_LIKE, {}, {"predictions": [1.0], "deployedModelId": "1007"}, "v2"),  # mapped to our name
    (VERTEX_LIKE, {}, {"predictions": [1.0], "deployedModelId": "1999"}, "1999"),  # unknown id: kept, not lost
    (VERTEX_LIKE, {}, {"error": {"code": 500, "status": "INTERNAL"}}, ""),  # an error names nobody
    (VERTEX_LIKE, {}, ValueError("not JSON"), ""),
    (ServedBy(header="h", body_field="f"), {"h": "from-header"}, {"f": "from-body"}, "from-header"),
])
def test_a_rule_names_the_deployment_or_nobody(rule: ServedBy, headers: dict[str, str], body: Any,
                                                 expect: str) -> None:
    def parsed() -> Any:
        if isinstance(body, Exception):
            raise body
        return body

    assert rule.deployment(headers.get, parsed) == expect
    assert ServedBy.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule  # it crosses to locust as JSON


def test_a_rule_that_names_no_place_is_refused() -> None:
    with pytest.raises(ValueError, match="header or a body field"):
        ServedBy()


@pytest.fixture
def variants() -> Iterator[tuple[str, list[str]]]:
    """An endpoint answering as SageMaker runtime does: the production variant in a response header."""
    sent: list[str] = []
    turn = itertools.cycle(["v1", "v1", "v2"])
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        rows = json.loads(Request(environ).get_data())["instances"]
        with lock:
            variant = next(turn)
            sent.append(variant)
        response = Response(json.dumps({"predictions": [0.0] * len(rows)}), content_type="application/json",
                            headers={"X-Amzn-Invoked-Production-Variant": variant})
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", sent
    server.shutdown()
    server.server_close()


def test_locust_attributes_each_request_by_the_declared_header(variants: tuple[str, list[str]]) -> None:
    url, sent = variants
    result = run_load(url, [{"instances": [{"x": 1}]}], users=1, spawn_rate=10, duration=20, max_requests=40,
                      served_by=INVOKED_VARIANT)
    assert result.requests == 40 and all(result.ok), result.errors
    assert result.deployments == sent[:40]  # one user: the answers in the order they were sent
    plain = run_load(url, [{"instances": [{"x": 1}]}], users=1, spawn_rate=10, duration=20, max_requests=5)
    assert plain.deployments == [""] * 5  # the default rule reads x-mlgates-deployment, which is absent
