"""The SageMaker model registry: one model package group per model, a package per version."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ...contract import slug
from ...records import (
    AdapterError,
    ConflictError,
    ModelVersion,
    NotFoundError,
)
from .client import (
    JOB_TAG_COMMIT,
    JOB_TAG_MODEL,
)
from .lock import LockMixin
from .served import KEY_ARTIFACT, ServedPackageMixin
from .metadata import (
    KEY_CHAMPION,
    KEY_CREATED,
    KEY_GENERATION,
    KEY_REPLACED_BY,
    KEY_SHA256,
    check_user_tags,
    decode_properties,
    encode_properties,
)


class RegistryMixin(LockMixin, ServedPackageMixin):
    """Registry verbs of the adapter."""

    # -- registry -----------------------------------------------------------------
    def group_name(self, model_name: str) -> str:
        """The model package group of a model name."""
        return self.config.model_package_group or slug(model_name, 63)

    def _ensure_group(self, model_name: str) -> str:
        group = self.group_name(model_name)
        try:
            self._call("sagemaker", "describe_model_package_group", f"model package group {group!r}",
                       ModelPackageGroupName=group)
        except NotFoundError:
            try:
                self._call("sagemaker", "create_model_package_group", f"model package group {group!r}",
                           ModelPackageGroupName=group,
                           ModelPackageGroupDescription=f"pytest-mlgates versions of {model_name}"[:1024],
                           Tags=[{"Key": k, "Value": v} for k, v in self.config.tags.items()] or
                           [{"Key": JOB_TAG_MODEL, "Value": model_name[:256]}])
            except (ConflictError, AdapterError) as exc:  # created by a concurrent run: fine
                if "already exists" not in str(exc).lower():
                    raise
        return group

    def _package_summaries(self, model_name: str, status: str | None = None) -> list[dict[str, Any]]:
        group = self.group_name(model_name)
        summaries: list[dict[str, Any]] = []
        request: dict[str, Any] = {"ModelPackageGroupName": group, "SortBy": "CreationTime",
                                   "SortOrder": "Ascending", "MaxResults": 100}
        if status:
            request["ModelApprovalStatus"] = status
        while True:
            try:
                page = self._call("sagemaker", "list_model_packages", f"versions of {model_name!r}", **request)
            except NotFoundError:
                return []
            summaries += page.get("ModelPackageSummaryList", [])
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        return sorted(summaries, key=lambda s: int(s.get("ModelPackageVersion", 0)))

    def _package_arn(self, model_name: str, version: str) -> str:
        wanted = str(version).strip()
        if not wanted.isdigit():
            raise NotFoundError(f"model version {version!r} is not a SageMaker model package version number (1, 2, ...)")
        for summary in self._package_summaries(model_name):
            if str(summary.get("ModelPackageVersion")) == str(int(wanted)):
                return str(summary["ModelPackageArn"])
        raise NotFoundError(
            f"model {model_name!r} has no version {version!r} in model package group "
            f"{self.group_name(model_name)!r} ({self.config.region})"
        )

    def _describe_package(self, arn: str) -> dict[str, Any]:
        return self._call("sagemaker", "describe_model_package", f"model package {arn}",  # type: ignore[no-any-return]
                          ModelPackageName=arn)

    def _version_from(self, model_name: str, desc: Mapping[str, Any]) -> ModelVersion:
        decoded = decode_properties(desc.get("CustomerMetadataProperties"))
        containers = (desc.get("InferenceSpecification") or {}).get("Containers") or [{}]
        created = desc.get("CreationTime")
        created_at = created.timestamp() if hasattr(created, "timestamp") else float(
            decoded.internal.get(KEY_CREATED, 0) or 0)
        return ModelVersion(
            name=model_name,
            version=str(desc.get("ModelPackageVersion", "")),
            artifact_uri=decoded.internal.get(KEY_ARTIFACT) or str(containers[0].get("ModelDataUrl", "")),
            sha256=decoded.internal.get(KEY_SHA256, ""),
            metrics=decoded.metrics,
            tags=decoded.tags,
            is_champion=self._is_marked(desc),
            created_at=created_at,
        )

    @staticmethod
    def _is_marked(desc: Mapping[str, Any]) -> bool:
        props = desc.get("CustomerMetadataProperties") or {}
        return desc.get("ModelApprovalStatus") == "Approved" and props.get(KEY_CHAMPION) == "true"

    @staticmethod
    def _generation(desc: Mapping[str, Any]) -> int:
        try:
            return int((desc.get("CustomerMetadataProperties") or {}).get(KEY_GENERATION, "0"))
        except ValueError:
            return 0

    def register_model(
        self,
        model_name: str,
        job_name: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        cfg = self.config
        image = self.serving_image()
        if not image:
            raise AdapterError("[tool.mlgates.sagemaker] inference_image_uri (or image_uri) is required to register "
                               "a model package: the image that serves it")
        all_tags = {"mlgates.job": job_name, **check_user_tags(tags or {})}
        uri, summary = self._artifact(job_name)
        desc = self._describe_job(job_name)
        internal = {KEY_SHA256: summary.sha256, KEY_CREATED: repr(time.time())}
        container: dict[str, Any] = {"Image": image, "ModelDataUrl": uri}
        if cfg.serving == "sklearn":  # the stock image serves a package of the trained files + our handler
            container, served = self._served_container(job_name, uri, summary.sha256)
            internal.update(served)
        props = encode_properties(internal, metrics, all_tags)
        group = self._ensure_group(model_name)
        commit = ""
        try:
            job_tags = self._call("sagemaker", "list_tags", f"tags of {job_name!r}",
                                  ResourceArn=desc["TrainingJobArn"]).get("Tags", [])
            commit = next((t["Value"] for t in job_tags if t["Key"] == JOB_TAG_COMMIT), "")
        except AdapterError:
            pass
        metrics_key = cfg.key("registry", group, job_name, "metrics.json")
        self._put(metrics_key, json.dumps(dict(metrics), sort_keys=True).encode(), f"metrics of {job_name}")
        request: dict[str, Any] = dict(
            ModelPackageGroupName=group,
            ModelPackageDescription=f"{model_name} trained by {job_name}"[:1024],
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties=props,
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                          "S3Uri": f"s3://{cfg.bucket}/{metrics_key}"}}},
            MetadataProperties={"GeneratedBy": desc["TrainingJobArn"][:1024],
                                **({"CommitId": commit[:1024]} if commit and commit != "unknown" else {})},
        )
        arn = self._call("sagemaker", "create_model_package", f"a version of {model_name!r}",
                         **request)["ModelPackageArn"]
        return self._version_from(model_name, self._describe_package(arn))

    def _verify_served_package_of(self, model: ModelVersion) -> None:
        """IntegrityError unless the version's served package (if it has one) still has its recorded digest."""
        desc = self._describe_package(self._package_arn(model.name, model.version))
        container = ((desc.get("InferenceSpecification") or {}).get("Containers") or [{}])[0]
        self._verify_served(model.id, container, decode_properties(desc.get("CustomerMetadataProperties")).internal)

    def get_model_version(self, model_name: str, version: str) -> ModelVersion:
        return self._version_from(model_name, self._describe_package(self._package_arn(model_name, version)))

    def list_model_versions(self, model_name: str) -> list[ModelVersion]:
        return [self._version_from(model_name, self._describe_package(s["ModelPackageArn"]))
                for s in self._package_summaries(model_name)]

    def _champion_description(self, model_name: str) -> dict[str, Any] | None:
        marked = []
        for summary in self._package_summaries(model_name, status="Approved"):
            desc = self._describe_package(summary["ModelPackageArn"])
            if self._is_marked(desc):
                marked.append(desc)
        if not marked:
            return None
        return max(marked, key=lambda d: (self._generation(d), int(d.get("ModelPackageVersion", 0))))

    def get_champion(self, model_name: str) -> ModelVersion | None:
        desc = self._champion_description(model_name)
        if desc is None:
            return None
        return self._version_from(model_name, desc)

    def _update_package(self, desc: Mapping[str, Any], props: Mapping[str, str], approval: str | None = None) -> None:
        # Always send the full metadata map and the approval status: UpdateModelPackage
        # implementations differ on whether omitted fields are kept or cleared.
        self._call(
            "sagemaker", "update_model_package", f"model package {desc['ModelPackageArn']}",
            ModelPackageArn=desc["ModelPackageArn"],
            ModelApprovalStatus=approval or desc.get("ModelApprovalStatus") or "PendingManualApproval",
            CustomerMetadataProperties=dict(props),
        )

    def _merged_props(self, desc: Mapping[str, Any], internal: Mapping[str, str], tags: Mapping[str, str]) -> dict[str, str]:
        decoded = decode_properties(desc.get("CustomerMetadataProperties"))
        return encode_properties({**decoded.internal, **internal}, decoded.metrics, {**decoded.tags, **tags})

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        clean = check_user_tags(tags)
        arn = self._package_arn(model_name, version)
        with self._registry_lock(model_name):
            desc = self._describe_package(arn)
            self._update_package(desc, self._merged_props(desc, {}, clean))
        return self._version_from(model_name, self._describe_package(arn))

    def promote(
        self,
        model_name: str,
        version: str,
        expected_champion: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        clean = check_user_tags(tags or {})
        arn = self._package_arn(model_name, version)
        with self._registry_lock(model_name):
            current = self._champion_description(model_name)
            current_version = None if current is None else str(current.get("ModelPackageVersion"))
            expected = None if expected_champion is None else str(expected_champion)
            if current_version != expected:
                raise ConflictError(
                    f"cannot promote {model_name}:{version}: the champion is now {current_version or 'none'}, not "
                    f"{expected or 'none'} as the gate compared against; a newer champion exists, so run the "
                    f"champion gate again against it"
                )
            target = self._describe_package(arn)
            generation = 1 + (self._generation(current) if current is not None else 0)
            internal = {KEY_CHAMPION: "true", KEY_GENERATION: str(generation)}
            # mark the new champion first: a crash in between leaves two marks, and the
            # higher generation wins, so the registry never has no champion by accident
            self._update_package(target, self._merged_props(target, internal, clean), approval="Approved")
            if current is not None and current["ModelPackageArn"] != target["ModelPackageArn"]:
                self._update_package(current, self._merged_props(
                    current, {KEY_CHAMPION: "false", KEY_REPLACED_BY: str(version)}, {}))
        return self._version_from(model_name, self._describe_package(arn))
