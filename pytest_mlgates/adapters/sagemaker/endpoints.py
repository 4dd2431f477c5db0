"""SageMaker endpoints: a Model per deployment, endpoint configs whose variants are the deployments."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from ...records import (
    AccessDeniedError,
    AdapterError,
    DeployOptions,
    Endpoint,
    ModelVersion,
    NotFoundError,
)
from ...traffic import TrafficError, check_traffic
from .client import (
    _NAME_RE,
    _weights_to_percent,
    resource_name,
)
from .metadata import decode_properties
from .signing import SigV4Signer
from .storage import StorageMixin

MODEL_VERSION_TAG = "mlgates:model-version"
"""AWS tag on everything a deployment creates: which model version it serves."""


class EndpointsMixin(StorageMixin):
    """Endpoint verbs of the adapter."""

    # -- endpoints ----------------------------------------------------------------
    def _describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        return self._call("sagemaker", "describe_endpoint", f"endpoint {endpoint_name!r}",  # type: ignore[no-any-return]
                          EndpointName=endpoint_name)

    def _endpoint_url(self, endpoint_name: str) -> str:
        base = self._client("sagemaker-runtime").meta.endpoint_url.rstrip("/")
        return f"{base}/endpoints/{endpoint_name}/invocations"

    def http_target(self, endpoint_name: str) -> tuple[str, str, dict[str, str]]:
        """SageMaker runtime's own door, ``POST /endpoints/<name>/invocations`` (at the configured
        ``endpoint_url`` when there is one); every request needs its SigV4 signature (``request_signer``)."""
        base = self._client("sagemaker-runtime").meta.endpoint_url.rstrip("/")
        return base, f"/endpoints/{endpoint_name}/invocations", {"Accept": "application/json"}

    def request_signer(self, endpoint_name: str) -> SigV4Signer:
        """botocore's SigV4 signer for ``sagemaker`` in the runtime client's region, with the session's
        credentials frozen now (a round of load is shorter than their life)."""
        runtime = self._client("sagemaker-runtime")
        reason = ""
        try:
            found = self._session.get_credentials() if self._session is not None else None
            creds = found.get_frozen_credentials() if found is not None else None
        except Exception as exc:  # noqa: BLE001 - an expired SSO login, a refused role: the chain's problem
            creds, reason = None, f" ({type(exc).__name__})"
        if creds is None or not creds.access_key or not creds.secret_key:
            raise AccessDeniedError(
                f"no usable AWS credentials to sign the load on endpoint {endpoint_name!r}{reason}. pytest-mlgates takes "
                f"them only from boto3's default chain: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY, log in with `aws sso login`, or run with an instance/OIDC role")
        return SigV4Signer(runtime.meta.region_name, creds.access_key, creds.secret_key, creds.token)

    def _endpoint_from(self, desc: Mapping[str, Any]) -> Endpoint:
        name = str(desc["EndpointName"])
        return Endpoint(name=name, url=self._endpoint_url(name),
                        traffic=_weights_to_percent(list(desc.get("ProductionVariants") or [])))

    def get_endpoint(self, endpoint_name: str) -> Endpoint:
        """The endpoint and its current traffic split (raises NotFoundError)."""
        return self._endpoint_from(self._describe_endpoint(endpoint_name))

    def list_endpoints(self) -> list[Endpoint]:
        """Endpoints that mlgates deployed (tagged ``mlgates:model-version``) in the region."""
        found, request = [], {}
        while True:
            page = self._call("sagemaker", "list_endpoints", "endpoints", **request)
            for summary in page.get("Endpoints") or []:
                tags = self._call("sagemaker", "list_tags", f"tags of {summary['EndpointName']!r}",
                                  ResourceArn=summary["EndpointArn"]).get("Tags") or []
                if any(t.get("Key") == MODEL_VERSION_TAG for t in tags):
                    found.append(self.get_endpoint(summary["EndpointName"]))
            if not page.get("NextToken"):
                return found
            request = {"NextToken": page["NextToken"]}

    def _wait_in_service(self, endpoint_name: str) -> dict[str, Any]:
        deadline = self._clock() + self.config.endpoint_timeout_seconds
        while True:
            desc = self._describe_endpoint(endpoint_name)
            status = desc.get("EndpointStatus")
            if status == "InService":
                return desc
            if status in ("Failed", "OutOfService"):
                raise AdapterError(
                    f"endpoint {endpoint_name!r} is {status}: {desc.get('FailureReason') or 'no reason given'}; "
                    f"check the serving image ({self.config.inference_image_uri or self.config.image_uri}) answers "
                    f"GET /ping and POST /invocations, and its CloudWatch logs under /aws/sagemaker/Endpoints/"
                    f"{endpoint_name}"
                )
            if self._clock() >= deadline:
                raise AdapterError(
                    f"endpoint {endpoint_name!r} was not InService within "
                    f"{self.config.endpoint_timeout_seconds:g} s (last status {status}); raise "
                    f"[tool.mlgates.sagemaker] endpoint_timeout_seconds or check the endpoint in the console"
                )
            self._sleep(min(self.config.endpoint_poll_seconds, max(0.0, deadline - self._clock())) or 0.01)

    def _endpoint_exists(self, endpoint_name: str) -> dict[str, Any] | None:
        try:
            return self._describe_endpoint(endpoint_name)
        except NotFoundError:
            return None

    def deploy_to_endpoint(
        self, endpoint_name: str, model: ModelVersion, deployment_name: str, options: DeployOptions | None = None
    ) -> Endpoint:
        """Deploy ``model`` as production variant ``deployment_name`` of the endpoint.

        As on every platform: the first deployment of an endpoint gets 100% of
        the traffic, a later one 0% (``set_traffic`` moves it), and a redeployed
        one keeps its share; ``options.traffic`` sets the split in the same step.
        ``outlive_run`` and ``owner_pid`` change nothing here: a SageMaker
        endpoint always outlives the process that made it, until ``delete_endpoint``.
        Faults are refused (no fault injection on SageMaker).
        """
        opts = self.check_deploy_options(options)  # type: ignore[attr-defined]
        for label, value in (("endpoint name", endpoint_name), ("deployment name", deployment_name)):
            if not _NAME_RE.match(value):
                raise ValueError(f"{label} {value!r} is not valid on SageMaker: 1-63 letters, digits and hyphens")
        package = self._describe_package(self._package_arn(model.name, model.version))
        existing = self._endpoint_exists(endpoint_name)
        old_config: dict[str, Any] = {}
        if existing is not None:
            existing = self._wait_in_service(endpoint_name)
            old_config = self._call("sagemaker", "describe_endpoint_config",
                                    f"endpoint config {existing['EndpointConfigName']!r}",
                                    EndpointConfigName=existing["EndpointConfigName"])
        old_variants = list(old_config.get("ProductionVariants") or [])
        names = [v["VariantName"] for v in old_variants]
        names += [] if deployment_name in names else [deployment_name]
        if opts.traffic is not None:
            weights = _check_split(names, opts.traffic)
        elif existing is None:
            weights = {deployment_name: 100}
        else:
            current = _weights_to_percent(list(existing.get("ProductionVariants") or []))
            weights = {name: current.get(name, 0) for name in names}
        container = dict(((package.get("InferenceSpecification") or {}).get("Containers") or [{}])[0])
        internal = decode_properties(package.get("CustomerMetadataProperties")).internal
        self._verify_served(model.id, container, internal)  # type: ignore[attr-defined]
        aws_tags = [{"Key": k, "Value": v} for k, v in self.config.tags.items()] + [
            {"Key": MODEL_VERSION_TAG, "Value": model.id[:256]}]
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2)
        sm_model = resource_name(endpoint_name, deployment_name, stamp)
        config_name = resource_name(endpoint_name, stamp)
        variant = {
            "VariantName": deployment_name,
            "ModelName": sm_model,
            "InstanceType": opts.instance_type or self.config.endpoint_instance_type,
            "InitialInstanceCount": opts.instance_count or self.config.endpoint_instance_count,
        }
        variants, replaced_models = [], []
        for old in old_variants:
            if old["VariantName"] == deployment_name:
                replaced_models.append(old["ModelName"])
                continue
            keep = {k: old[k] for k in ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount",
                                        "ServerlessConfig") if k in old}
            variants.append(keep)
        variants.append(variant)
        variants = [{**v, "InitialVariantWeight": float(weights.get(v["VariantName"], 0))} for v in variants]
        self._call("sagemaker", "create_model", f"model {sm_model!r}", ModelName=sm_model,
                   ExecutionRoleArn=self.config.role_arn,
                   PrimaryContainer={"Image": container.get("Image") or self.config.inference_image_uri
                                     or self.config.image_uri,
                                     "ModelDataUrl": container.get("ModelDataUrl") or model.artifact_uri,
                                     "Environment": {**(container.get("Environment") or {}),
                                                     "MLGATES_MODEL": model.id[:1024],
                                                     "MLGATES_SHA256": model.sha256}},
                   Tags=aws_tags)
        try:
            self._call("sagemaker", "create_endpoint_config", f"endpoint config {config_name!r}",
                       EndpointConfigName=config_name, ProductionVariants=variants, Tags=aws_tags)
            if existing is None:
                self._call("sagemaker", "create_endpoint", f"endpoint {endpoint_name!r}",
                           EndpointName=endpoint_name, EndpointConfigName=config_name, Tags=aws_tags)
                try:
                    return self._endpoint_from(self._wait_in_service(endpoint_name))
                except BaseException:
                    try:  # a new endpoint that never came up is ours to remove
                        self._call("sagemaker", "delete_endpoint", f"endpoint {endpoint_name!r}",
                                   EndpointName=endpoint_name)
                    except AdapterError:
                        pass
                    raise
            self._call("sagemaker", "update_endpoint", f"endpoint {endpoint_name!r}",
                       EndpointName=endpoint_name, EndpointConfigName=config_name)
            desc = self._wait_in_service(endpoint_name)
        except BaseException:
            self._cleanup(models=[sm_model], configs=[config_name], keep_in_use=endpoint_name)
            raise
        self._cleanup(models=replaced_models, configs=[old_config.get("EndpointConfigName", "")],
                      keep_in_use=endpoint_name)
        return self._endpoint_from(desc)

    def _cleanup(self, models: list[str], configs: list[str], keep_in_use: str) -> None:
        """Delete models and configs the endpoint no longer uses; best effort."""
        in_use: set[str] = set()
        try:
            desc = self._describe_endpoint(keep_in_use)
            in_use.add(desc.get("EndpointConfigName", ""))
            cfg = self._call("sagemaker", "describe_endpoint_config", "endpoint config",
                             EndpointConfigName=desc.get("EndpointConfigName", ""))
            in_use |= {v["ModelName"] for v in cfg.get("ProductionVariants") or []}
        except (AdapterError, KeyError):
            pass
        for config in configs:
            if config and config not in in_use:
                try:
                    self._call("sagemaker", "delete_endpoint_config", f"endpoint config {config!r}",
                               EndpointConfigName=config)
                except AdapterError:
                    pass
        for model in models:
            if model and model not in in_use:
                try:
                    self._call("sagemaker", "delete_model", f"model {model!r}", ModelName=model)
                except AdapterError:
                    pass

    def set_traffic(
        self,
        endpoint_name: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int] | None = None,
    ) -> Endpoint:
        self.check_mirror(mirror)  # type: ignore[attr-defined]
        desc = self._wait_in_service(endpoint_name)
        variants = [v["VariantName"] for v in desc.get("ProductionVariants") or []]
        weights = _check_split(variants, traffic)
        desired = [{"VariantName": name, "DesiredWeight": float(weights[name])} for name in variants]
        self._call("sagemaker", "update_endpoint_weights_and_capacities", f"endpoint {endpoint_name!r}",
                   EndpointName=endpoint_name, DesiredWeightsAndCapacities=desired)
        return self._endpoint_from(self._wait_in_service(endpoint_name))

    def delete_deployment(self, endpoint_name: str, deployment_name: str) -> Endpoint:
        """Remove a production variant that takes no traffic (a rolled-back or replaced model).

        SageMaker endpoints need at least one variant: to remove the last one,
        delete the endpoint.
        """
        desc = self._wait_in_service(endpoint_name)
        live = _weights_to_percent(list(desc.get("ProductionVariants") or []))
        if deployment_name not in live:
            raise NotFoundError(f"endpoint {endpoint_name!r} has no deployment {deployment_name!r}; "
                                f"deployments: {', '.join(live) or '(none)'}")
        if len(live) == 1:
            raise TrafficError(f"{deployment_name!r} is the only deployment of SageMaker endpoint {endpoint_name!r}; "
                               f"delete the endpoint instead")
        if live[deployment_name]:
            raise TrafficError(f"deployment {deployment_name!r} still takes {live[deployment_name]}% of the traffic "
                               f"of {endpoint_name!r}; move it away with set_traffic first")
        old_name = desc["EndpointConfigName"]
        old = self._call("sagemaker", "describe_endpoint_config", f"endpoint config {old_name!r}",
                         EndpointConfigName=old_name)
        keep, removed = [], []
        for variant in old.get("ProductionVariants") or []:
            if variant["VariantName"] == deployment_name:
                removed.append(variant["ModelName"])
                continue
            fields = {k: variant[k] for k in ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount",
                                              "ServerlessConfig") if k in variant}
            keep.append({**fields, "InitialVariantWeight": float(live.get(variant["VariantName"], 0))})
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2)
        config_name = resource_name(endpoint_name, stamp)
        aws_tags = [{"Key": k, "Value": v} for k, v in self.config.tags.items()]
        self._call("sagemaker", "create_endpoint_config", f"endpoint config {config_name!r}",
                   EndpointConfigName=config_name, ProductionVariants=keep, **({"Tags": aws_tags} if aws_tags else {}))
        try:
            self._call("sagemaker", "update_endpoint", f"endpoint {endpoint_name!r}",
                       EndpointName=endpoint_name, EndpointConfigName=config_name)
            desc = self._wait_in_service(endpoint_name)
        except BaseException:
            self._cleanup(models=[], configs=[config_name], keep_in_use=endpoint_name)
            raise
        self._cleanup(models=removed, configs=[old_name], keep_in_use=endpoint_name)
        return self._endpoint_from(desc)

    def delete_endpoint(self, endpoint_name: str) -> None:
        desc = self._describe_endpoint(endpoint_name)
        config_name = desc.get("EndpointConfigName", "")
        models: list[str] = []
        try:
            cfg = self._call("sagemaker", "describe_endpoint_config", f"endpoint config {config_name!r}",
                             EndpointConfigName=config_name)
            models = [v["ModelName"] for v in cfg.get("ProductionVariants") or []]
        except NotFoundError:
            pass
        self._call("sagemaker", "delete_endpoint", f"endpoint {endpoint_name!r}", EndpointName=endpoint_name)
        self._cleanup(models=models, configs=[config_name], keep_in_use="")

    def invoke_endpoint(self, endpoint_name: str, body: Mapping[str, Any],
                        deployment: str | None = None) -> dict[str, Any]:
        """POST ``body`` (``{"instances": [...]}``) through sagemaker-runtime, signed by boto3.

        ``deployment`` pins the production variant (``TargetVariant``), which is
        how a shadow comparison asks champion and challenger the same rows.
        Returns the decoded JSON answer (``{"predictions": [...]}``).
        """
        request: dict[str, Any] = dict(EndpointName=endpoint_name, ContentType="application/json",
                                       Accept="application/json", Body=json.dumps(dict(body)).encode())
        if deployment:
            request["TargetVariant"] = deployment
        response = self._call("sagemaker-runtime", "invoke_endpoint", f"endpoint {endpoint_name!r}", **request)
        raw = response["Body"].read()
        try:
            answer = json.loads(raw)
        except ValueError:
            raise AdapterError(f"endpoint {endpoint_name!r} answered something that is not JSON: {raw[:200]!r}; "
                               f"the serving container must answer {{\"predictions\": [...]}}") from None
        if not isinstance(answer, dict) or "predictions" not in answer:
            raise AdapterError(f"endpoint {endpoint_name!r} answered {str(answer)[:200]}, without \"predictions\"; "
                               f"the serving container must answer {{\"predictions\": [...]}}")
        return answer



def _check_split(deployments: list[str], traffic: Mapping[str, Any]) -> dict[str, int]:
    """The platform-wide traffic rules (serving.traffic), plus SageMaker's: something must take traffic."""
    try:
        live, _ = check_traffic(deployments, traffic, {})
    except TrafficError as exc:
        raise TrafficError(f"{exc} (SageMaker production variants)") from None
    if sum(live.values()) == 0:
        raise TrafficError("a SageMaker endpoint must send its traffic somewhere: the percentages sum to 0, "
                           "give at least one deployment a share (they must sum to 100)")
    return live
