"""The Vertex AI Model Registry: one model per model name, a version per challenger.

The champion is the version alias ``champion`` (unique within a model; it moves
atomically with ``mergeVersionAliases``). Promotion is a compare-and-swap on
version etags: the promotion commits by writing a successor mark on the *lock
version* (the current champion, or the oldest version while there is none)
with that version's etag, so of two racing promotions exactly one commits; the
winner then moves the alias. A promotion that committed but crashed before the
alias moved is completed forward by the next reader, never undone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from google.cloud.aiplatform_v1 import types
from google.protobuf import field_mask_pb2

from ...records import AdapterError, ConflictError, IntegrityError, ModelVersion, NotFoundError
from . import names
from .client import _Conflict
from .entry import HEADER, Entry, EntryError, check_metric_values, check_tags, decode
from .settings import TABLE
from .training import LABEL_MODEL, TrainingMixin

CHAMPION_ALIAS = "champion"
GATE_PREFIX = "mlgates.gate."
MAX_CAS_ATTEMPTS = 6
LABEL_JOB = "mlgates-job"


class RegistryMixin(TrainingMixin):
    """Registry verbs of the adapter."""

    def model_id(self, model_name: str) -> str:
        return self.config.model_id or names.model_id(model_name)

    def model_resource(self, model_name: str) -> str:
        return f"{self.config.parent}/models/{self.model_id(model_name)}"

    def _get_model(self, model_name: str, version: str) -> types.Model:
        if version != CHAMPION_ALIAS and not str(version).isdigit():
            raise NotFoundError(f"model version {version!r} is not a Vertex AI version ID (1, 2, ...)")
        return self._call(self._service("model").get_model,  # type: ignore[no-any-return]
                          f"version {version} of model {model_name!r}",
                          name=f"{self.model_resource(model_name)}@{version}")

    def _entry(self, model: types.Model) -> Entry:
        return decode(model.version_description, f"version {model.version_id} of {model.name}")

    def _version_from(self, model_name: str, model: types.Model, champion: bool | None = None) -> ModelVersion:
        entry = self._entry(model)
        created = model.version_create_time
        return ModelVersion(
            name=model_name, version=str(model.version_id), artifact_uri=model.artifact_uri, sha256=entry.sha256,
            metrics=entry.metrics, tags=entry.tags,
            is_champion=CHAMPION_ALIAS in model.version_aliases if champion is None else champion,
            created_at=created.timestamp() if created else entry.created,
        )

    def _container(self, model_name: str, sha256: str) -> dict[str, Any]:
        """The serving container; MLGATES_SHA256 lets the mlgates predictor refuse a changed artifact."""
        cfg = self.config
        if not cfg.serving_image:
            raise AdapterError(f"{TABLE} serving_image is required to register a model on Vertex AI: the image "
                               f"that serves it (a prebuilt prediction image or your own)")
        return {"image_uri": cfg.serving_image, "predict_route": cfg.predict_route, "health_route": cfg.health_route,
                "ports": [{"container_port": cfg.serving_port}],
                "env": [{"name": "MLGATES_MODEL", "value": model_name}, {"name": "MLGATES_SHA256", "value": sha256}]}

    def register_model(
        self,
        model_name: str,
        job_name: str,
        metrics: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        self._container(model_name, "")  # refused before anything is read when serving_image is missing
        uri, summary = self._model_folder(job_name)
        container = self._container(model_name, summary.sha256)
        entry = Entry(sha256=summary.sha256, job=job_name, metrics=check_metric_values(metrics),
                      tags={"mlgates.job": job_name, **check_tags(tags or {})}, created=time.time())
        model = types.Model(
            display_name=model_name[:128], artifact_uri=uri, container_spec=container,
            description=f"{model_name}, registered by pytest-mlgates"[:2048], version_description=entry.encode(),
            labels=self.base_labels(**{LABEL_MODEL: model_name, LABEL_JOB: job_name}))
        client = self._service("model")
        what = f"a version of model {model_name!r}"
        parent_model = self.model_resource(model_name)
        try:
            self._call(client.get_model, f"model {model_name!r}", name=parent_model)
            exists = True
        except NotFoundError:
            exists = False
        request = types.UploadModelRequest(parent=self.config.parent, model=model)
        if exists:
            request.parent_model = parent_model
        else:
            request.model_id = self.model_id(model_name)
        try:
            operation = self._call(client.upload_model, what, request=request)
        except _Conflict as exc:
            if exc.status != "ALREADY_EXISTS" or exists:
                raise
            # a concurrent run created the model first: become its next version
            request = types.UploadModelRequest(parent=self.config.parent, model=model, parent_model=parent_model)
            operation = self._call(client.upload_model, what, request=request)
        result = self._wait_operation(client, operation, what, types.UploadModelResponse)
        return self.get_model_version(model_name, str(result.model_version_id))

    def verify_artifact(self, model: ModelVersion) -> None:
        """Digest the version's model folder in GCS and compare it with the registered sha256."""
        try:
            actual = self._summarize_folder(model.artifact_uri).sha256
        except NotFoundError:
            raise IntegrityError(f"artifact of {model.id} is missing from {model.artifact_uri}") from None
        if actual != model.sha256:
            raise IntegrityError(
                f"artifact of {model.id} at {model.artifact_uri} has sha256 {actual}, but the registry recorded "
                f"{model.sha256}; it was changed after registration. Re-run training to register a new version.")

    def get_model_version(self, model_name: str, version: str) -> ModelVersion:
        return self._version_from(model_name, self._get_model(model_name, str(version)))

    def _versions(self, model_name: str) -> list[types.Model]:
        client = self._service("model")
        request = types.ListModelVersionsRequest(name=self.model_resource(model_name), page_size=100)
        found: list[types.Model] = []
        while True:
            try:
                page = self._call(client.list_model_versions, f"versions of model {model_name!r}", request=request)
            except NotFoundError:
                return []
            found += list(page.models)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        return sorted(found, key=lambda m: int(m.version_id or 0))

    def list_model_versions(self, model_name: str) -> list[ModelVersion]:
        return [self._version_from(model_name, m) for m in self._versions(model_name)]

    # -- the champion ---------------------------------------------------------------
    def _champion_model(self, model_name: str) -> types.Model | None:
        try:
            return self._get_model(model_name, CHAMPION_ALIAS)
        except NotFoundError:
            return None

    def _lock_state(self, model_name: str) -> tuple[types.Model | None, types.Model | None, str | None]:
        """(alias holder, lock version, version whose promotion committed but whose alias has not moved)."""
        champion = self._champion_model(model_name)
        if champion is not None:
            lock: types.Model | None = champion
        else:
            # the oldest version mlgates registered (one uploaded by hand has no entry to mark)
            ours = [m for m in self._versions(model_name) if m.version_description.startswith(HEADER)]
            lock = ours[0] if ours else None
        if lock is None:
            return None, None, None
        entry = self._entry(lock)
        generation = entry.generation if champion is not None else 0
        head, _, successor = entry.successor.partition(":")
        pending = successor if entry.successor and head == str(generation) else None
        if pending == (champion.version_id if champion is not None else None):
            pending = None
        return champion, lock, pending

    def get_champion(self, model_name: str) -> ModelVersion | None:
        champion, _, pending = self._lock_state(model_name)
        if pending is not None:  # committed, alias not moved yet: that version already is the champion
            return self._version_from(model_name, self._get_model(model_name, pending), champion=True)
        return None if champion is None else self._version_from(model_name, champion)

    def _patch(self, model: types.Model, entry: Entry, what: str, etag: bool = True) -> types.Model:
        """Write a version's entry (and its gate labels), with its etag as the precondition."""
        labels = dict(model.labels)
        for key, value in entry.tags.items():
            if key.startswith(GATE_PREFIX) and value in ("passed", "failed") and key.count(".") == 2:
                labels[names.label_key("mlgates-gate-" + key[len(GATE_PREFIX):])] = value
        name = model.name if "@" in model.name else f"{model.name}@{model.version_id}"
        update = types.Model(name=name, version_description=entry.encode(), labels=names.labels(labels),
                             etag=model.etag if etag else "")
        return self._call(self._service("model").update_model, what, model=update,  # type: ignore[no-any-return]
                          update_mask=field_mask_pb2.FieldMask(paths=["version_description", "labels"]))

    def _update_entry(self, model_name: str, version: str, change: Callable[[Entry], None]) -> types.Model:
        """Read-modify-write of one version's entry, retried when its etag moved meanwhile."""
        for _ in range(MAX_CAS_ATTEMPTS):
            model = self._get_model(model_name, version)
            entry = self._entry(model)
            change(entry)
            try:
                return self._patch(model, entry, f"version {version} of model {model_name!r}")
            except _Conflict as exc:
                if exc.status != "ABORTED":
                    raise
        raise ConflictError(f"version {version} of model {model_name!r} kept changing while its tags were written "
                            f"({MAX_CAS_ATTEMPTS} attempts); retry when the other writer is done")

    def set_tags(self, model_name: str, version: str, tags: Mapping[str, str]) -> ModelVersion:
        clean = check_tags(tags)
        return self._version_from(model_name, self._update_entry(model_name, str(version),
                                                                 lambda e: e.tags.update(clean)))

    def _move_alias(self, model_name: str, version: str) -> None:
        request = types.MergeVersionAliasesRequest(name=f"{self.model_resource(model_name)}@{version}",
                                                   version_aliases=[CHAMPION_ALIAS])
        self._call(self._service("model").merge_version_aliases, f"the champion alias of {model_name!r}",
                   request=request)

    def promote(
        self,
        model_name: str,
        version: str,
        expected_champion: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        clean = check_tags(tags or {})
        version = str(version)
        target = self._get_model(model_name, version)
        expected = None if expected_champion is None else str(expected_champion)
        for _ in range(MAX_CAS_ATTEMPTS):
            champion, lock, pending = self._lock_state(model_name)
            if pending is not None:
                self._move_alias(model_name, pending)  # finish the promotion that committed, then look again
                continue
            current = None if champion is None else str(champion.version_id)
            if current != expected:
                raise ConflictError(
                    f"cannot promote {model_name}:{version}: the champion is now {current or 'none'}, not "
                    f"{expected or 'none'} as the gate compared against; a newer champion exists, so run the "
                    f"champion gate again against it")
            if lock is None:  # no version of this model was registered by mlgates, the target neither
                self._entry(target)  # raises EntryError, naming the version
                raise EntryError(f"model {model_name!r} has no version registered by mlgates to promote from")
            generation = self._entry(champion).generation if champion is not None else 0
            mark = f"{generation}:{version}"
            try:
                if lock.version_id == target.version_id:
                    entry = self._entry(lock)
                    entry.tags.update(clean)
                    entry.generation, entry.successor = generation + 1, mark
                    self._patch(lock, entry, f"promotion of {model_name}:{version}")
                else:
                    def stamp(e: Entry) -> None:
                        e.tags.update(clean)
                        e.generation = generation + 1
                    self._update_entry(model_name, version, stamp)
                    entry = self._entry(lock)
                    entry.successor = mark
                    self._patch(lock, entry, f"promotion of {model_name}:{version}")  # the commit point
            except _Conflict as exc:
                if exc.status != "ABORTED":
                    raise
                continue  # the lock version changed since we read it: look again
            self._move_alias(model_name, version)
            return self.get_model_version(model_name, version)
        raise ConflictError(f"cannot promote {model_name}:{version}: the registry kept changing during "
                            f"{MAX_CAS_ATTEMPTS} attempts; retry when the other promotion is done")


__all__ = ["CHAMPION_ALIAS", "EntryError", "RegistryMixin"]
