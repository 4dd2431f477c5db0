"""Managed online endpoints and deployments, within Azure's rules.

- A new deployment starts at 0%; live traffic is whole percentages summing to
  100 (or 0); ``mirror_traffic`` copies at most 50% to one deployment that takes
  no live traffic. Every split is checked before anything is sent.
- Names are 3-32 characters (see :mod:`.names`); a requested name that does
  not fit is shortened deterministically and kept in a tag.
- A deployment with live traffic (or the mirror) is never deleted: its share
  must be moved first.
- Invocation posts to the endpoint's scoring URI with the endpoint key,
  pinned to a deployment with the ``azureml-model-deployment`` header; Azure
  names the deployment that answered in the same response header (``served_by``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...attribution import ServedBy
from ...endpoint_client import AZUREML_DEPLOYMENT_HEADER
from ...records import (
    AccessDeniedError,
    AdapterError,
    DeployOptions,
    Endpoint,
    ModelVersion,
    NotFoundError,
    ThrottledError,
)
from ...traffic import TrafficError, check_traffic
from .names import REQUESTED_NAME_TAG, azure_name
from .registry import RegistryMixin

if TYPE_CHECKING:
    from ...packaging import ServingEntry

MANAGED_TAG = "mlgates.managed"
MODEL_TAG = "mlgates.model-version"


def precheck_split(traffic: Mapping[str, Any], mirror: Mapping[str, Any] | None) -> None:
    """The rules a split must obey whatever the endpoint holds, checked before any request."""
    names = list(dict.fromkeys([*traffic, *(mirror or {})]))
    check_traffic(names, traffic, mirror or {})


class EndpointsMixin(RegistryMixin):
    """Endpoint verbs of the adapter."""

    _scoring: dict[str, tuple[str, str]]
    """Endpoint name -> (scoring URI, key), read once per endpoint: invocations are the load test's hot path."""

    def _endpoint_obj(self, name: str) -> Any:
        return self._call(f"endpoint {name!r}", self.ml.online_endpoints.get, name, read=True)

    def _deployments(self, name: str) -> dict[str, str]:
        """Azure deployment name -> the name it was requested as (its tag), for every deployment."""
        deployments = self._call(f"deployments of {name!r}",
                                 lambda: list(self.ml.online_deployments.list(endpoint_name=name)), read=True)
        found = {}
        for d in deployments:
            azure = str(d.name).lower()
            requested = (getattr(d, "tags", None) or {}).get(REQUESTED_NAME_TAG, azure)
            found[azure] = requested if azure_name(requested) == azure else azure
        return dict(sorted(found.items()))

    @staticmethod
    def _endpoint_from(obj: Any, deployments: Mapping[str, str], live: Mapping[str, int] | None = None,
                       mirror: Mapping[str, int] | None = None) -> Endpoint:
        """The endpoint as callers know it: deployments under the names they asked for."""
        if live is None:
            live = {str(k).lower(): int(v) for k, v in (getattr(obj, "traffic", None) or {}).items()}
        if mirror is None:
            mirror = {str(k).lower(): int(v) for k, v in (getattr(obj, "mirror_traffic", None) or {}).items()}
        return Endpoint(name=str(obj.name), url=str(getattr(obj, "scoring_uri", "") or ""),
                        traffic={requested: int(live.get(azure, 0)) for azure, requested in deployments.items()},
                        mirror={deployments.get(k, k): int(v) for k, v in mirror.items() if v})

    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        name = azure_name(endpoint_name)
        obj = self._endpoint_obj(name)
        return self._endpoint_from(obj, self._deployments(name))

    def list_endpoints(self) -> list[Endpoint]:
        endpoints = self._call("online endpoints", lambda: list(self.ml.online_endpoints.list()), read=True)
        return [self._endpoint_from(e, self._deployments(e.name)) for e in endpoints
                if (getattr(e, "tags", None) or {}).get(MANAGED_TAG) == "true"]

    def serving_entry(self) -> ServingEntry:
        """Deployments serve with ``scoring_script`` or pytest-mlgates' score.py, called by
        azureml-inference-server-http's init()/run(); registration runs it first."""
        from ...packaging import ServingEntry

        script = self.settings_path(self.config.scoring_script) if self.config.scoring_script else None
        return ServingEntry("azureml", script)

    @contextmanager
    def _scoring_code(self) -> Iterator[tuple[Path, str]]:
        """(code folder, script) of deployments: ``scoring_script``'s folder, or pytest-mlgates' serving entry
        (score.py + mlgates_runtime.py, which check the model's digest) written to a temporary folder."""
        if self.config.scoring_script:
            script = self.settings_path(self.config.scoring_script)
            yield script.parent, script.name
            return
        from ...packaging import write_code_folder

        with tempfile.TemporaryDirectory(prefix="mlgates-azureml-score-") as tmp:
            entry = write_code_folder("azureml", Path(tmp) / "score")
            yield entry.parent, entry.name

    def _put_endpoint(self, obj: Any, what: str) -> Any:
        poller = self._call(what, self.ml.online_endpoints.begin_create_or_update, obj)
        return self._wait(what, poller)

    def deploy_to_endpoint(self, endpoint_name: str, model: ModelVersion, deployment_name: str,
                           options: DeployOptions | None = None) -> Endpoint:
        from azure.ai.ml.entities import CodeConfiguration, ManagedOnlineDeployment, ManagedOnlineEndpoint

        options = self.check_deploy_options(options)
        cfg = self.config
        name, deployment = azure_name(endpoint_name), azure_name(deployment_name)
        if options.traffic is not None:
            precheck_split({azure_name(k): v for k, v in options.traffic.items()}, None)
        try:
            self._endpoint_obj(name)
            existing = list(self._deployments(name))
        except NotFoundError:
            self._put_endpoint(ManagedOnlineEndpoint(
                name=name, auth_mode="key", description=f"pytest-mlgates endpoint {endpoint_name}",
                tags={**cfg.tags, MANAGED_TAG: "true", REQUESTED_NAME_TAG: endpoint_name}), f"endpoint {name!r}")
            existing = []
        with self._scoring_code() as (code, script):
            spec = ManagedOnlineDeployment(
                name=deployment, endpoint_name=name, model=f"azureml:{model.name}:{model.version}",
                environment=cfg.inference_environment or cfg.environment,
                code_configuration=CodeConfiguration(code=str(code), scoring_script=script),
                environment_variables={"MLGATES_SHA256": model.sha256},  # the runtime refuses any other model
                instance_type=options.instance_type or cfg.instance_type,
                instance_count=options.instance_count or cfg.instance_count,
                tags={**cfg.tags, MODEL_TAG: model.id, "mlgates.sha256": model.sha256,
                      REQUESTED_NAME_TAG: deployment_name})
            what = f"deployment {deployment!r} of endpoint {name!r}"
            poller = self._call(what, self.ml.online_deployments.begin_create_or_update, spec,
                                skip_script_validation=True)
            self._wait(what, poller)
        if options.traffic is not None:
            return self.set_traffic(name, options.traffic)
        if not existing:  # Azure starts every deployment at 0%: the first one takes the traffic now
            return self.set_traffic(name, {deployment: 100})
        return self.get_endpoint(name)

    def set_traffic(self, endpoint_name: str, traffic: Mapping[str, int],
                    mirror: Mapping[str, int] | None = None) -> Endpoint:
        self.check_mirror(mirror)
        name = azure_name(endpoint_name)
        wanted = {azure_name(k): v for k, v in traffic.items()}
        shadow = {azure_name(k): v for k, v in (mirror or {}).items()}
        precheck_split(wanted, shadow)
        obj = self._endpoint_obj(name)
        deployments = self._deployments(name)
        try:
            live, shadow = check_traffic(list(deployments), wanted, shadow, self.capabilities.max_mirror_percent)
        except TrafficError as exc:
            raise TrafficError(f"{exc} (Azure ML endpoint {name!r})") from None
        obj.traffic = {k: v for k, v in live.items() if v}
        obj.mirror_traffic = dict(shadow)
        self._put_endpoint(obj, f"traffic of endpoint {name!r}")
        return self._endpoint_from(obj, deployments, live, shadow)

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        name, deployment = azure_name(endpoint_name), azure_name(deployment_name)
        obj = self._endpoint_obj(name)
        deployments = self._deployments(name)
        live = {str(k).lower(): int(v) for k, v in (obj.traffic or {}).items()}
        if deployment not in deployments:
            raise NotFoundError(f"endpoint {name!r} has no deployment {deployment_name!r}; deployments: "
                                f"{', '.join(deployments.values()) or '(none)'}")
        if live.get(deployment):
            raise TrafficError(f"deployment {deployment_name!r} still takes {live[deployment]}% of the live traffic "
                               f"of {name!r}, and Azure refuses to delete it; move it away with set_traffic first")
        if {str(k).lower(): v for k, v in (obj.mirror_traffic or {}).items()}.get(deployment):
            obj.mirror_traffic = {}
            self._put_endpoint(obj, f"mirror of endpoint {name!r}")
        what = f"deployment {deployment!r} of endpoint {name!r}"
        poller = self._call(what, self.ml.online_deployments.begin_delete, name=deployment, endpoint_name=name)
        self._wait(what, poller)
        return self.get_endpoint(name)

    def delete_endpoint(self, endpoint_name: str) -> None:
        name = azure_name(endpoint_name)
        self._endpoint_obj(name)  # NotFoundError before anything is sent
        poller = self._call(f"endpoint {name!r}", self.ml.online_endpoints.begin_delete, name=name)
        self._wait(f"deleting endpoint {name!r}", poller)
        self._scoring_cache().pop(name, None)

    def _scoring_cache(self) -> dict[str, tuple[str, str]]:
        if not hasattr(self, "_scoring"):
            self._scoring = {}
        return self._scoring

    def _scoring_target(self, name: str) -> tuple[str, str]:
        """(scoring URI, endpoint key) of an endpoint, read once."""
        cache = self._scoring_cache()
        if name not in cache:
            obj = self._endpoint_obj(name)
            auth = self._call(f"keys of endpoint {name!r}", self.ml.online_endpoints.get_keys, name)
            cache[name] = (str(obj.scoring_uri), str(auth.primary_key))
        return cache[name]

    def http_target(self, endpoint_name: str) -> tuple[str, str, dict[str, str]]:
        """The scoring URI split into (base, path) with the endpoint key: load tests POST there directly."""
        from urllib.parse import urlsplit

        uri, key = self._scoring_target(azure_name(endpoint_name))
        parts = urlsplit(uri)
        return f"{parts.scheme}://{parts.netloc}", parts.path or "/score", {"Authorization": f"Bearer {key}"}

    def served_by(self, endpoint_name: str) -> ServedBy:
        """Azure names the deployment that scored a request in the ``azureml-model-deployment`` response
        header, under its own (possibly shortened) name: mapped back to the names deployments were asked as."""
        return ServedBy(header=AZUREML_DEPLOYMENT_HEADER, names=self._deployments(azure_name(endpoint_name)))

    def invoke_endpoint(self, endpoint_name: str, body: Mapping[str, Any],
                        deployment: str | None = None) -> dict[str, Any]:
        """POST ``body`` to the scoring URI with the endpoint key; returns ``{"predictions": [...]}``."""
        import requests

        name = azure_name(endpoint_name)
        cache = self._scoring_cache()
        uri, key = self._scoring_target(name)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if deployment:
            headers[AZUREML_DEPLOYMENT_HEADER] = azure_name(deployment)
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                response = requests.post(uri, data=json.dumps(dict(body)), headers=headers, timeout=60)
            except requests.RequestException as exc:
                raise AdapterError(f"could not reach the scoring URI of endpoint {name!r}: {exc}") from None
            if response.status_code == 429 and attempt < self.config.max_attempts:
                self._backoff(attempt, float(response.headers.get("Retry-After", 1) or 1))
                continue
            break
        if response.status_code == 429:
            raise ThrottledError(f"endpoint {name!r} throttled {self.config.max_attempts} requests in a row")
        if response.status_code in (401, 403):
            cache.pop(name, None)
            raise AccessDeniedError(f"endpoint {name!r} refused its key ({response.status_code}); the key may have "
                                    f"been regenerated, run again")
        if response.status_code == 404:
            raise NotFoundError(f"endpoint {name!r} has no deployment {deployment!r} or no scoring route")
        if response.status_code >= 400:
            raise AdapterError(f"endpoint {name!r} answered {response.status_code}: {response.text[:200]}")
        try:
            answer = response.json()
        except ValueError:
            raise AdapterError(f"endpoint {name!r} answered something that is not JSON: {response.text[:200]!r}") from None
        if not isinstance(answer, dict) or "predictions" not in answer:
            raise AdapterError(f"endpoint {name!r} answered {str(answer)[:200]}, without \"predictions\"; the scoring "
                               f"script must return {{\"predictions\": [...]}}")
        return answer
