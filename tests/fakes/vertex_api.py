"""A fake of the Vertex AI REST API (v1) on 127.0.0.1, for google-cloud-aiplatform's REST transport.

It speaks the wire protocol the SDK speaks: paths
``/v1/projects/{p}/locations/{l}/...`` (custom methods after ``:``, versioned
model names ``models/{id}@{version}`` URL-encoded), proto3 JSON in camelCase,
long-running operations (done at once, or after a number of polls), and
google.rpc errors ``{"error": {"code", "message", "status"}}``. It also answers
the OAuth token endpoint (so google-auth's default chain runs for real against
a credentials file whose ``token_uri`` points here) and Cloud Logging's
``entries:list``. Every request is recorded; faults can be injected per
request. It holds no SDK code: the server is werkzeug.

Also here: :class:`StorageEmulator`, gcp-storage-emulator (PyPI) run as a
subprocess, the real GCS JSON API the adapter's storage calls go to.

Importing this module sets ``NO_GCE_CHECK=true`` before google-auth is
imported, so nothing can probe the cloud metadata server.
"""

from __future__ import annotations

import os

os.environ["NO_GCE_CHECK"] = "true"  # read once, when google.auth's metadata module is imported
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"  # belt and braces: a probe would hit a closed local port
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs, unquote  # noqa: E402

from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would drown a failure's log

PROJECT = "mlgates-test"
LOCATION = "us-central1"
TOKEN = "ya29.fake-access-token-never-printed"
TYPE_PREFIX = "type.googleapis.com/google.cloud.aiplatform.v1."

# google.rpc codes and the HTTP status REST maps them to
RPC = {"INVALID_ARGUMENT": (3, 400), "NOT_FOUND": (5, 404), "ALREADY_EXISTS": (6, 409),
       "PERMISSION_DENIED": (7, 403), "RESOURCE_EXHAUSTED": (8, 429), "FAILED_PRECONDITION": (9, 400),
       "ABORTED": (10, 409), "INTERNAL": (13, 500), "UNAVAILABLE": (14, 503), "UNAUTHENTICATED": (16, 401)}
FAULTS = {"unauthenticated": "UNAUTHENTICATED", "access_denied": "PERMISSION_DENIED",
          "throttled": "RESOURCE_EXHAUSTED", "not_found": "NOT_FOUND", "aborted": "ABORTED",
          "server_error": "INTERNAL"}

# JobState numbers (the SDK asks for enum-encoding=int)
QUEUED, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED = 1, 2, 3, 4, 5, 6, 7
FINISHED = {SUCCEEDED, FAILED, CANCELLED, 9, 11}


