"""A fake of Azure's ARM / Azure ML workspace management API, over HTTPS on 127.0.0.1.

It speaks the wire protocol azure-ai-ml's MLClient speaks: a generic resource
store (PUT echoes the body with ``id``, ``name``, ``type``, ``systemData`` and
``properties.provisioningState``; GET; collection GET as ``{"value": [...]}``;
DELETE), ARM errors (``{"error": {"code": "ResourceNotFound", ...}}``), ETags
with ``If-Match`` / ``If-None-Match``, long-running operations answered with an
``Azure-AsyncOperation`` status URL, ``listKeys``, ``startPendingUpload`` (a
SAS URI into Azurite), job cancel, a managed-identity token endpoint (App
Service style, what DefaultAzureCredential's ManagedIdentityCredential calls
when ``IDENTITY_ENDPOINT`` is set) and a scoring URI per endpoint, which routes
by the live split at random by weight and names the deployment that answered in
the ``azureml-model-deployment`` response header (``failing_deployments`` makes
one answer 500s).

Every request is recorded (method, path, api-version, body, headers) so tests
assert on the wire. Faults answer chosen requests with an error. The server
runs in the test process (werkzeug, threaded) and plays Azure's part: tests may
set a job's status through :meth:`ArmFake.set_job`.
"""

from __future__ import annotations

import copy
import logging
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

PROVIDER = "providers/microsoft.machinelearningservices"
TOKEN_PREFIX = "fake-arm-token-"
LRO_KINDS = ("onlineendpoints", "deployments")
COLLECTIONS = ("jobs", "models", "versions", "codes", "datastores", "environments", "onlineendpoints",
               "deployments", "computes", "data", "components")


@dataclass
class Call:
    method: str
    path: str
    api_version: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    response_status: int = 0
    response_etag: str = ""

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Fault:
    """Answer requests that ``match`` with ``status`` and an ARM error ``code``, ``times`` times (None: always)."""

    status: int
    code: str
    match: Callable[[Call], bool]
    times: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "injected by the test"
    hits: int = 0


class _Handler(WSGIRequestHandler):
    # headers and body go out in separate writes: without TCP_NODELAY each
    # response waits for the client's delayed ACK (~40 ms)
    disable_nagle_algorithm = True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


