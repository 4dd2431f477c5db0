"""Vertex AI endpoints: a deployed model per deployment, traffic splits sent whole.

Every ``deployModel``, ``undeployModel`` and traffic update carries an explicit,
complete ``traffic_split`` (key ``"0"`` is the model being deployed), checked
with ``traffic.check_traffic`` before anything is sent, so Vertex never
rescales shares by itself. A model is undeployed only once its traffic moved.
Vertex's v1 API cannot mirror traffic: the shadow gate replays the same rows to
both deployments from the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.protobuf import field_mask_pb2, json_format

from ...attribution import ServedBy
from ...records import AccessDeniedError, AdapterError, DeployOptions, Endpoint, ModelVersion, NotFoundError, UnsupportedError
from ...traffic import TrafficError, check_traffic
from . import names
from .client import _Conflict
from .registry import RegistryMixin

NEW_DEPLOYMENT = "0"
"""The key of ``traffic_split`` that stands for the model being deployed."""


def _check_split(deployments: list[str], traffic: Mapping[str, Any]) -> dict[str, int]:
    try:
        live, _ = check_traffic(deployments, traffic, {})
    except TrafficError as exc:
        raise TrafficError(f"{exc} (Vertex AI traffic_split)") from None
    if deployments and sum(live.values()) != 100:
        raise TrafficError("a Vertex AI endpoint with deployed models sends all its traffic somewhere: the "
                           "percentages sum to 0, give the deployments shares that sum to 100")
    return live


class EndpointsMixin(RegistryMixin):
    """Endpoint verbs of the adapter."""

    def endpoint_resource(self, endpoint_name: str) -> str:
        return f"{self.config.parent}/endpoints/{names.resource_id(endpoint_name)}"

    def _api_base(self) -> str:
        return self.api_endpoint if self.api_endpoint.startswith(("http://", "https://")) \
            else f"https://{self.api_endpoint}"

    def _endpoint_url(self, resource: str) -> str:
        return f"{self._api_base()}/v1/{resource}:predict"

    def _get_endpoint(self, endpoint_name: str) -> types.Endpoint:
        return self._call(self._service("endpoint").get_endpoint,  # type: ignore[no-any-return]
                          f"endpoint {endpoint_name!r}", name=self.endpoint_resource(endpoint_name))

    @staticmethod
    def _deployments(endpoint: types.Endpoint) -> dict[str, types.DeployedModel]:
        """Deployed models by deployment name (their display name)."""
        return {dm.display_name: dm for dm in endpoint.deployed_models}

    def _endpoint_from(self, endpoint: types.Endpoint) -> Endpoint:
        split = dict(endpoint.traffic_split)
        traffic = {name: int(split.get(dm.id, 0)) for name, dm in self._deployments(endpoint).items()}
        return Endpoint(name=endpoint.display_name or endpoint.name.rsplit("/", 1)[-1],
                        url=self._endpoint_url(endpoint.name), traffic=traffic)

    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        return self._endpoint_from(self._get_endpoint(endpoint_name))

    def list_endpoints(self) -> list[Endpoint]:
        """Endpoints that mlgates created (label ``managed-by=pytest-mlgates``) in the location."""
        client = self._service("endpoint")
        request = types.ListEndpointsRequest(parent=self.config.parent, page_size=100,
                                             filter='labels.managed-by="pytest-mlgates"')
        found: list[Endpoint] = []
        while True:
            page = self._call(client.list_endpoints, "endpoints", request=request)
            found += [self._endpoint_from(e) for e in page.endpoints]
            if not page.next_page_token:
                return found
            request.page_token = page.next_page_token

    def _create_endpoint(self, endpoint_name: str) -> types.Endpoint:
        client = self._service("endpoint")
        what = f"endpoint {endpoint_name!r}"
        endpoint = types.Endpoint(display_name=endpoint_name[:128], labels=self.base_labels())
        try:
            operation = self._call(client.create_endpoint, what, parent=self.config.parent, endpoint=endpoint,
                                   endpoint_id=names.resource_id(endpoint_name))
        except _Conflict as exc:
            if exc.status != "ALREADY_EXISTS":
                raise
            return self._get_endpoint(endpoint_name)  # created by a concurrent run meanwhile: use it
        self._wait_operation(client, operation, what)
        return self._get_endpoint(endpoint_name)

    def _undeploy(self, endpoint: types.Endpoint, deployed_id: str, split: Mapping[str, int], what: str) -> None:
        client = self._service("endpoint")
        operation = self._call(client.undeploy_model, what, endpoint=endpoint.name, deployed_model_id=deployed_id,
                               traffic_split=dict(split))
        self._wait_operation(client, operation, what)

    def deploy_to_endpoint(
        self, endpoint_name: str, model: ModelVersion, deployment_name: str, options: DeployOptions | None = None
    ) -> Endpoint:
        """Deploy ``model`` as deployment ``deployment_name`` of the endpoint (created when missing).

        The first deployment takes 100%, a later one 0%, a redeployed one keeps
        its share: the new deployed model takes it in the same step and the old
        one is undeployed once it has none. ``outlive_run`` changes nothing: a
        Vertex endpoint outlives the process until ``delete_endpoint``.
        """
        opts = self.check_deploy_options(options)  # type: ignore[attr-defined]
        if not deployment_name or len(deployment_name) > 128:
            raise ValueError(f"deployment name {deployment_name!r} must be 1-128 characters on Vertex AI")
        version = self._get_model(model.name, str(model.version))
        created = False
        try:
            endpoint = self._get_endpoint(endpoint_name)
        except NotFoundError:
            endpoint, created = self._create_endpoint(endpoint_name), True
        try:
            return self._deploy(endpoint, endpoint_name, version, deployment_name, opts)
        except BaseException:
            if created:  # a new endpoint whose first model never came up is ours to remove
                try:
                    self.delete_endpoint(endpoint_name)
                except AdapterError:
                    pass
            raise

    def _deploy(self, endpoint: types.Endpoint, endpoint_name: str, version: types.Model, deployment: str,
                opts: DeployOptions) -> Endpoint:
        current = self._endpoint_from(endpoint).traffic
        deployed = self._deployments(endpoint)
        order = list(current) + ([] if deployment in current else [deployment])
        if opts.traffic is not None:
            weights = _check_split(order, opts.traffic)
        elif not current:
            weights = {deployment: 100}
        else:
            weights = {name: current.get(name, 0) for name in order}
        split = {deployed[name].id: pct for name, pct in weights.items() if name != deployment}
        split[NEW_DEPLOYMENT] = weights[deployment]
        replaced = deployed.get(deployment)
        if replaced is not None:
            split[replaced.id] = 0  # the new model takes its share in the same step
        cfg = self.config
        resources: dict[str, Any] = {"machine_spec": {"machine_type": opts.instance_type or cfg.endpoint_machine_type},
                                     "min_replica_count": opts.instance_count or cfg.endpoint_min_replicas,
                                     "max_replica_count": max(opts.instance_count or 0, cfg.endpoint_max_replicas)}
        dm: dict[str, Any] = {"model": version.name if "@" in version.name else f"{version.name}@{version.version_id}",
                              "display_name": deployment, "dedicated_resources": resources}
        if cfg.service_account:
            dm["service_account"] = cfg.service_account
        client = self._service("endpoint")
        what = f"deployment {deployment!r} of endpoint {endpoint_name!r}"
        operation = self._call(client.deploy_model, what, endpoint=endpoint.name,
                               deployed_model=types.DeployedModel(dm), traffic_split=split)
        self._wait_operation(client, operation, what, types.DeployModelResponse)
        if replaced is not None:
            fresh = self._get_endpoint(endpoint_name)
            rest = {k: v for k, v in dict(fresh.traffic_split).items() if k != replaced.id}
            self._undeploy(fresh, replaced.id, rest, f"the replaced model of deployment {deployment!r}")
        return self.get_endpoint(endpoint_name)

    def set_traffic(
        self,
        endpoint_name: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int] | None = None,
    ) -> Endpoint:
        self.check_mirror(mirror)  # type: ignore[attr-defined]
        endpoint = self._get_endpoint(endpoint_name)
        deployed = self._deployments(endpoint)
        weights = _check_split(list(deployed), traffic)
        update = types.Endpoint(name=endpoint.name, etag=endpoint.etag,
                                traffic_split={deployed[name].id: pct for name, pct in weights.items()})
        self._call(self._service("endpoint").update_endpoint, f"traffic of endpoint {endpoint_name!r}",
                   endpoint=update, update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]))
        return self.get_endpoint(endpoint_name)

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        """Undeploy a deployment that takes no traffic (a rolled-back or replaced model)."""
        endpoint = self._get_endpoint(endpoint_name)
        live = self._endpoint_from(endpoint).traffic
        if deployment_name not in live:
            raise NotFoundError(f"endpoint {endpoint_name!r} has no deployment {deployment_name!r}; "
                                f"deployments: {', '.join(live) or '(none)'}")
        if live[deployment_name]:
            raise TrafficError(f"deployment {deployment_name!r} still takes {live[deployment_name]}% of the traffic "
                               f"of {endpoint_name!r}; move it away with set_traffic first")
        target = self._deployments(endpoint)[deployment_name]
        rest = {k: v for k, v in dict(endpoint.traffic_split).items() if k != target.id}
        self._undeploy(endpoint, target.id, rest, f"deployment {deployment_name!r} of {endpoint_name!r}")
        return self.get_endpoint(endpoint_name)

    def delete_endpoint(self, endpoint_name: str) -> None:
        """Undeploy every model, moving traffic off each one first, then delete the endpoint."""
        endpoint = self._get_endpoint(endpoint_name)
        split = {dm.id: int(dict(endpoint.traffic_split).get(dm.id, 0)) for dm in endpoint.deployed_models}
        for deployed_id in sorted(split, key=lambda k: split[k]):
            share = split.pop(deployed_id)
            if split and share:
                heir = max(split, key=lambda k: split[k])
                split[heir] += share
            self._undeploy(endpoint, deployed_id, split, f"a model of endpoint {endpoint_name!r}")
        client = self._service("endpoint")
        what = f"endpoint {endpoint_name!r}"
        operation = self._call(client.delete_endpoint, what, name=endpoint.name)
        self._wait_operation(client, operation, what)

    def http_target(self, endpoint_name: str) -> tuple[str, str, dict[str, str]]:
        """The REST predict method with a fresh access token: locust can POST ``{"instances": [...]}`` to it."""
        import google.auth.transport.requests

        resource = self.endpoint_resource(endpoint_name)
        credentials = self.credentials()
        if not credentials.valid:
            try:
                credentials.refresh(google.auth.transport.requests.Request())
            except Exception as exc:  # noqa: BLE001 - any refusal is the credentials' problem
                raise AccessDeniedError(f"could not get an access token for endpoint {endpoint_name!r} "
                                        f"({type(exc).__name__}); check google-auth's default chain") from None
        return self._api_base(), f"/v1/{resource}:predict", {"Authorization": f"Bearer {credentials.token}"}

    def served_by(self, endpoint_name: str) -> ServedBy:
        """Vertex names the deployed model that answered only in the predict body (``deployedModelId``, its
        own id); our deployment name is that deployed model's display name, read from the endpoint now."""
        deployed = self._deployments(self._get_endpoint(endpoint_name))
        return ServedBy(body_field="deployedModelId", names={dm.id: name for name, dm in deployed.items()})

    def invoke_endpoint(
        self, endpoint_name: str, body: Mapping[str, Any], deployment: str | None = None
    ) -> dict[str, Any]:
        """``:predict`` with the body's instances; returns ``{"predictions": [...]}``.

        Vertex's predict follows the traffic split: a request pinned to one
        deployment is sent only when that deployment takes all the traffic
        (give each model its own endpoint otherwise, as the shadow fixtures do).
        """
        resource = self.endpoint_resource(endpoint_name)
        if deployment:
            live = self.get_endpoint(endpoint_name).traffic
            if deployment not in live:
                raise NotFoundError(f"endpoint {endpoint_name!r} has no deployment {deployment!r}")
            if live[deployment] != 100:
                raise UnsupportedError(
                    f"Vertex AI cannot send a request to one deployment of a split endpoint ({endpoint_name!r}: "
                    f"{live}); deploy the model to an endpoint of its own to call it alone")
        instances = body.get("instances")
        if not isinstance(instances, list):
            raise ValueError('invoke_endpoint needs a body {"instances": [...]}')
        request = types.PredictRequest(endpoint=resource)
        message = types.PredictRequest.pb(request)
        for instance in instances:
            json_format.ParseDict(instance, message.instances.add())
        response = self._call(self._service("prediction").predict, f"endpoint {endpoint_name!r}", request=request)
        answer = json_format.MessageToDict(type(response).pb(response))
        return {"predictions": answer.get("predictions", []), "deployment": answer.get("deployedModelId", "")}
