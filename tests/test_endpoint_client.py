"""EndpointClient readiness: an endpoint reached through the platform's invoker answers no plain
GET /ping, so it is ready when the platform says so (the bug that kept staging fixtures waiting on
SageMaker and Vertex until their ready_timeout)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pytest_mlgates.endpoint_client import EndpointClient, EndpointUnavailable


def test_an_invoker_endpoint_is_ready_by_its_health_check_and_never_pinged(httpserver: HTTPServer) -> None:
    checks: list[int] = []

    def health() -> None:
        checks.append(1)
        if len(checks) < 3:
            raise RuntimeError("deployment still starting")

    client = EndpointClient(url=httpserver.url_for("/endpoints/e"), name="e",
                            invoker=lambda body, pin: {"predictions": [1.0]}, health=health)
    client.wait_until_ready(timeout=5.0, interval=0.0)
    assert len(checks) == 3 and httpserver.log == []  # no GET /ping went to the URL
    assert client.predict([{"x": 1}]) == [1.0]
    client.close()


def test_an_unhealthy_invoker_endpoint_fails_with_the_platforms_reason() -> None:
    def health() -> Any:
        raise LookupError("endpoint 'e' has no deployment taking traffic yet")

    clock = iter(range(100))
    client = EndpointClient(url="https://example.invalid/e", name="e", invoker=lambda b, p: {}, health=health)
    with pytest.raises(EndpointUnavailable, match="no deployment taking traffic") as info:
        client.wait_until_ready(timeout=2.0, clock=lambda: float(next(clock)), sleep=lambda s: None)
    assert "e" in str(info.value)
    client.close()


def test_a_plain_http_endpoint_is_still_pinged(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ping", method="GET").respond_with_data("ok")
    client = EndpointClient(url=httpserver.url_for("/"), name="local")
    client.wait_until_ready(timeout=5.0)
    assert [r.path for r, _ in httpserver.log] == ["/ping"]
    client.close()
