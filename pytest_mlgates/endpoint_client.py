"""Talking to a deployed endpoint on any platform: health wait, predict, shadow replay.

Kept apart from the local model server (serving/): every platform's endpoints
are called through this client, over plain HTTP where the platform declares
``direct_http`` and through the adapter's ``invoke_endpoint`` otherwise. Light
on purpose (requests only; pandas is used only if the caller passes a
DataFrame): this runs in the pytest process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PREDICT_BATCH = 500

DEPLOYMENT_HEADER = "x-mlgates-deployment"
"""Response header naming the deployment that answered; as a request header it pins one."""

AZUREML_DEPLOYMENT_HEADER = "azureml-model-deployment"
"""Azure ML's spelling of the same request header, accepted by the local router too."""


class EndpointUnavailable(RuntimeError):
    """The endpoint never answered /ping in time; the message has its URL and the last error."""


class PredictionError(RuntimeError):
    """The endpoint answered /invocations with an error or a malformed body."""


@dataclass
class EndpointClient:
    """An endpoint as tests use it: ``.url``, ``.name``, ``.deployment``, ``.predict(rows)``."""

    url: str
    name: str = ""
    deployment: str = ""
    model_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    created: bool = False
    """Whether the fixture deployed it (and so removes it), rather than attaching to it."""
    deployment_pin: str | None = None
    """When set, every request is pinned to this deployment with the routing header."""
    invoker: Callable[[Mapping[str, Any], str | None], dict[str, Any]] | None = None
    """For platforms whose endpoints need signed calls: the adapter's invoke, used instead of plain HTTP."""
    health: Callable[[], None] | None = None
    """With an invoker: the platform's readiness check (raises while not ready), used instead of GET /ping,
    which such an endpoint does not answer; without one an invoker endpoint counts as ready."""
    load_target: Callable[[], Any] | None = None
    """With an invoker: the ``loadtest.target.LoadTarget`` (base URL, path, headers, request signer) that takes
    plain HTTP POSTs, for load tests (the adapter's ``http_target``); None when the platform has no such way."""
    served_by: Callable[[], Any] | None = None
    """The adapter's rule naming the deployment that answered (``Adapter.served_by``, an
    ``attribution.ServedBy``), asked when a load test starts; None: the ``x-mlgates-deployment`` header."""

    def __post_init__(self) -> None:
        import requests

        self.url = self.url.rstrip("/")
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"EndpointClient(name={self.name!r}, url={self.url!r}, deployment={self.deployment!r})"

    def ping(self, timeout: float = 5.0) -> None:
        """Raise unless ``GET /ping`` answers 200 (or, through an invoker, the platform says it is ready)."""
        if self.invoker is not None:
            if self.health is not None:
                try:
                    self.health()
                except Exception as exc:
                    raise EndpointUnavailable(f"endpoint {self.name or self.url} is not ready: "
                                              f"{type(exc).__name__}: {exc}") from exc
            return
        answer = self._session.get(self.url + "/ping", timeout=timeout, headers=self.headers)
        if answer.status_code != 200:
            raise EndpointUnavailable(f"GET {self.url}/ping answered HTTP {answer.status_code}: {answer.text[:300]}")

    def wait_until_ready(self, timeout: float = 120.0, interval: float = 0.2,
                         clock: Callable[[], float] = time.monotonic,
                         sleep: Callable[[float], None] = time.sleep) -> None:
        """Poll ``ping`` until it passes; after ``timeout`` seconds fail with the URL and last error."""
        import requests

        deadline = clock() + timeout
        last = "no attempt made"
        attempts = 0
        while True:
            attempts += 1
            try:
                self.ping(timeout=min(5.0, max(timeout, 0.1)))
                return
            except (requests.RequestException, EndpointUnavailable) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if clock() >= deadline:
                raise EndpointUnavailable(
                    f"endpoint {self.name or self.url} at {self.url} was not healthy after {timeout:g} s "
                    f"({attempts} attempts at GET /ping); last error: {last}")
            sleep(interval)

    def invoke(self, body: Mapping[str, Any], deployment: str | None = None) -> tuple[dict[str, Any], float]:
        """POST one body; returns (decoded JSON, latency ms); raises PredictionError on non-200."""
        if self.invoker is not None:
            start = time.perf_counter()
            try:
                data = self.invoker(body, deployment)
            except Exception as exc:
                raise PredictionError(f"endpoint {self.name or self.url}: {type(exc).__name__}: {exc}") from exc
            return data, (time.perf_counter() - start) * 1000.0
        headers = dict(self.headers)
        if deployment:
            headers[DEPLOYMENT_HEADER] = deployment
        start = time.perf_counter()
        answer = self._session.post(self.url + "/invocations", json=body, headers=headers, timeout=self.timeout)
        elapsed = (time.perf_counter() - start) * 1000.0
        if answer.status_code != 200:
            raise PredictionError(f"{self.url}/invocations answered HTTP {answer.status_code}: {answer.text[:500]}")
        try:
            data = answer.json()
        except ValueError:
            raise PredictionError(f"{self.url}/invocations answered non-JSON: {answer.text[:200]}") from None
        return data, elapsed

    def predict(self, rows: Any, batch_size: int = PREDICT_BATCH) -> list[Any]:
        """One prediction per row, in order (a DataFrame of feature columns, or a list of mappings)."""
        from .rows import rows_to_instances

        instances = rows_to_instances(rows)
        predictions: list[Any] = []
        for start in range(0, len(instances), batch_size):
            chunk = instances[start:start + batch_size]
            data, _ = self.invoke({"instances": chunk}, self.deployment_pin)
            got = data.get("predictions") if isinstance(data, dict) else None
            if not isinstance(got, list) or len(got) != len(chunk):
                raise PredictionError(f"{self.url}/invocations returned {len(got) if isinstance(got, list) else 'no'}"
                                      f" predictions for {len(chunk)} rows")
            predictions += got
        return predictions

    def close(self) -> None:
        self._session.close()


