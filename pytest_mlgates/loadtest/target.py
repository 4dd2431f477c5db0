"""Where plain-HTTP load reaches an endpoint and how its answers are attributed, as the adapter says.

The rollout's bake load runs on every platform through the interface: the
endpoint URL and ``POST /invocations`` where the platform declares
``direct_http``, else the adapter's ``http_target`` (Vertex AI: the REST
``:predict`` method with a bearer token; SageMaker: the runtime's
``/endpoints/<name>/invocations``, each request signed by the adapter's
``request_signer``); and the adapter's ``served_by`` rule to tell which
deployment answered each request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..adapters.base import Adapter
from ..attribution import BY_ROUTER_HEADER, ServedBy
from .signing import RequestSigner


@dataclass(frozen=True)
class LoadTarget:
    """Base URL, path and headers that take plain HTTP POSTs of ``{"instances": [...]}``, and the rule naming
    the deployment that answered, and the signer of each request where the platform needs one. The headers may
    hold a short-lived token, the signer credentials: pass them on, never print them."""

    url: str
    path: str = "/invocations"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    served_by: ServedBy = BY_ROUTER_HEADER
    signer: RequestSigner | None = field(default=None, repr=False)


def platform_target(adapter: Adapter, endpoint_name: str) -> LoadTarget | None:
    """The adapter's plain-HTTP door to ``endpoint_name`` (``http_target``, signed by its ``request_signer``),
    or None when it has none; attributed by its ``served_by`` rule."""
    found = adapter.http_target(endpoint_name)
    if found is None:
        return None
    url, path, headers = found
    return LoadTarget(url, path, dict(headers), adapter.served_by(endpoint_name), adapter.request_signer(endpoint_name))


def load_target(adapter: Adapter, endpoint_name: str, url: str) -> LoadTarget:
    """The target of one round of load on ``endpoint_name`` (whose ``Endpoint.url`` is ``url``).

    Asked anew for each round: a token in the headers is fresh, and the platform's deployment ids
    are the endpoint's own at that moment. A platform with neither ``direct_http`` nor an
    ``http_target`` gets the plain URL, whose refusals the gate then counts as errors (fail closed).
    """
    if not adapter.capabilities.direct_http:
        found = platform_target(adapter, endpoint_name)
        if found is not None:
            return found
    return LoadTarget(url, "/invocations", {}, adapter.served_by(endpoint_name))
