"""The model server: one verified model behind ``/ping`` and ``/invocations``.

Input is checked before the model sees it, so a caller's mistake is a 4xx that
names the offending row and feature (and what to send instead), and a 5xx
means a real fault: the model raised on validated input, or a fault was
injected on purpose. Feature names and kinds come from ``schema.json`` in the
model folder when there is one, else from the fitted scikit-learn estimator
(``feature_names_in_`` and the encoders of a ColumnTransformer).

Fault injection (added latency on a fraction of requests, an error fraction)
is set at start and changed live through ``POST /mlgates/faults``, so tests
and demos can show the gates failing. Every ``/invocations`` request's
server-side latency is kept (bounded) and served at ``GET /mlgates/latencies``
so benchmarks can compare it with what the load generator measured.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..contract import ContractError, digest_dir, load_model
from . import ADMIN_PREFIX

DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
"""6 MB, SageMaker's real-time payload limit."""
DEFAULT_MAX_INSTANCES = 10_000
LATENCY_BUFFER = 1_000_000
KINDS = ("number", "string", "boolean", "any")


class ServingError(Exception):
    """An error answered as JSON with a status code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@dataclass
class Faults:
    """Injected faults: ``latency_ms`` added to a ``latency_fraction`` of requests, ``error_rate`` answered 500."""

    latency_ms: float = 0.0
    latency_fraction: float = 1.0
    error_rate: float = 0.0

    def validate(self) -> Faults:
        for key in ("latency_ms", "latency_fraction", "error_rate"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"fault {key} must be a finite number, got {value!r}")
        if self.latency_ms < 0:
            raise ValueError(f"fault latency_ms must be >= 0, got {self.latency_ms}")
        for key in ("latency_fraction", "error_rate"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"fault {key} must be within [0, 1], got {getattr(self, key)}")
        return self


def verify_and_load(model_dir: str | Path, sha256: str | None) -> Any:
    """Load the model only if its folder still has the registered digest."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ContractError(f"model folder {folder} does not exist")
    if sha256:
        actual = digest_dir(folder)
        if actual != sha256:
            raise ContractError(
                f"model folder {folder} has sha256 {actual}, but {sha256} was registered; the artifact "
                f"changed after registration. Deploy a freshly registered version instead.")
    return load_model(folder)


def _kind_of_transformer(transformer: Any) -> str:
    """'string' for encoders fitted on text categories, 'number' for numeric steps, 'any' if unsure."""
    if isinstance(transformer, str):
        return "any"  # "passthrough"
    steps = [s for _, s in getattr(transformer, "steps", [])] or [transformer]
    for step in steps:
        categories = getattr(step, "categories_", None)
        if categories is not None:
            kinds = {getattr(c, "dtype", None).kind if hasattr(c, "dtype") else "O" for c in categories}
            return "string" if kinds & {"O", "U", "S"} else "number"
    return "number"


def infer_schema(model: Any, model_dir: str | Path | None = None) -> dict[str, str] | None:
    """Feature name -> kind ('number', 'string', 'boolean', 'any'), or None when the model does not say.

    ``schema.json`` (``{"features": {"name": "number", ...}}``) in the model
    folder wins; otherwise the fitted estimator is inspected.
    """
    if model_dir is not None:
        path = Path(model_dir) / "schema.json"
        if path.is_file():
            data = json.loads(path.read_text())
            features = data.get("features") if isinstance(data, dict) else None
            if isinstance(features, list):
                features = {str(name): "any" for name in features}
            if not isinstance(features, dict) or any(k not in KINDS for k in features.values()):
                raise ContractError(f"{path} must be {{\"features\": {{name: one of {', '.join(KINDS)}}}}}")
            return {str(k): str(v) for k, v in features.items()}
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    schema = {str(n): "any" for n in names}
    front = model.steps[0][1] if hasattr(model, "steps") and model.steps else model
    for _, transformer, columns in getattr(front, "transformers_", []):
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if not isinstance(columns, (list, tuple)) and not hasattr(columns, "tolist"):
            continue
        kind = _kind_of_transformer(transformer)
        for column in list(columns):
            if isinstance(column, str) and column in schema:
                schema[column] = kind
    return schema