class RpcError(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> Response:
        code, http = RPC[self.status]
        body = {"error": {"code": http, "message": self.message, "status": self.status}}
        return Response(json.dumps(body), status=http, content_type="application/json")


@dataclasses.dataclass
class Call:
    method: str
    path: str
    """Unquoted, without the ``/v1/projects/{p}/locations/{l}/`` prefix (e.g. ``models/m@2:mergeVersionAliases``)."""
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0
    """The HTTP status the fake answered with (0 while the request is being served)."""
    answer: Any = None
    """The JSON body the fake answered with: what went back over the wire."""


@dataclasses.dataclass
class Fault:
    kind: str
    match: Callable[[Call], bool]
    times: int | None
    hits: int = 0


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """The subset of AIP-160 filters the adapter sends: ``display_name="x"``, ``labels.k="v"``, AND."""
    terms = re.findall(r'(display_name|labels\.[\w-]+)\s*=\s*"((?:[^"\\]|\\.)*)"', text or "")

    def keep(resource: dict[str, Any]) -> bool:
        for field, value in terms:
            value = value.replace('\\"', '"').replace("\\\\", "\\")
            actual = resource.get("displayName") if field == "display_name" else \
                (resource.get("labels") or {}).get(field[len("labels."):])
            if actual != value:
                return False
        return True

    return keep


class VertexFake:
    """The fake's state and HTTP server; tests play Vertex's part through its methods."""

    def __init__(self, project: str = PROJECT, location: str = LOCATION) -> None:
        self.project, self.location = project, location
        self.prefix = f"projects/{project}/locations/{location}"
        self.lock = threading.RLock()
        self.ids = itertools.count(1001)
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.reset()
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="vertex-fake")
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.jobs: dict[str, dict[str, Any]] = {}
            self.models: dict[str, dict[str, Any]] = {}
            self.endpoints: dict[str, dict[str, Any]] = {}
            self.operations: dict[str, dict[str, Any]] = {}
            self.logs: dict[str, list[str]] = {}
            self.calls.clear()
            self.faults.clear()
            self.operation_polls = 0
            """How many GETs a new long-running operation answers ``done: false`` before it is done."""
            self.operation_failures: dict[str, tuple[str, str]] = {}
            """Method (``deployModel``, ``upload``...) -> (rpc status, message): its operation fails."""
            self.predictor: Callable[[dict[str, Any], list[Any]], list[Any]] = default_predictor
            self.on_job_created: Callable[[dict[str, Any]], None] | None = None
            """Called in a thread with each new CustomJob: a test's stand-in for Vertex running it."""
            self.random = random.Random(0)

    # -- the test's side ----------------------------------------------------------------
    def fault(self, kind: str, match: Callable[[Call], bool] | None = None, times: int | None = None) -> Fault:
        fault = Fault(kind, match or (lambda c: True), times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def requests(self, method: str | None = None, pattern: str = "") -> list[Call]:
        with self.lock:
            return [c for c in self.calls if (method is None or c.method == method) and re.search(pattern, c.path)]

    def job(self, display_name: str) -> dict[str, Any]:
        with self.lock:
            return next(j for j in self.jobs.values() if j["displayName"] == display_name)

    def set_job(self, display_name: str, state: int, error: str | None = None) -> None:
        with self.lock:
            job = self.job(display_name)
            job["state"] = state
            job["updateTime"] = _now()
            if state in FINISHED:
                job["endTime"] = job["updateTime"]
            if error is not None:
                job["error"] = {"code": 3, "message": error}

    def version(self, model_id: str, version: str) -> dict[str, Any]:
        with self.lock:
            return self._version(model_id, version)

    # -- WSGI -----------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = re.sub(r"^/ui/", "/v1/", unquote(request.path))  # the SDK polls operations under /ui/
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            body = {"raw": request.get_data(as_text=True)}
        short = path
        for head in (f"/v1/{self.prefix}/", "/v1/", "/"):
            if short.startswith(head):
                short = short[len(head):]
                break
        call = Call(request.method, short, {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()},
                    {k.lower(): v for k, v in request.headers.items()}, body)
        with self.lock:
            self.calls.append(call)
            fault = next((f for f in self.faults if (f.times is None or f.hits < f.times) and f.match(call)), None)
            if fault is not None:
                fault.hits += 1
        try:
            if fault is not None:
                raise RpcError(FAULTS[fault.kind], f"injected {fault.kind}")
            if path == "/token":
                call.status = 200  # the token itself is never recorded
                return Response(json.dumps({"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}),
                                content_type="application/json")(environ, start_response)
            if call.headers.get("authorization") != f"Bearer {TOKEN}":
                raise RpcError("UNAUTHENTICATED", "Request had invalid authentication credentials.")
            if path == "/v2/entries:list":
                result: Any = self._log_entries(body)
            elif not path.startswith(f"/v1/{self.prefix}/"):
                raise RpcError("NOT_FOUND", f"unknown path {path}")
            else:
                with self.lock:
                    result = self._route(call)
        except RpcError as exc:
            call.status, call.answer = RPC[exc.status][1], json.loads(exc.response().get_data())
            return exc.response()(environ, start_response)
        call.status, call.answer = 200, result
        return Response(json.dumps(result), content_type="application/json")(environ, start_response)

    _ROUTES: list[tuple[str, str, str]] = [
        ("POST", r"customJobs", "create_job"),
        ("GET", r"customJobs", "list_jobs"),
        ("GET", r"customJobs/(\d+)", "get_job"),
        ("POST", r"customJobs/(\d+):cancel", "cancel_job"),
        ("POST", r"models:upload", "upload_model"),
        ("GET", r"models/([^/@:]+)(?:@([^/:]+))?", "get_model"),
        ("PATCH", r"models/([^/@:]+)(?:@([^/:]+))?", "update_model"),
        ("GET", r"models/([^/@:]+):listVersions", "list_versions"),
        ("POST", r"models/([^/@:]+)@([^/:]+):mergeVersionAliases", "merge_aliases"),
        ("POST", r"endpoints", "create_endpoint"),
        ("GET", r"endpoints", "list_endpoints"),
        ("GET", r"endpoints/([^/:]+)", "get_endpoint"),
        ("PATCH", r"endpoints/([^/:]+)", "update_endpoint"),
        ("DELETE", r"endpoints/([^/:]+)", "delete_endpoint"),
        ("POST", r"endpoints/([^/:]+):deployModel", "deploy_model"),
        ("POST", r"endpoints/([^/:]+):undeployModel", "undeploy_model"),
        ("POST", r"endpoints/([^/:]+):predict", "predict"),
        ("GET", r"operations/(\d+)", "get_operation"),
    ]

    def _route(self, call: Call) -> Any:
        for method, pattern, handler in self._ROUTES:
            match = re.fullmatch(pattern, call.path)
            if match and method == call.method:
                return getattr(self, "_" + handler)(call, *match.groups())
        raise RpcError("NOT_FOUND", f"the fake has no route for {call.method} {call.path}")

    # -- operations -----------------------------------------------------------------------
    def _operation(self, method: str, response: dict[str, Any] | None, type_name: str,
                   apply: Callable[[], None] | None = None) -> dict[str, Any]:
        """A long-running operation; ``apply`` changes state when it succeeds (at once, or when done)."""
        name = f"{self.prefix}/operations/{next(self.ids)}"
        failure = self.operation_failures.get(method)
        op: dict[str, Any] = {"name": name, "metadata": {"@type": TYPE_PREFIX + "GenericOperationMetadata"},
                              "done": False, "_polls": self.operation_polls, "_apply": apply,
                              "_failure": failure, "_response": response, "_type": type_name}
        self.operations[name] = op
        return self._settle(op)

    def _settle(self, op: dict[str, Any]) -> dict[str, Any]:
        if not op["done"] and op["_polls"] <= 0:
            op["done"] = True
            if op["_failure"] is not None:
                status, message = op["_failure"]
                op["error"] = {"code": RPC[status][0], "message": message}
            else:
                if op["_apply"] is not None:
                    op["_apply"]()
                type_url = "type.googleapis.com/" + op["_type"] if "." in op["_type"] else TYPE_PREFIX + op["_type"]
                op["response"] = {"@type": type_url, **(op["_response"] or {})}
        op["_polls"] -= 1
        return {k: v for k, v in op.items() if not k.startswith("_")}

    def _get_operation(self, call: Call, op_id: str) -> Any:
        op = self.operations.get(f"{self.prefix}/operations/{op_id}")
        if op is None:
            raise RpcError("NOT_FOUND", f"operation {op_id} not found")
        return self._settle(op)

    # -- custom jobs ------------------------------------------------------------------------
    def _create_job(self, call: Call) -> Any:
        job_id = str(next(self.ids))
        job = {**call.body, "name": f"{self.prefix}/customJobs/{job_id}", "state": QUEUED,
               "createTime": _now(), "updateTime": _now()}
        self.jobs[job_id] = job
        if self.on_job_created is not None:
            threading.Thread(target=self.on_job_created, args=(dict(job),), daemon=True).start()
        return job

    def _list_jobs(self, call: Call) -> Any:
        keep = _filter(call.query.get("filter", ""))
        return {"customJobs": [j for j in self.jobs.values() if keep(j)]}

    def _get_job(self, call: Call, job_id: str) -> Any:
        if job_id not in self.jobs:
            raise RpcError("NOT_FOUND", f"The CustomJob {job_id} does not exist.")
        return self.jobs[job_id]

    def _cancel_job(self, call: Call, job_id: str) -> Any:
        job = self._get_job(call, job_id)
        if job["state"] in FINISHED:
            raise RpcError("FAILED_PRECONDITION", f"Cannot cancel CustomJob {job_id} in state {job['state']}.")
        job["state"], job["endTime"] = CANCELLED, _now()  # Vertex passes CANCELLING; the fake is quick
        return {}

    # -- models ------------------------------------------------------------------------------
    def _model(self, model_id: str) -> dict[str, Any]:
        if model_id not in self.models:
            raise RpcError("NOT_FOUND", f"The Model {self.prefix}/models/{model_id} does not exist.")
        return self.models[model_id]

    def _version(self, model_id: str, ref: str | None) -> dict[str, Any]:
        model = self._model(model_id)
        ref = ref or "default"
        vid = ref if ref in model["versions"] else next(
            (v["versionId"] for v in model["versions"].values() if ref in v["versionAliases"]), None)
        if vid is None:
            raise RpcError("NOT_FOUND", f"The Model version {model_id}@{ref} does not exist.")
        return model["versions"][vid]  # type: ignore[no-any-return]

    def _upload_model(self, call: Call) -> Any:
        spec = dict(call.body.get("model") or {})
        parent_model = call.body.get("parentModel", "")
        if parent_model:
            model_id = parent_model.rsplit("/", 1)[-1]
            model = self._model(model_id)
        else:
            model_id = call.body.get("modelId") or str(next(self.ids))
            if model_id in self.models:
                raise RpcError("ALREADY_EXISTS", f"Model {self.prefix}/models/{model_id} already exists.")
            model = self.models[model_id] = {"versions": {}, "next": 1}
        vid = str(model["next"])
        model["next"] += 1
        version = {**spec, "name": f"{self.prefix}/models/{model_id}", "versionId": vid,
                   "versionAliases": ["default"] if vid == "1" else [], "etag": f"etag-{next(self.ids)}",
                   "createTime": _now(), "versionCreateTime": _now(), "versionUpdateTime": _now()}
        model["versions"][vid] = version
        return self._operation("upload", {"model": version["name"], "modelVersionId": vid}, "UploadModelResponse")

    def _get_model(self, call: Call, model_id: str, ref: str | None) -> Any:
        return self._version(model_id, ref)

    def _update_model(self, call: Call, model_id: str, ref: str | None) -> Any:
        version = self._version(model_id, ref)
        if call.body.get("etag") and call.body["etag"] != version["etag"]:
            raise RpcError("ABORTED", f"The etag {call.body['etag']} does not match the Model's current etag.")
        for path in [p for p in call.query.get("updateMask", "").split(",") if p]:
            key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)
            version[key] = call.body.get(key)
        version["etag"] = f"etag-{next(self.ids)}"
        version["versionUpdateTime"] = _now()
        return version

    def _list_versions(self, call: Call, model_id: str) -> Any:
        return {"models": list(self._model(model_id)["versions"].values())}

    def _merge_aliases(self, call: Call, model_id: str, ref: str) -> Any:
        version = self._version(model_id, ref)
        for alias in call.body.get("versionAliases", []):
            if alias.startswith("-"):
                version["versionAliases"] = [a for a in version["versionAliases"] if a != alias[1:]]
                continue
            if not re.fullmatch(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]", alias):
                raise RpcError("INVALID_ARGUMENT", f"Invalid version alias {alias!r}.")
            for other in self._model(model_id)["versions"].values():
                other["versionAliases"] = [a for a in other["versionAliases"] if a != alias]
            version["versionAliases"].append(alias)
        return version

    # -- endpoints --------------------------------------------------------------------------
    def _endpoint(self, endpoint_id: str) -> dict[str, Any]:
        if endpoint_id not in self.endpoints:
            raise RpcError("NOT_FOUND", f"Endpoint {self.prefix}/endpoints/{endpoint_id} not found.")
        return self.endpoints[endpoint_id]

    def _create_endpoint(self, call: Call) -> Any:
        endpoint_id = call.query.get("endpointId") or str(next(self.ids))
        if endpoint_id in self.endpoints:
            raise RpcError("ALREADY_EXISTS", f"Endpoint {endpoint_id} already exists.")
        endpoint = {**call.body, "name": f"{self.prefix}/endpoints/{endpoint_id}", "deployedModels": [],
                    "trafficSplit": {}, "etag": f"etag-{next(self.ids)}", "createTime": _now()}
        self.endpoints[endpoint_id] = endpoint
        return self._operation("createEndpoint", endpoint, "Endpoint")

    def _list_endpoints(self, call: Call) -> Any:
        keep = _filter(call.query.get("filter", ""))
        return {"endpoints": [e for e in self.endpoints.values() if keep(e)]}

    def _get_endpoint(self, call: Call, endpoint_id: str) -> Any:
        return self._endpoint(endpoint_id)

    @staticmethod
    def _check_split(split: dict[str, Any], ids: list[str]) -> dict[str, int]:
        unknown = set(split) - set(ids)
        if unknown:
            raise RpcError("INVALID_ARGUMENT", f"traffic_split names unknown deployed models {sorted(unknown)}.")
        clean = {k: int(v) for k, v in split.items()}
        if ids and sum(clean.values()) != 100:
            raise RpcError("INVALID_ARGUMENT", f"traffic_split must sum to 100, got {sum(clean.values())}.")
        return clean

    def _update_endpoint(self, call: Call, endpoint_id: str) -> Any:
        endpoint = self._endpoint(endpoint_id)
        if call.body.get("etag") and call.body["etag"] != endpoint["etag"]:
            raise RpcError("ABORTED", "The etag does not match the Endpoint's current etag.")
        if "trafficSplit" in call.query.get("updateMask", "").split(",") or \
                "traffic_split" in call.query.get("updateMask", ""):
            ids = [dm["id"] for dm in endpoint["deployedModels"]]
            endpoint["trafficSplit"] = {k: v for k, v in self._check_split(call.body.get("trafficSplit") or {},
                                                                          ids).items()}
        endpoint["etag"] = f"etag-{next(self.ids)}"
        return endpoint

    def _delete_endpoint(self, call: Call, endpoint_id: str) -> Any:
        endpoint = self._endpoint(endpoint_id)
        if endpoint["deployedModels"]:
            raise RpcError("FAILED_PRECONDITION", f"Endpoint {endpoint_id} has deployed models; undeploy them first.")

        def apply() -> None:
            self.endpoints.pop(endpoint_id, None)

        return self._operation("deleteEndpoint", {}, "google.protobuf.Empty", apply)

    def _deploy_model(self, call: Call, endpoint_id: str) -> Any:
        endpoint = self._endpoint(endpoint_id)
        spec = dict(call.body.get("deployedModel") or {})
        model_id, _, ref = spec.get("model", "").rsplit("/", 1)[-1].partition("@")
        version = self._version(model_id, ref or None)
        dm_id = str(next(self.ids))
        ids = [dm["id"] for dm in endpoint["deployedModels"]] + ["0"]
        split = self._check_split(call.body.get("trafficSplit") or {"0": 100}, ids)
        deployed = {**spec, "id": dm_id, "createTime": _now(), "model": spec["model"],
                    "modelVersionId": version["versionId"]}

        def apply() -> None:
            endpoint["deployedModels"].append(deployed)
            endpoint["trafficSplit"] = {(dm_id if k == "0" else k): v for k, v in split.items()}
            endpoint["etag"] = f"etag-{next(self.ids)}"

        return self._operation("deployModel", {"deployedModel": {"id": dm_id}}, "DeployModelResponse", apply)

    def _undeploy_model(self, call: Call, endpoint_id: str) -> Any:
        endpoint = self._endpoint(endpoint_id)
        dm_id = call.body.get("deployedModelId", "")
        if dm_id not in [dm["id"] for dm in endpoint["deployedModels"]]:
            raise RpcError("NOT_FOUND", f"Deployed model {dm_id} not found on endpoint {endpoint_id}.")
        rest = [dm["id"] for dm in endpoint["deployedModels"] if dm["id"] != dm_id]
        split = dict(endpoint["trafficSplit"])
        if "trafficSplit" in call.body:
            split = self._check_split(call.body["trafficSplit"] or {}, rest)
        if int(split.get(dm_id, 0)) and rest:
            raise RpcError("FAILED_PRECONDITION", f"Deployed model {dm_id} still has {split[dm_id]}% of the traffic.")

        def apply() -> None:
            endpoint["deployedModels"] = [dm for dm in endpoint["deployedModels"] if dm["id"] != dm_id]
            endpoint["trafficSplit"] = {k: v for k, v in split.items() if k != dm_id} if rest else {}
            endpoint["etag"] = f"etag-{next(self.ids)}"

        return self._operation("undeployModel", {}, "UndeployModelResponse", apply)

    def _predict(self, call: Call, endpoint_id: str) -> Any:
        endpoint = self._endpoint(endpoint_id)
        split = {k: v for k, v in endpoint["trafficSplit"].items() if v}
        if not split:
            raise RpcError("FAILED_PRECONDITION", f"Endpoint {endpoint_id} has no deployed model taking traffic.")
        dm_id = self.random.choices(list(split), weights=list(split.values()))[0]
        deployed = next(dm for dm in endpoint["deployedModels"] if dm["id"] == dm_id)
        model_id, _, ref = deployed["model"].rsplit("/", 1)[-1].partition("@")
        version = self._version(model_id, ref or None)
        instances = call.body.get("instances") or []
        return {"predictions": self.predictor(version, instances), "deployedModelId": dm_id,
                "model": version["name"], "modelVersionId": version["versionId"]}

    # -- Cloud Logging ----------------------------------------------------------------------------
    def _log_entries(self, body: dict[str, Any]) -> Any:
        match = re.search(r'resource\.labels\.job_id="(\d+)"', body.get("filter", ""))
        lines = self.logs.get(match.group(1) if match else "", [])
        size = int(body.get("pageSize") or 50)
        return {"entries": [{"textPayload": line} for line in reversed(lines)][:size]}


def default_predictor(version: dict[str, Any], instances: list[Any]) -> list[Any]:
    """What a served model answers: a number per instance that depends on the model version."""
    return [float(int(version["versionId"]) * 10 + len(json.dumps(i, sort_keys=True)) % 7) for i in instances]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StorageEmulator:
    """gcp-storage-emulator (PyPI) in memory on 127.0.0.1, as a subprocess stopped with the session."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("gcp-storage-emulator")
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "gcp_storage_emulator"]
        self.process = subprocess.Popen([*command, "start", "--host", "127.0.0.1", "--port", str(self.port),
                                         "--in-memory", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gcp-storage-emulator did not start: "
                                       f"{(self.process.stderr.read() if self.process.stderr else b'')[:500]!r}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()


def credentials_file(folder: Path, token_url: str) -> Path:
    """A workload identity federation credentials file, as google-github-actions/auth writes one, whose
    token exchange (STS) endpoint is the fake: google-auth's real default chain, no key, no network."""
    oidc = folder / "github-oidc-token.jwt"
    oidc.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvZXRhIn0.c2lnbmF0dXJl")
    path = folder / "gha-creds.json"
    path.write_text(json.dumps({
        "type": "external_account",
        "audience": f"//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/github/"
                    f"providers/{PROJECT}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": token_url,
        "credential_source": {"file": str(oidc)},
    }))
    return path
