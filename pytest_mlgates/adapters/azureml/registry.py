"""The Azure ML model registry: a model version per challenger, the champion by compare-and-swap.

- Metrics and the artifact digest are *properties* of the version (immutable
  after registration, as Azure ML keeps them); the gate ledger and user tags
  are its *tags* (mutable).
- Azure ML has no alias. The champion is recorded on the model *container*
  (``models/<name>``, tag ``mlgates.champion``) and written with ARM optimistic
  concurrency: read the container and its ETag, check that the champion is the
  one the gate compared against, PUT with ``If-Match: <etag>``. Of two racing
  promotions, on any number of machines, the second PUT gets 412 and loses.
  The champion version also carries the tag ``mlgates.champion = true``, kept
  unique by the promotion (set on the new champion, removed from the old), so
  it shows in the studio; the container decides when they disagree.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from ...contract import FINGERPRINT_KEY
from ...records import AdapterError, ConflictError, IntegrityError, ModelVersion, NotFoundError
from .client import PreconditionFailed
from .training import TrainingMixin

PROP_SHA256 = "mlgates.sha256"
PROP_JOB = "mlgates.job"
PROP_CREATED = "mlgates.created"
METRIC_PREFIX = "mlgates.metric."
CHAMPION_TAG = "mlgates.champion"
GENERATION_TAG = "mlgates.champion.generation"
RESERVED = (CHAMPION_TAG,)


def _metric_value(name: str, text: Any) -> Any:
    """A stored metric as a float; anything else is handed back as is so the champion gate fails closed."""
    if name == FINGERPRINT_KEY:
        return text
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return value if math.isfinite(value) else text


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    clean = {str(k): str(v) for k, v in tags.items()}
    for key in clean:
        if key in RESERVED or key.startswith(CHAMPION_TAG + "."):
            raise ValueError(f"tag {key!r} is kept by the Azure ML adapter (the champion mark); choose another name")
    return clean


class RegistryMixin(TrainingMixin):
    """Registry verbs of the adapter."""

    def _container_path(self, model_name: str) -> str:
        return f"{self.workspace_path}/models/{model_name}"

    def _read_container(self, model_name: str) -> tuple[dict[str, Any] | None, str]:
        try:
            body, etag = self._call(f"model {model_name!r}", self.arm_request, "GET",
                                    self._container_path(model_name), read=True)
        except NotFoundError:
            return None, ""
        return body, etag

    @staticmethod
    def _champion_of(container: Mapping[str, Any] | None) -> str | None:
        tags = ((container or {}).get("properties") or {}).get("tags") or {}
        return tags.get(CHAMPION_TAG) or None

    def _version_from(self, model: Any, champion: str | None) -> ModelVersion:
        props = dict(getattr(model, "properties", None) or {})
        tags = dict(getattr(model, "tags", None) or {})
        tags.pop(CHAMPION_TAG, None)
        metrics = {k[len(METRIC_PREFIX):]: _metric_value(k[len(METRIC_PREFIX):], v)
                   for k, v in props.items() if k.startswith(METRIC_PREFIX)}
        try:
            created = float(props.get(PROP_CREATED, 0) or 0)
        except ValueError:
            created = 0.0
        version = str(getattr(model, "version", ""))
        return ModelVersion(name=str(model.name), version=version, artifact_uri=str(getattr(model, "path", "") or ""),
                            sha256=str(props.get(PROP_SHA256, "")), metrics=metrics, tags=tags,
                            is_champion=champion is not None and champion == version, created_at=created)

    def _get_model(self, model_name: str, version: str) -> Any:
        if not str(version).strip().isdigit():
            raise NotFoundError(f"model version {version!r} of {model_name!r} is not an Azure ML version number")
        return self._call(f"model version {model_name}:{version}", self.ml.models.get, model_name,
                          version=str(int(version)), read=True)

    def fetch_job_artifact(self, job_name: str, dest: Path) -> Path:
        """Download the completed job's model output folder under ``dest``."""
        files = self._model_files(job_name)
        target = Path(dest) / "model"
        for relative, blob in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.read_blob(blob))
        return target

    def verify_artifact(self, model: ModelVersion) -> None:
        """IntegrityError unless the job output behind ``model`` still has the registered sha256."""
        job = str(model.tags.get("mlgates.job", ""))
        actual = self.model_digest(job) if job else ""
        if actual != model.sha256:
            raise IntegrityError(f"the artifact of {model.id} ({model.artifact_uri}) has sha256 {actual or 'unknown'}, "
                                 f"but the registry recorded {model.sha256}; re-run training to register a new version")

    def register_model(self, model_name: str, job_name: str, metrics: Mapping[str, Any],
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        from azure.ai.ml.entities import Model

        clean = _check_tags(tags or {})
        properties = {PROP_SHA256: self.model_digest(job_name), PROP_JOB: job_name, PROP_CREATED: repr(time.time())}
        for key, value in metrics.items():
            if key != FINGERPRINT_KEY and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"metric {key!r} must be a number to be registered, got {value!r}")
            properties[METRIC_PREFIX + key] = value if key == FINGERPRINT_KEY else repr(float(value))
        model = Model(name=model_name, path=self.datastore_uri(self.output_path(job_name)) + "/",
                      type="custom_model", description=f"{model_name} trained by {job_name}",
                      tags={"mlgates.job": job_name, **clean}, properties=properties)
        created = self._call(f"a version of model {model_name!r}", self.ml.models.create_or_update, model)
        return self._version_from(created, None)

    def get_model_version(self, model_name: str, version: str) -> ModelVersion:
        model = self._get_model(model_name, version)
        return self._version_from(model, self._champion_of(self._read_container(model_name)[0]))

    def list_model_versions(self, model_name: str) -> list[ModelVersion]:
        try:
            models = self._call(f"versions of model {model_name!r}",
                                lambda: list(self.ml.models.list(name=model_name)), read=True)
        except NotFoundError:
            return []
        if not models:
            return []
        champion = self._champion_of(self._read_container(model_name)[0])
        found = [self._version_from(m, champion) for m in models]
        return sorted(found, key=lambda v: int(v.version) if v.version.isdigit() else 0)

    def get_champion(self, model_name: str) -> ModelVersion | None:
        champion = self._champion_of(self._read_container(model_name)[0])
        if champion is None:
            return None
        return self._version_from(self._get_model(model_name, champion), champion)

    def _write_tags(self, model: Any, tags: Mapping[str, str], drop: tuple[str, ...] = ()) -> Any:
        merged = {**dict(model.tags or {}), **tags}
        for key in drop:
            merged.pop(key, None)
        model.tags = merged
        return self._call(f"tags of model version {model.name}:{model.version}",
                          self.ml.models.create_or_update, model)

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        clean = _check_tags(tags)
        model = self._write_tags(self._get_model(model_name, version), clean)
        return self._version_from(model, self._champion_of(self._read_container(model_name)[0]))

    def promote(self, model_name: str, version: str, expected_champion: str | None,
                tags: Mapping[str, str] | None = None) -> ModelVersion:
        clean = _check_tags(tags or {})
        target = self._get_model(model_name, version)
        container, etag = self._read_container(model_name)
        if container is None:
            raise AdapterError(f"model {model_name!r} has versions but no container in the registry")
        current = self._champion_of(container)
        expected = None if expected_champion is None else str(expected_champion)
        if current != expected:
            raise ConflictError(
                f"cannot promote {model_name}:{version}: the champion is now {current or 'none'}, not "
                f"{expected or 'none'} as the gate compared against; run the champion gate again against it")
        props = dict(container.get("properties") or {})
        container_tags = dict(props.get("tags") or {})
        generation = int(container_tags.get(GENERATION_TAG, "0") or 0) + 1
        props["tags"] = {**container_tags, CHAMPION_TAG: str(target.version), GENERATION_TAG: str(generation)}
        body = {"properties": {k: v for k, v in props.items()
                               if k in ("description", "tags", "properties", "isArchived")}}
        try:
            self._call(f"champion of model {model_name!r}", self.arm_request, "PUT",
                       self._container_path(model_name), body, {"If-Match": etag})
        except PreconditionFailed:
            raise ConflictError(
                f"cannot promote {model_name}:{version}: another promotion changed the champion of {model_name!r} "
                f"at the same moment and won; run the champion gate again against the new champion") from None
        promoted = self._write_tags(target, {**clean, CHAMPION_TAG: "true"})
        # keep the tag unique: also clears a mark a run that crashed half-way left behind
        marked = self._call(f"versions of model {model_name!r}",
                            lambda: list(self.ml.models.list(name=model_name)), read=True)
        for other in marked:
            if str(other.version) != str(target.version) and CHAMPION_TAG in (other.tags or {}):
                self._write_tags(other, {}, drop=(CHAMPION_TAG,))
        return self._version_from(promoted, str(target.version))