def _check_value(value: Any, kind: str) -> bool:
    if value is None:
        return True  # missing: the model's imputer decides
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, (int, float, str, bool))


def validate_instances(body: Any, schema: dict[str, str] | None, max_instances: int) -> list[dict[str, Any]]:
    """The instances of a request body, or a ServingError that says what to fix."""
    if not isinstance(body, dict) or "instances" not in body:
        raise ServingError(400, "BadRequest",
                           'the body must be a JSON object {"instances": [{feature: value}, ...]}')
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise ServingError(400, "BadRequest", '"instances" must be a non-empty list of objects')
    if len(instances) > max_instances:
        raise ServingError(413, "PayloadTooLarge",
                           f"{len(instances)} instances in one request; at most {max_instances} are accepted, "
                           f"split the batch")
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise ServingError(400, "BadRequest",
                               f"instance {i} is a {type(row).__name__}; each instance must be an object "
                               f"{{feature: value}}")
        if schema is not None:
            keys = set(row)
            missing = [k for k in schema if k not in keys]
            unknown = sorted(keys.difference(schema))
            if missing or unknown:
                parts = []
                if missing:
                    parts.append(f"missing feature(s) {', '.join(missing)}")
                if unknown:
                    parts.append(f"unknown feature(s) {', '.join(unknown)}")
                raise ServingError(422, "InvalidFeatures",
                                   f"instance {i}: {'; '.join(parts)}. The model expects exactly: "
                                   f"{', '.join(schema)}")
            for key, kind in schema.items():
                if not _check_value(row[key], kind):
                    raise ServingError(422, "InvalidFeatureType",
                                       f"instance {i}: feature {key!r} must be a {kind}, got "
                                       f"{json.dumps(row[key])[:80]} ({type(row[key]).__name__})")
        else:
            for key, value in row.items():
                if not _check_value(value, "any"):
                    raise ServingError(422, "InvalidFeatureType",
                                       f"instance {i}: feature {key!r} must be a number, string, boolean or "
                                       f"null, got {type(value).__name__}")
    return instances


def _json_safe(predictions: Any) -> list[Any]:
    values = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    for value in values:
        if isinstance(value, float) and not math.isfinite(value):
            raise ServingError(500, "ModelError", f"the model produced a non-finite prediction ({value})")
    return values


