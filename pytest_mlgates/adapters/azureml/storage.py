"""Blob storage of the workspace datastore: uploaded data, job outputs (model, metrics.json), logs.

The datastore (default ``workspaceblobstore``) is read through the management
API with its secrets; blobs are then read and written with azure-storage-blob.
The account URL is ``<protocol>://<account>.blob.<endpoint>`` from the
datastore, unless ``blob_endpoint`` names it (private endpoints, emulators).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ...records import AdapterError, NotFoundError
from .client import AzureMLClient
from .settings import TABLE

OUTPUT_ROOT = "mlgates/jobs"
DATA_ROOT = "mlgates/data"


class StorageMixin(AzureMLClient):
    """The datastore's blob container."""

    _container_client: Any = None

    def datastore_uri(self, path: str) -> str:
        """``azureml://`` URI of ``path`` on the configured datastore."""
        return f"azureml://datastores/{self.config.datastore}/paths/{path.strip('/')}"

    def output_path(self, job_name: str, output: str = "model") -> str:
        """Blob path (in the datastore's container) of a job's output folder."""
        return f"{OUTPUT_ROOT}/{job_name}/{output}"

    def _container(self) -> Any:
        if self._container_client is not None:
            return self._container_client
        from azure.storage.blob import ContainerClient

        store = self._call(f"datastore {self.config.datastore!r}", self.ml.datastores.get,
                           self.config.datastore, include_secrets=True, read=True)
        credentials = getattr(store, "credentials", None)
        secret = getattr(credentials, "account_key", None) or getattr(credentials, "sas_token", None)
        account = getattr(store, "account_name", "")
        container = getattr(store, "container_name", "")
        if not account or not container:
            raise AdapterError(f"datastore {self.config.datastore!r} is not an Azure Blob datastore; set {TABLE} "
                               f"datastore to one (default workspaceblobstore)")
        url = self.config.blob_endpoint.rstrip("/") or (
            f"{getattr(store, 'protocol', 'https') or 'https'}://{account}.blob."
            f"{getattr(store, 'endpoint', '') or 'core.windows.net'}")
        if getattr(credentials, "account_key", None):
            credential: Any = {"account_name": account, "account_key": secret}
        else:
            credential = secret or self.credential
        self._container_client = ContainerClient(url, container, credential=credential)
        return self._container_client

    def _blob_call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._call(what, fn, *args, read=True, **kwargs)
        except NotFoundError:
            raise
        except ResourceNotFoundError:  # pragma: no cover - mapped by _call
            raise NotFoundError(what) from None

    def read_blob(self, path: str) -> bytes:
        blob = self._container().get_blob_client(path)
        return bytes(self._blob_call(f"blob {path}", lambda: blob.download_blob().readall()))

    def list_blobs(self, prefix: str) -> list[str]:
        container = self._container()
        return sorted(b.name for b in self._blob_call(f"blobs under {prefix}",
                                                      lambda: list(container.list_blobs(name_starts_with=prefix))))

    def upload_data(self, local: Path) -> str:
        """Upload a local file or folder once (content-addressed) and return its ``azureml://`` URI."""
        container = self._container()
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.relative_to(local.parent if local.is_file() else local).as_posix().encode())
            with path.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest() if hasattr(hashlib, "file_digest")
                              else hashlib.sha256(fh.read()).digest())
        prefix = f"{DATA_ROOT}/{digest.hexdigest()[:16]}"
        for path in files:
            name = f"{prefix}/{path.name}" if local.is_file() else f"{prefix}/{path.relative_to(local).as_posix()}"
            with path.open("rb") as fh:
                self._call(f"upload of {path}", container.upload_blob, name, fh, overwrite=True)
        return self.datastore_uri(f"{prefix}/{local.name}" if local.is_file() else prefix + "/")

    def settings_path(self, relative: str) -> Path:
        path = Path(os.path.expanduser(relative))
        return path if path.is_absolute() else self.root / path

    def close(self) -> None:
        container, self._container_client = self._container_client, None
        if container is not None:
            container.close()
        super().close()