class ArmFake:
    """The fake management API; ``url`` is its base, ``calls`` what it was sent."""

    def __init__(self, cert: Any, azurite_url: str = "", azurite_sas: str = "", azurite_key: str = "") -> None:
        self.lock = threading.RLock()
        self.store: dict[str, dict[str, Any]] = {}
        self.etags: dict[str, str] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.slow_operations = False
        """Long-running operations answer InProgress on their first poll."""
        self.hold_operations = False
        """Long-running operations answer InProgress for as long as this is set."""
        self.failing_operations: dict[str, str] = {}
        """``kind`` (onlineendpoints/deployments) -> error message its next LRO fails with."""
        self.azurite_url = azurite_url
        self.azurite_sas = azurite_sas
        self.azurite_key = azurite_key
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.scores: list[dict[str, Any]] = []
        """Every scoring request as Azure routed it: endpoint, deployment (Azure's name), body, status."""
        self.failing_deployments: dict[str, str] = {}
        """Azure deployment name -> the error its scoring script raises on every request (a 500 naming it)."""
        self.random = random.Random(0)
        self._original: dict[str, str] = {}
        self._request_path = ""
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, ssl_context=ctx,
                                   request_handler=_Handler)
        self.port = self._server.server_port
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test controls --------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.store.clear()
            self.etags.clear()
            self.operations.clear()
            self.calls.clear()
            self.faults.clear()
            self.failing_operations.clear()
            self.slow_operations = False
            self.hold_operations = False
            self.scores.clear()
            self.failing_deployments.clear()
            self.random = random.Random(0)
            self._original.clear()

    def add_workspace(self, subscription: str, group: str, workspace: str) -> str:
        self._request_path = (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
                              f"Microsoft.MachineLearningServices/workspaces/{workspace}")
        path = self._request_path.lower()
        self._put(path, {"location": "westeurope", "properties": {
            "discoveryUrl": f"{self.url}/discovery", "mlFlowTrackingUri": "",
            "workspaceId": str(uuid.uuid4()), "storageAccount": "/subscriptions/x/storage"}}, "workspaces")
        self._request_path += "/datastores/workspaceblobstore"
        self._put(path + "/datastores/workspaceblobstore", {"properties": {
            "datastoreType": "AzureBlob", "accountName": "devstoreaccount1", "containerName": "azureml-blobstore",
            "endpoint": "core.windows.net", "protocol": "https", "isDefault": True,
            "credentials": {"credentialsType": "AccountKey"}}}, "datastores")
        return path

    def fault(self, status: int, code: str, match: Callable[[Call], bool] | None = None,
              times: int | None = None, headers: dict[str, str] | None = None, message: str = "") -> Fault:
        f = Fault(status, code, match or (lambda c: True), times, dict(headers or {}),
                  message or f"{code}: injected by the test")
        with self.lock:
            self.faults.append(f)
        return f

    def find(self, method: str, fragment: str) -> list[Call]:
        """Recorded calls of ``method`` whose path contains ``fragment`` (case-insensitive)."""
        with self.lock:
            return [c for c in self.calls if c.method == method and fragment.lower() in c.path.lower()]

    def resource(self, suffix: str) -> dict[str, Any] | None:
        """The stored resource whose path ends with ``suffix`` (case-insensitive)."""
        with self.lock:
            for path, body in self.store.items():
                if path.endswith(suffix.lower()):
                    return copy.deepcopy(body)
        return None

    def set_job(self, name: str, status: str, error: str = "") -> None:
        with self.lock:
            for path, body in self.store.items():
                if path.endswith(f"/jobs/{name.lower()}"):
                    body["properties"]["status"] = status
                    if error:
                        body["properties"]["error"] = {"code": "UserError", "message": error}
                        body["properties"]["statusMessage"] = error
                    self._touch(path)
                    return
        raise KeyError(name)

    # -- plumbing -------------------------------------------------------------------
    def _touch(self, path: str) -> str:
        etag = f'"{uuid.uuid4().hex}"'
        self.etags[path] = etag
        self.store[path]["etag"] = etag
        return etag

    def _put(self, path: str, body: dict[str, Any], kind: str, state: str = "Succeeded") -> dict[str, Any]:
        name = path.rsplit("/", 1)[-1]
        old = self.store.get(path)
        resource = copy.deepcopy(body)
        original = self._original.get(path) or (self._request_path if self._request_path.lower() == path else path)
        self._original[path] = original
        resource["id"] = original
        resource["name"] = original.rsplit("/", 1)[-1]
        resource["type"] = f"Microsoft.MachineLearningServices/{kind}"
        created = (old or {}).get("systemData", {}).get("createdAt", _now())
        resource["systemData"] = {"createdAt": created, "createdBy": "fake", "createdByType": "User",
                                  "lastModifiedAt": _now(), "lastModifiedBy": "fake",
                                  "lastModifiedByType": "User"}
        props = resource.setdefault("properties", {})
        props["provisioningState"] = state
        self.store[path] = resource
        self._touch(path)
        return resource

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps({"error": {"code": code, "message": message}}), status,
                        headers={"x-ms-error-code": code, **(headers or {})}, content_type="application/json")

    def _json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status, headers=headers or {}, content_type="application/json")

    def _operation(self, kind: str, done: Callable[[], None] | None = None) -> dict[str, str]:
        op = uuid.uuid4().hex
        failure = self.failing_operations.pop(kind, None)
        self.operations[op] = {"polls": 0, "failure": failure, "done": done}
        return {"Azure-AsyncOperation": f"{self.url}/operations/{op}?api-version=2023-04-01",
                "Location": f"{self.url}/operations/{op}?api-version=2023-04-01&result=location",
                "retry-after-ms": "10"}

    # -- the WSGI app ---------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = unquote(request.path).rstrip("/")
        call = Call(request.method, path, request.args.get("api-version", ""), dict(request.args),
                    {k.lower(): v for k, v in request.headers.items()}, body)
        with self.lock:
            self.calls.append(call)
            self._request_path = path
            response = None
            for f in self.faults:
                if (f.times is None or f.hits < f.times) and f.match(call):
                    f.hits += 1
                    response = self._error(f.status, f.code, f.message, f.headers)
                    break
            if response is None:
                response = self._route(call)
            call.response_status = response.status_code
            call.response_etag = response.headers.get("ETag", "")
        return response(environ, start_response)

    def _route(self, call: Call) -> Response:
        low = call.path.lower()
        if low == "/msi/token":
            return self._json({"access_token": TOKEN_PREFIX + uuid.uuid4().hex, "expires_on": str(int(time.time()) + 3600),
                               "resource": call.query.get("resource", ""), "token_type": "Bearer"})
        if low.startswith("/operations/"):
            return self._poll(low.split("/")[2], "result" in call.query)
        if low.startswith("/score/"):
            return self._score(call, low.split("/")[2])
        if not low.startswith("/subscriptions/"):
            return self._error(404, "NotFound", f"no route {call.path}")
        if not call.headers.get("authorization", "").startswith("Bearer "):
            return self._error(401, "AuthenticationFailed", "no bearer token")
        if call.method == "POST":
            return self._post(call, low)
        if call.method == "PUT":
            return self._put_route(call, low)
        if call.method == "PATCH":
            current = self.store.get(low)
            if current is None:
                return self._not_found(low)
            merged = {**current, **(call.body or {})}
            merged["properties"] = {**current.get("properties", {}), **(call.body or {}).get("properties", {})}
            return self._json(self._put(low, merged, self._kind(low)))
        if call.method == "DELETE":
            return self._delete(low)
        return self._get(call, low)

    @staticmethod
    def _kind(low: str) -> str:
        parts = low.split("/")
        return parts[-2] if len(parts) >= 2 else ""

    def _not_found(self, low: str) -> Response:
        return self._error(404, "ResourceNotFound", f"The Resource '{low.split('/')[-1]}' under "
                           f"'{'/'.join(low.split('/')[:-2])}' was not found.")

    def _get(self, call: Call, low: str) -> Response:
        if low in self.store:
            body = self.store[low]
            return self._json(body, headers={"ETag": self.etags[low]})
        last = low.rsplit("/", 1)[-1]
        if last in COLLECTIONS:
            prefix = low + "/"
            items = [v for k, v in self.store.items() if k.startswith(prefix) and "/" not in k[len(prefix):]]
            if "/codes/" in low and call.query.get("hash"):  # content-addressed code: found by hash, any name
                items = [v for k, v in self.store.items() if "/codes/" in k and "/versions/" in k and
                         ((v["properties"].get("properties") or {}).get("hash_sha256") == call.query["hash"])]
            if last == "datastores" and call.query.get("isDefault") == "true":
                items = [v for v in items if v["properties"].get("isDefault")]
            return self._json({"value": items})
        return self._not_found(low)

    def _put_route(self, call: Call, low: str) -> Response:
        kind = self._kind(low)
        current = self.etags.get(low)
        if_match = call.headers.get("if-match")
        if if_match and if_match != "*" and if_match != current:
            return self._error(412, "PreconditionFailed", f"ETag {if_match} does not match {current}; the "
                               f"resource changed since it was read")
        if if_match == "*" and current is None:
            return self._not_found(low)
        if call.headers.get("if-none-match") == "*" and current is not None:
            return self._error(412, "PreconditionFailed", "the resource already exists")
        body = dict(call.body or {})
        if kind == "versions" and "/models/" in low:
            body.setdefault("properties", {}).setdefault("flavors", {})
            self._bump_container(low)
        if kind == "versions" and "/codes/" in low:
            self._bump_container(low)
        if kind == "jobs":
            props = body.setdefault("properties", {})
            if low in self.store:  # a job's spec cannot change; only tags and the like
                props = {**self.store[low]["properties"], **{k: v for k, v in props.items() if k in ("tags",)}}
                body["properties"] = props
            else:
                props["status"] = "NotStarted"
        if kind == "onlineendpoints":
            name = low.rsplit("/", 1)[-1]
            body.setdefault("properties", {}).update({"scoringUri": f"{self.url}/score/{name}",
                                                      "swaggerUri": f"{self.url}/score/{name}/swagger.json"})
        if kind == "deployments":
            body.setdefault("properties", {}).setdefault("scaleSettings", {"scaleType": "Default"})
        if kind in LRO_KINDS:
            existed = low in self.store
            resource = self._put(low, body, kind, state="Updating" if existed else "Creating")
            headers = self._operation(kind, done=lambda: self._settle(low))
            return self._json(resource, 201 if not existed else 200, headers=headers)
        resource = self._put(low, body, kind)
        return self._json(resource, 200 if current else 201, headers={"ETag": self.etags[low]})

    def _settle(self, low: str) -> None:
        if low in self.store:
            self.store[low]["properties"]["provisioningState"] = "Succeeded"

    def _bump_container(self, low: str) -> None:
        container = low.rsplit("/versions/", 1)[0]
        version = low.rsplit("/", 1)[-1]
        if container not in self.store:
            self._put(container, {"properties": {"description": None, "tags": {}, "properties": {}}},
                      self._kind(container))
        props = self.store[container]["properties"]
        if version.isdigit():
            latest = max(int(props.get("latestVersion") or 0), int(version))
            props["latestVersion"] = str(latest)
            props["nextVersion"] = str(latest + 1)
            # a new version changes nothing a client reads for compare-and-swap: keep the ETag

    def _delete(self, low: str) -> Response:
        if low not in self.store:
            return self._not_found(low)
        kind = self._kind(low)

        def remove() -> None:
            for key in [k for k in self.store if k == low or k.startswith(low + "/")]:
                del self.store[key]
                self.etags.pop(key, None)

        if kind in LRO_KINDS:
            self.store[low]["properties"]["provisioningState"] = "Deleting"
            return Response("", 202, headers=self._operation(kind, done=remove))
        remove()
        return Response("", 200)

    def _post(self, call: Call, low: str) -> Response:
        action = low.rsplit("/", 1)[-1]
        target = low.rsplit("/", 1)[0]
        if action == "listkeys":
            if target not in self.store:
                return self._not_found(target)
            return self._json({"primaryKey": "primary-endpoint-key", "secondaryKey": "secondary-endpoint-key"})
        if action == "listsecrets":
            return self._json({"secretsType": "AccountKey", "key": self.azurite_key})
        if action == "startpendingupload":
            blob = f"{self.azurite_url}/azureml-blobstore/LocalUpload/{uuid.uuid4().hex}"
            return self._json({"blobReferenceForConsumption": {
                "blobUri": blob, "credential": {"credentialType": "SAS", "sasUri": f"{blob}?{self.azurite_sas}"}},
                "pendingUploadType": "TemporaryBlobReference", "pendingUploadId": uuid.uuid4().hex})
        if action == "cancel" and "/jobs/" in low:
            job = self.store.get(target)
            if job is None:
                return self._not_found(target)

            def cancelled() -> None:
                if job["properties"]["status"] not in ("Completed", "Failed", "Canceled"):
                    job["properties"]["status"] = "Canceled"

            job["properties"]["status"] = "CancelRequested" if job["properties"]["status"] not in (
                "Completed", "Failed", "Canceled") else job["properties"]["status"]
            return Response("", 202, headers=self._operation("jobs", done=cancelled))
        return self._error(400, "UnsupportedAction", f"the fake does not know POST {call.path}")

    def _poll(self, op_id: str, location: bool) -> Response:
        op = self.operations.get(op_id)
        if op is None:
            return self._error(404, "NotFound", "no such operation")
        op["polls"] += 1
        headers = {"retry-after-ms": "10"}
        if self.hold_operations or (op["polls"] < 2 and op["failure"] is None and self.slow_operations):
            return self._json({"status": "InProgress"}, headers=headers)
        if op["failure"]:
            return self._json({"status": "Failed", "error": {"code": "DeploymentFailed", "message": op["failure"]}},
                              headers=headers)
        if op["done"] is not None:
            op["done"]()
            op["done"] = None
        if location:
            return Response("", 200)
        return self._json({"status": "Succeeded"}, headers=headers)

    def _score(self, call: Call, endpoint: str) -> Response:
        """Azure's scoring route: a request pinned by the ``azureml-model-deployment`` header goes there, any
        other to a deployment drawn at random by the live split's weights; the answer names the deployment
        that scored it in the same header (also on a failing deployment's 500)."""
        if call.headers.get("authorization") != "Bearer primary-endpoint-key":
            return self._error(401, "Unauthorized", "bad endpoint key")
        deployment = call.headers.get("azureml-model-deployment", "")
        if not deployment:
            endpoint_body = next((v for k, v in self.store.items() if k.endswith(f"/onlineendpoints/{endpoint}")), {})
            traffic = {k: v for k, v in ((endpoint_body.get("properties") or {}).get("traffic") or {}).items() if v}
            if not traffic:
                return self._error(424, "NoLiveDeployment", f"endpoint {endpoint} sends no traffic anywhere")
            deployment = self.random.choices(list(traffic), weights=list(traffic.values()))[0]
        deployment = deployment.lower()
        named = {"azureml-model-deployment": deployment}
        failure = self.failing_deployments.get(deployment)
        self.scores.append({"endpoint": endpoint, "deployment": deployment, "body": call.body,
                            "status": 500 if failure else 200})
        if failure:
            return Response(json.dumps({"message": failure}), 500, headers=named, content_type="application/json")
        instances = (call.body or {}).get("instances", []) if isinstance(call.body, dict) else []
        return self._json({"predictions": [float(len(deployment)) for _ in instances]}, headers=named)
