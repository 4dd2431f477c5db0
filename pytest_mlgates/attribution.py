"""Which deployment answered a response: the rule an adapter declares, applied by the load driver.

The rollout judges each deployment by its own requests, so every answer of a
split endpoint must be attributed. Platforms say it differently: the local
router names our deployment in the ``x-mlgates-deployment`` response header,
SageMaker in ``X-Amzn-Invoked-Production-Variant``, and Vertex AI names its own
deployed-model id in the prediction body (``deployedModelId``), which only the
adapter can map back to our deployment name. The adapter declares the rule
(``Adapter.served_by``); the load driver carries it to the locust subprocess as
JSON and applies it there. This module imports nothing of ours, so the
locustfile loads it without loading the plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_HEADER = "x-mlgates-deployment"
"""The local router's response header (``endpoint_client.DEPLOYMENT_HEADER``)."""


@dataclass(frozen=True)
class ServedBy:
    """How a response names the deployment that answered it.

    ``header``: a response header holding the name (either as spelled or lower-cased);
    ``body_field``: a top-level field of the JSON body holding it; ``names``:
    the platform's own ids -> our deployment names (an id missing from it is
    kept as is, so the figures show it rather than lose it).
    """

    header: str = ""
    body_field: str = ""
    names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.header and not self.body_field:
            raise ValueError("ServedBy needs a response header or a body field that names the deployment")

    def deployment(self, header: Callable[[str], Any], body: Callable[[], Any]) -> str:
        """The deployment that answered, "" when the response does not say. ``header(name)`` reads a
        response header (asked as declared, then lower-cased, for plain dicts of headers); ``body()``
        returns the parsed JSON body (asked only when a body field is declared and no header named one)."""
        raw: Any = (header(self.header) or header(self.header.lower())) if self.header else None
        if not raw and self.body_field:
            try:
                parsed = body()
            except Exception:  # noqa: BLE001 - an error page or no body: nobody is named
                parsed = None
            raw = parsed.get(self.body_field) if isinstance(parsed, dict) else None
        if not raw:
            return ""
        return str(self.names.get(str(raw), raw))

    def to_dict(self) -> dict[str, Any]:
        return {"header": self.header, "body_field": self.body_field, "names": dict(self.names)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ServedBy:
        if not data:
            return cls(header=DEFAULT_HEADER)
        return cls(header=str(data.get("header") or ""), body_field=str(data.get("body_field") or ""),
                   names={str(k): str(v) for k, v in (data.get("names") or {}).items()})


BY_ROUTER_HEADER = ServedBy(header=DEFAULT_HEADER)