def shadow_replay(
    champion: EndpointClient,
    challenger: EndpointClient,
    rows: Any,
) -> Any:
    """Send every row, one request each, to both endpoints (alternating who goes first); pair the answers.

    A request that fails on one side is recorded as a failure of that side
    (None prediction plus the error), never dropped, so the gate can count it.
    """
    import requests

    from .gates.shadow import ShadowResult
    from .rows import rows_to_instances

    instances = rows_to_instances(rows)
    out: dict[str, dict[str, list[Any]]] = {side: {"pred": [], "ms": [], "err": [], "proba": []}
                                            for side in ("champion", "challenger")}
    for i, instance in enumerate(instances):
        order: Sequence[tuple[str, EndpointClient]] = (("champion", champion), ("challenger", challenger))
        if i % 2:
            order = order[::-1]
        for side, client in order:
            try:
                # "probabilities": servers whose model has predict_proba add the class probabilities
                # (serving/app.py); others ignore the key, and the gate compares labels only.
                data, ms = client.invoke({"instances": [instance], "probabilities": True}, client.deployment_pin)
                preds = data.get("predictions")
                if not isinstance(preds, list) or len(preds) != 1:
                    raise PredictionError("malformed response")
                proba = data.get("probabilities")
                out[side]["proba"].append(proba[0] if isinstance(proba, list) and len(proba) == 1 else None)
                out[side]["pred"].append(preds[0])
                out[side]["ms"].append(ms)
                out[side]["err"].append(None)
            except (PredictionError, requests.RequestException) as exc:
                out[side]["proba"].append(None)
                out[side]["pred"].append(None)
                out[side]["ms"].append(math.nan)
                out[side]["err"].append(str(exc)[:200])
    return ShadowResult(out["champion"]["pred"], out["challenger"]["pred"], out["champion"]["ms"],
                        out["challenger"]["ms"], out["champion"]["err"], out["challenger"]["err"],
                        champion.model_id or champion.name or champion.url,
                        challenger.model_id or challenger.name or challenger.url, source="replay",
                        champion_probabilities=out["champion"]["proba"],
                        challenger_probabilities=out["challenger"]["proba"])