class ModelServer:
    """The state of one serving process: model, schema, faults, latency log."""

    def __init__(
        self,
        model: Any,
        *,
        model_id: str = "",
        sha256: str = "",
        schema: dict[str, str] | None = None,
        faults: Faults | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.model_id = model_id
        self.sha256 = sha256
        self.schema = schema
        self.faults = (faults or Faults()).validate()
        self.max_body_bytes = max_body_bytes
        self.max_instances = max_instances
        self.random = random.Random(seed)
        self.latencies: collections.deque[tuple[float, float, int]] = collections.deque(maxlen=LATENCY_BUFFER)
        self.started = time.time()
        self.count = 0

    def _frame(self, instances: list[dict[str, Any]]) -> Any:
        import pandas as pd

        columns = list(self.schema) if self.schema is not None else None
        return pd.DataFrame.from_records(instances, columns=columns)

    def predict(self, instances: list[dict[str, Any]]) -> list[Any]:
        frame = self._frame(instances)
        try:
            predictions = self.model.predict(frame)
        except (ValueError, TypeError, KeyError) as exc:
            raise ServingError(422, "ModelRejectedInput",
                               f"the model rejected the instances: {type(exc).__name__}: {exc}") from exc
        values = _json_safe(predictions)
        if len(values) != len(instances):
            raise ServingError(500, "ModelError",
                               f"the model returned {len(values)} predictions for {len(instances)} instances")
        return values

    def probabilities(self, instances: list[dict[str, Any]]) -> list[Any]:
        """Class probabilities (rows of ``predict_proba``) for the shadow gate; only asked for, never by default."""
        return _json_safe(self.model.predict_proba(self._frame(instances)))

    async def read_body(self, request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise ServingError(413, "PayloadTooLarge",
                               f"body of {int(length)} bytes exceeds the {self.max_body_bytes}-byte limit; "
                               f"send fewer instances per request")
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype not in ("application/json", "", "*/*") and not ctype.endswith("+json"):
            raise ServingError(415, "UnsupportedMediaType",
                               f"content-type {ctype!r} is not supported; send application/json")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ServingError(413, "PayloadTooLarge",
                                   f"body exceeds the {self.max_body_bytes}-byte limit; send fewer instances "
                                   f"per request")
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ServingError(400, "BadRequest",
                               f"the body is not valid JSON ({exc}); send "
                               f'{{"instances": [{{feature: value}}, ...]}}') from None
        except (ValueError, RecursionError) as exc:  # an integer too long to parse, nesting too deep
            raise ServingError(400, "BadRequest",
                               f"the body is JSON the server refuses to parse ({type(exc).__name__}: "
                               f"{str(exc)[:120]}); send flat instances of plain numbers and strings") from None

    async def invocations(self, request: Request) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            body = await self.read_body(request)
            instances = validate_instances(body, self.schema, self.max_instances)
            faults = self.faults
            if faults.latency_ms > 0 and (faults.latency_fraction >= 1.0
                                          or self.random.random() < faults.latency_fraction):
                await asyncio.sleep(faults.latency_ms / 1000.0)
            if faults.error_rate > 0 and self.random.random() < faults.error_rate:
                raise ServingError(500, "InjectedFault",
                                   f"fault injected on purpose (error_rate={faults.error_rate})")
            predictions = self.predict(instances)
            status = 200
            answer: dict[str, Any] = {"predictions": predictions}
            if body.get("probabilities") is True and callable(getattr(self.model, "predict_proba", None)):
                answer["probabilities"] = self.probabilities(instances)  # asked for by the shadow replay
            return JSONResponse(answer)
        except ServingError as exc:
            status = exc.status
            return error_response(exc.status, exc.code, exc.message)
        except Exception as exc:  # a real fault: say so, keep serving
            return error_response(500, "InternalError", f"{type(exc).__name__}: {exc}")
        finally:
            self.count += 1
            self.latencies.append((time.time(), (time.perf_counter() - start) * 1000.0, status))

    async def ping(self, request: Request) -> Response:
        return JSONResponse({"status": "healthy", "model": self.model_id, "sha256": self.sha256})

    async def info(self, request: Request) -> Response:
        return JSONResponse({"model": self.model_id, "sha256": self.sha256, "schema": self.schema,
                             "faults": asdict(self.faults), "requests": self.count, "started": self.started,
                             "max_body_bytes": self.max_body_bytes, "max_instances": self.max_instances})

    async def faults_route(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = json.loads(await request.body())
                if not isinstance(changes, dict):
                    raise ValueError("the body must be an object")
                unknown = set(changes) - {"latency_ms", "latency_fraction", "error_rate"}
                if unknown:
                    raise ValueError(f"unknown fault(s) {', '.join(sorted(unknown))}; "
                                     f"known: latency_ms, latency_fraction, error_rate")
                self.faults = Faults(**{**asdict(self.faults), **changes}).validate()
            except (ValueError, TypeError) as exc:
                return error_response(400, "BadRequest", str(exc))
        return JSONResponse(asdict(self.faults))

    async def latencies_route(self, request: Request) -> Response:
        """Server-side latencies of /invocations: [[unix_time, ms, status], ...]; ?reset=1 clears them."""
        data = list(self.latencies)
        if request.query_params.get("reset") in ("1", "true"):
            self.latencies.clear()
        return JSONResponse({"latencies": data})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    hint = {404: "this server answers GET /ping and POST /invocations",
            405: "use GET /ping or POST /invocations"}.get(exc.status_code, "")
    return error_response(exc.status_code, "NotFound" if exc.status_code == 404 else "MethodNotAllowed"
                          if exc.status_code == 405 else "HTTPError",
                          f"{request.method} {request.url.path}: {exc.detail}. {hint}".strip())


def create_app(server: ModelServer) -> Starlette:
    """The ASGI app of one model server."""
    routes = [
        Route("/ping", server.ping, methods=["GET"]),
        Route("/invocations", server.invocations, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/info", server.info, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/faults", server.faults_route, methods=["GET", "POST"]),
        Route(f"{ADMIN_PREFIX}/latencies", server.latencies_route, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
