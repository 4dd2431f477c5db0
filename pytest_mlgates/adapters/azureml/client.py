"""Azure ML plumbing: MLClient, a raw ARM pipeline for conditional writes, retries, error mapping.

Credentials come only from azure-identity's DefaultAzureCredential and are
never stored beyond the credential object or printed. Every Azure call of the
adapter goes through :meth:`AzureMLClient._call`, which owns retries (the SDK's
own retry policy is switched off, so a refusal is never retried behind our
back) and maps Azure errors onto the adapter's exception types.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from ...records import AccessDeniedError, AdapterError, ConflictError, NotFoundError, ThrottledError
from ..base import Clock, Sleep
from .settings import TABLE, AzureMLSettings, parse_settings

T = TypeVar("T")
RETRY_CAP_SECONDS = 30.0
ARM_API_VERSION = "2023-04-01"
CLOUD_ENV = "AZUREML_CURRENT_CLOUD"
_CLOUD_LOCK = threading.Lock()
_CREDENTIAL_HINT = (
    "pytest-mlgates takes credentials only from DefaultAzureCredential: in GitHub Actions use azure/login "
    "with OIDC (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_SUBSCRIPTION_ID), locally run `az login`, on Azure "
    "use a managed identity"
)


class PreconditionFailed(ConflictError):
    """An If-Match write lost: the resource changed since it was read."""


def _status(exc: HttpResponseError) -> int:
    return int(getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", 0) or 0)


def _code_and_message(exc: HttpResponseError) -> tuple[str, str]:
    code = str(getattr(getattr(exc, "error", None), "code", "") or "")
    message = str(getattr(getattr(exc, "error", None), "message", "") or "")
    response = getattr(exc, "response", None)
    if response is not None and (not code or not message):
        try:
            error = json.loads(response.text()).get("error", {})
            code, message = code or str(error.get("code", "")), message or str(error.get("message", ""))
        except (ValueError, AttributeError, TypeError):
            pass
    return code, message or str(exc).splitlines()[0]


def _retry_after(exc: HttpResponseError) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for key, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(key)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None
    return None


class AzureMLClient:
    """The MLClient and the adapter's call discipline."""

    name = "azureml"

    def __init__(self, settings: Any = None, *, sleep: Sleep = time.sleep, clock: Clock = time.monotonic,
                 credential: Any = None) -> None:
        self.settings = settings
        self.config: AzureMLSettings = parse_settings(
            settings.platform_table("azureml") if settings is not None else None)
        self.root = Path(getattr(settings, "root", ".") or ".")
        self._sleep = sleep
        self._clock = clock
        self._credential = credential
        self._ml: Any = None
        self._arm: Any = None
        self._random = random.Random()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        c = self.config
        return f"AzureMLAdapter(workspace={c.workspace!r}, resource_group={c.resource_group!r})"

    # -- clients ----------------------------------------------------------------------
    @property
    def credential(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        return self._credential

    def _cloud(self) -> dict[str, Any]:
        """MLClient keyword arguments that send management calls to ``resource_manager_url``."""
        url = self.config.resource_manager_url.rstrip("/")
        if not url:
            return {}
        # the SDK keeps clouds in a process-wide table by name: one name per URL
        name = "mlgates-" + hashlib.sha256(url.encode()).hexdigest()[:10]
        return {"cloud": name, "cloud_metadata": {
            "azure_portal": url + "/", "resource_manager": url + "/", "active_directory": url + "/",
            "aml_resource_id": url + "/", "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": url + "/"}}

    @property
    def arm_url(self) -> str:
        return (self.config.resource_manager_url or "https://management.azure.com").rstrip("/")

    @property
    def ml(self) -> Any:
        """The azure.ai.ml MLClient of the configured workspace (built on first use)."""
        with self._lock:
            if self._ml is None:
                from azure.ai.ml import MLClient

                c = self.config
                cloud = self._cloud()
                # MLClient records the cloud's name in os.environ; a child process (a later stage, a
                # training subprocess) importing azure.ai.ml with a name it does not know would fetch
                # the public cloud list from ARM at import time and fail. One lock for every adapter in
                # the process: two clients built at once must not each restore the other's name.
                with _CLOUD_LOCK:
                    previous = os.environ.get(CLOUD_ENV)
                    try:
                        self._ml = MLClient(self.credential, c.subscription_id, c.resource_group, c.workspace,
                                            enable_telemetry=False, retry_total=0, user_agent="pytest-mlgates",
                                            show_progress=False, **cloud)
                    finally:
                        if cloud:
                            if previous is None:
                                os.environ.pop(CLOUD_ENV, None)
                            else:
                                os.environ[CLOUD_ENV] = previous
            return self._ml

    @property
    def workspace_path(self) -> str:
        c = self.config
        return (f"/subscriptions/{c.subscription_id}/resourceGroups/{c.resource_group}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{c.workspace}")

    def arm_request(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                    headers: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str]:
        """One raw ARM request through azure-core with the same credential: (JSON body, ETag).

        Used where the SDK has no verb for it: conditional (If-Match) writes of
        a model container, the promotion's compare-and-swap.
        """
        from azure.core import PipelineClient
        from azure.core.exceptions import map_error
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy, UserAgentPolicy
        from azure.core.rest import HttpRequest

        with self._lock:
            if self._arm is None:
                scope = self.arm_url + "/.default"
                self._arm = PipelineClient(self.arm_url, policies=[
                    HeadersPolicy(), UserAgentPolicy("pytest-mlgates"),
                    BearerTokenCredentialPolicy(self.credential, scope)])
        request = HttpRequest(method, f"{self.arm_url}{path}", params={"api-version": ARM_API_VERSION},
                              headers={"Content-Type": "application/json", **(headers or {})},
                              content=json.dumps(dict(body)) if body is not None else None)
        response = self._arm.send_request(request)
        if response.status_code >= 400:
            error_map = {401: ClientAuthenticationError, 404: ResourceNotFoundError, 409: ResourceExistsError,
                         412: ResourceModifiedError}
            map_error(response.status_code, response, error_map)
            raise HttpResponseError(response=response)
        text = response.text()
        return (json.loads(text) if text else {}), str(response.headers.get("ETag", ""))

    # -- the call discipline ----------------------------------------------------------
    def _backoff(self, attempt: int, hinted: float | None) -> None:
        if hinted is not None:
            self._sleep(min(RETRY_CAP_SECONDS, hinted))
            return
        ceiling = min(RETRY_CAP_SECONDS, self.config.retry_base_seconds * 2 ** (attempt - 1))
        self._sleep(self._random.uniform(ceiling / 2, ceiling))

    def _call(self, what: str, fn: Callable[..., T], *args: Any, read: bool = False, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` with bounded retries and Azure errors mapped.

        429 is retried for every call (the request was not processed), waiting
        what Retry-After says (capped); 5xx and network errors only for reads.
        """
        attempts = self.config.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except ClientAuthenticationError as exc:
                raise self._denied(what, exc) from None
            except HttpResponseError as exc:
                status = _status(exc)
                if status == 429:
                    if attempt < attempts:
                        self._backoff(attempt, _retry_after(exc))
                        continue
                    raise ThrottledError(
                        f"Azure throttled {what} {attempts} times in a row ({_code_and_message(exc)[1]}); "
                        f"another process may be hammering the workspace or its quota is low. Retry later, or "
                        f"raise {TABLE} max_attempts"
                    ) from None
                if status >= 500 and read and attempt < attempts:
                    self._backoff(attempt, _retry_after(exc))
                    continue
                raise self._map(what, exc) from None
            except (ServiceRequestError, ServiceResponseError) as exc:
                if read and attempt < attempts:
                    self._backoff(attempt, None)
                    continue
                raise AdapterError(f"could not reach Azure for {what}: {str(exc).splitlines()[0][:200]}. Check "
                                   f"the network and {TABLE} resource_manager_url") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _denied(self, what: str, exc: Exception) -> AccessDeniedError:
        status = _status(exc) if isinstance(exc, HttpResponseError) else 0
        if status in (401, 403):
            code, message = _code_and_message(exc)  # type: ignore[arg-type]
            return AccessDeniedError(f"Azure denied {what} ({status} {code}: {message}). Grant the identity "
                                     f"a role on workspace {self.config.workspace!r} (e.g. AzureML Data "
                                     f"Scientist); {_CREDENTIAL_HINT}")
        return AccessDeniedError(f"no usable Azure credentials for {what} ({type(exc).__name__}); {_CREDENTIAL_HINT}")

    def _map(self, what: str, exc: HttpResponseError) -> AdapterError:
        status = _status(exc)
        code, message = _code_and_message(exc)
        if status in (401, 403) or code in ("AuthorizationFailed", "AuthenticationFailed", "AccessDenied"):
            return self._denied(what, exc)
        if status == 404 or code in ("ResourceNotFound", "NotFound", "UserError.NotFound"):
            return NotFoundError(f"{what} does not exist in Azure ML workspace {self.config.workspace!r}: {message}")
        if status == 412 or code in ("PreconditionFailed",):
            return PreconditionFailed(f"{what}: the resource changed since it was read ({code}): {message}")
        if status == 409:
            return ConflictError(f"{what} conflicts with the current state in Azure ML ({code}): {message}")
        return AdapterError(f"Azure rejected {what}: {status} {code}: {message}")

    def _wait(self, what: str, poller: Any) -> Any:
        """Wait for a long-running operation; a failed one is an AdapterError with Azure's reason."""
        timeout = self.config.operation_timeout_seconds
        try:
            poller.wait(timeout=timeout)  # result(timeout) would hand an unfinished result to the SDK
            if not poller.done():
                raise AdapterError(f"the Azure operation for {what} did not finish within {timeout:g} s; it may "
                                   f"still complete in the workspace. Raise {TABLE} operation_timeout_seconds "
                                   f"if it needs longer")
            return poller.result()
        except ClientAuthenticationError as exc:
            raise self._denied(what, exc) from None
        except HttpResponseError as exc:
            if _status(exc) in (401, 403, 404, 409, 412, 429):
                raise self._map(what, exc) from None
            code, message = _code_and_message(exc)
            raise AdapterError(f"the Azure operation for {what} failed: {code + ': ' if code else ''}{message}") from None

    def close(self) -> None:
        with self._lock:
            for client in (self._ml, self._arm):
                closer = getattr(client, "close", None)
                if callable(closer):
                    try:
                        closer()
                    except Exception:  # noqa: BLE001 - closing must not mask the run's result
                        pass
            self._ml = self._arm = None
            credential, self._credential = self._credential, None
        closer = getattr(credential, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing must not mask the run's result
                pass
