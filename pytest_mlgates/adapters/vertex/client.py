"""Vertex AI plumbing: credentials, REST clients, bounded retries, error mapping, operations.

The adapter drives the GAPIC clients of ``google.cloud.aiplatform_v1`` (part of
google-cloud-aiplatform) over REST, one set per adapter instance, rather than
the high-level ``aiplatform`` objects: those keep global state
(``aiplatform.init``), wait with fixed sleeps (``job.wait()``), retry on their
own for minutes and rescale traffic splits on the client. Here every call has
an explicit timeout, ``retry=None`` and our own bounded retry; every
long-running operation is polled by our own loop. Credentials come only from
google-auth's default chain and are never printed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google.api_core.exceptions as gexc
import google.auth
import google.auth.exceptions
from google.api_core.client_options import ClientOptions
from google.cloud import aiplatform_v1
from google.longrunning import operations_pb2

from ...records import (
    AccessDeniedError,
    AdapterError,
    ConflictError,
    NotFoundError,
    ThrottledError,
)
from ..base import Clock, Sleep
from .settings import TABLE, VertexSettings, parse_settings

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
RETRY_CAP_SECONDS = 30.0
_READ_PREFIXES = ("get_", "list_", "read", "download", "exists", "reload")
_CREDENTIALS_LOCK = threading.Lock()

# google.rpc.Code numbers, as they appear in a failed operation's error
_RPC_NOT_FOUND, _RPC_ALREADY_EXISTS, _RPC_PERMISSION_DENIED = 5, 6, 7
_RPC_RESOURCE_EXHAUSTED, _RPC_ABORTED, _RPC_UNAUTHENTICATED = 8, 10, 16


class VertexClient:
    """Credentials, the REST clients and Google API errors mapped to the adapter's errors.

    Every Vertex AI and Cloud Storage call of the adapter goes through :meth:`_call`.
    """

    name = "vertex"

    def __init__(
        self,
        settings: Any = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.config: VertexSettings = parse_settings(
            settings.platform_table("vertex") if settings is not None else None)
        self.root = Path(getattr(settings, "root", ".") or ".")
        self._sleep = sleep
        self._clock = clock
        self._credentials: Any = None  # google-auth's default chain, on first use
        self._clients: dict[str, Any] = {}
        self._storage: Any = None
        self._random = random.Random()
        self._job_names: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"VertexAdapter(project={self.config.project!r}, location={self.config.location!r})"

    # -- plumbing -------------------------------------------------------------
    @property
    def api_endpoint(self) -> str:
        return self.config.api_endpoint.rstrip("/") or f"{self.config.location}-aiplatform.googleapis.com"

    def credentials(self) -> Any:
        """google-auth's default chain, scoped for Cloud Platform; the project is ours, never looked up."""
        with _CREDENTIALS_LOCK:
            if self._credentials is None:
                try:
                    self._credentials = self._default_credentials()
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    raise AccessDeniedError(
                        f"no usable Google credentials ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
                        f"pytest-mlgates takes them only from google-auth's default chain: set "
                        f"GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or use "
                        f"google-github-actions/auth (workload identity federation) in CI"
                    ) from None
            return self._credentials

    def _default_credentials(self) -> Any:
        """``google.auth.default``, shown our project: left alone it looks the project up (Cloud Resource
        Manager for workload identity, the metadata server on GCE), and ours is always explicit."""
        import os

        if os.environ.get("GOOGLE_CLOUD_PROJECT"):
            return google.auth.default(scopes=list(SCOPES))[0]
        os.environ["GOOGLE_CLOUD_PROJECT"] = self.config.project
        try:
            return google.auth.default(scopes=list(SCOPES))[0]
        finally:
            os.environ.pop("GOOGLE_CLOUD_PROJECT", None)

    def _service(self, kind: str) -> Any:
        """One GAPIC REST client per service (job, model, endpoint, prediction)."""
        with _CREDENTIALS_LOCK:
            client = self._clients.get(kind)
        if client is None:
            classes = {"job": aiplatform_v1.JobServiceClient, "model": aiplatform_v1.ModelServiceClient,
                       "endpoint": aiplatform_v1.EndpointServiceClient,
                       "prediction": aiplatform_v1.PredictionServiceClient}
            client = classes[kind](credentials=self.credentials(), transport="rest",
                                   client_options=ClientOptions(api_endpoint=self.api_endpoint))
            with _CREDENTIALS_LOCK:
                client = self._clients.setdefault(kind, client)
        return client

    def _backoff(self, attempt: int) -> None:
        ceiling = min(RETRY_CAP_SECONDS, self.config.retry_base_seconds * 2 ** (attempt - 1))
        self._sleep(self._random.uniform(ceiling / 2, ceiling))

    def _call(self, method: Callable[..., Any], what: str, *, storage: bool = False, **kwargs: Any) -> Any:
        """One call with an explicit timeout, no SDK retry, and our bounded retries.

        Throttling is retried for every call (the request was not processed);
        5xx only for reads, where a repeat cannot create twice. Access denied
        is reported at once.
        """
        name = getattr(method, "__name__", "call")
        read_only = name.startswith(_READ_PREFIXES)
        attempts = self.config.max_attempts
        if not storage:
            kwargs.setdefault("retry", None)
        kwargs.setdefault("timeout", self.config.call_timeout_seconds)
        for attempt in range(1, attempts + 1):
            try:
                return method(**kwargs)
            except (gexc.TooManyRequests, gexc.ResourceExhausted) as exc:
                if attempt < attempts:
                    self._backoff(attempt)
                    continue
                raise ThrottledError(
                    f"Google throttled {what} {attempts} times in a row (429 RESOURCE_EXHAUSTED: {_message(exc)}); "
                    f"another process may be hammering the API or the project's quota is low. Retry later, or "
                    f"raise {TABLE} max_attempts / retry_base_seconds"
                ) from None
            except (gexc.ServerError, gexc.ServiceUnavailable) as exc:
                if read_only and attempt < attempts:
                    self._backoff(attempt)
                    continue
                raise AdapterError(f"Vertex AI failed {what}: HTTP {exc.code}: {_message(exc)}") from None
            except gexc.GoogleAPICallError as exc:
                raise self._map_error(what, exc) from None
            except google.auth.exceptions.RefreshError as exc:
                raise AccessDeniedError(
                    f"Google refused the credentials while calling {what} ({str(exc)[:200]}); refresh them "
                    f"(gcloud auth application-default login) or check the workload identity provider"
                ) from None
            except (google.auth.exceptions.TransportError, ConnectionError, OSError) as exc:
                if read_only and attempt < attempts:
                    self._backoff(attempt)
                    continue
                raise AdapterError(
                    f"could not reach Google for {what}: {type(exc).__name__}: {str(exc)[:200]}. Check the network "
                    f"and {TABLE} api_endpoint / storage_endpoint"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _map_error(self, what: str, exc: gexc.GoogleAPICallError) -> AdapterError:
        status = _rpc_status(exc)
        message = _message(exc)
        if isinstance(exc, (gexc.Unauthorized, gexc.Unauthenticated, gexc.Forbidden, gexc.PermissionDenied)):
            return AccessDeniedError(
                f"Google denied {what}: {exc.code} {status}: {message}. The credentials come from google-auth's "
                f"default chain (GOOGLE_APPLICATION_CREDENTIALS, gcloud, workload identity); grant that identity "
                f"the permission (e.g. roles/aiplatform.user) in project {self.config.project!r}"
            )
        if isinstance(exc, gexc.NotFound):
            return NotFoundError(f"{what} does not exist on Vertex AI in {self.config.parent}: {message}")
        if isinstance(exc, gexc.Conflict) or status in ("ABORTED", "ALREADY_EXISTS"):
            return _Conflict(f"{what} conflicts with the current state on Vertex AI ({status or exc.code}): "
                             f"{message}", status)
        return AdapterError(f"Vertex AI rejected {what}: {exc.code} {status}: {message}")

    def _rpc_error(self, what: str, code: int, message: str) -> AdapterError:
        """The adapter's error for a google.rpc.Status carried by a failed operation."""
        if code in (_RPC_PERMISSION_DENIED, _RPC_UNAUTHENTICATED):
            return AccessDeniedError(f"Google denied {what} (code {code}): {message}; grant the identity the "
                                     f"permission in project {self.config.project!r}")
        if code == _RPC_NOT_FOUND:
            return NotFoundError(f"{what}: {message}")
        if code in (_RPC_ABORTED, _RPC_ALREADY_EXISTS):
            return ConflictError(f"{what} conflicts with the current state on Vertex AI: {message}")
        if code == _RPC_RESOURCE_EXHAUSTED:
            return ThrottledError(f"{what} ran out of quota on Vertex AI: {message}; raise the quota or retry later")
        return AdapterError(f"the operation of {what} failed on Vertex AI (code {code}): {message}")

    def _wait_operation(self, client: Any, operation: Any, what: str, result_type: Any = None) -> Any:
        """Poll a long-running operation with our own loop and deadline; the decoded response."""
        current = getattr(operation, "operation", operation)
        deadline = self._clock() + self.config.operation_timeout_seconds
        while not current.done:
            if self._clock() >= deadline:
                raise AdapterError(
                    f"{what} did not finish within {self.config.operation_timeout_seconds:g} s (operation "
                    f"{current.name}); raise {TABLE} operation_timeout_seconds or check it in the console")
            self._sleep(min(self.config.operation_poll_seconds, max(0.0, deadline - self._clock())) or 0.01)
            current = self._call(client.get_operation, f"operation of {what}",
                                 request=operations_pb2.GetOperationRequest(name=current.name))
        if current.HasField("error"):
            raise self._rpc_error(what, current.error.code, current.error.message)
        if result_type is None:
            return None
        return result_type.deserialize(current.response.value)

    def close(self) -> None:
        with _CREDENTIALS_LOCK:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                client.transport.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        if self._storage is not None:
            try:
                self._storage.close()
            except Exception:  # noqa: BLE001
                pass
            self._storage = None


class _Conflict(ConflictError):
    """A 409: ``status`` tells an etag mismatch (ABORTED) from a name taken (ALREADY_EXISTS)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


def _rpc_status(exc: gexc.GoogleAPICallError) -> str:
    response = getattr(exc, "response", None)
    try:
        return str(response.json().get("error", {}).get("status", "")) if response is not None else ""
    except Exception:  # noqa: BLE001 - not JSON
        return ""


def _message(exc: gexc.GoogleAPICallError) -> str:
    return str(getattr(exc, "message", "") or exc)[:500]
