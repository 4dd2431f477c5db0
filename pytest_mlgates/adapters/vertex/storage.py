"""Cloud Storage for the Vertex AI adapter: staged data and code, model folders read back."""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.cloud import storage

from ...contract import METRICS_FILE, digest_dir, digest_files
from ...records import IntegrityError, JobFailedError, NotFoundError
from ..object_uri import split_uri
from ..requirements import install_requires, shipped_requirements
from .client import VertexClient

SOURCE_EXCLUDES = {".git", ".venv", "venv", "__pycache__", ".mlgates", ".pytest_cache", ".mypy_cache", "node_modules"}
PACKAGE = "mlgates_trainer"
"""The Python package the entry point is staged as, for Vertex's prebuilt training images."""
RUNNER = "_mlgates_run"
_RUNNER_CODE = '''"""Runs the staged entry point as a script, with its folder first on sys.path."""
import os, runpy, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.argv[0] = os.path.join(HERE, {program!r})
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def split_gs(uri: str) -> tuple[str, str]:
    """(bucket, object name) of a gs:// URI."""
    return split_uri(uri, "gs")


def fuse_path(uri: str) -> str:
    """Where Vertex's Cloud Storage FUSE mount shows a gs:// URI inside a training container."""
    bucket, key = split_gs(uri)
    return f"/gcs/{bucket}/{key}"


@dataclass
class FolderSummary:
    """A model folder in GCS: the contract's digest, metrics.json's text and the files."""

    sha256: str
    metrics_text: str | None
    files: list[str]


class _HashWriter(io.RawIOBase):
    def __init__(self, keep: bool) -> None:
        self.hash = hashlib.sha256()
        self.chunks: list[bytes] | None = [] if keep else None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        data = bytes(data)
        self.hash.update(data)
        if self.chunks is not None:
            self.chunks.append(data)
        return len(data)


class StorageMixin(VertexClient):
    """GCS reads and writes of the adapter."""

    def _gcs(self) -> storage.Client:
        if self._storage is None:
            options = {"api_endpoint": self.config.storage_endpoint.rstrip("/")} if self.config.storage_endpoint else None
            self._storage = storage.Client(project=self.config.project, credentials=self.credentials(),
                                           client_options=options)
        return self._storage

    def _blob(self, uri: str) -> storage.Blob:
        bucket, key = split_gs(uri)
        return self._gcs().bucket(bucket).blob(key)

    def _upload_bytes(self, uri: str, data: bytes, what: str) -> None:
        self._call(self._blob(uri).upload_from_string, what, data=data, retry=None)

    def _upload_path(self, path: Path, uri: str) -> None:
        self._call(self._blob(uri).upload_from_filename, f"upload of {path}", filename=str(path), retry=None)

    def _exists(self, uri: str) -> bool:
        return bool(self._call(self._blob(uri).exists, uri, retry=None))

    def _read_bytes(self, uri: str) -> bytes:
        return self._call(self._blob(uri).download_as_bytes, uri, retry=None)  # type: ignore[no-any-return]

    def list_objects(self, bucket: str, prefix: str, timeout: float, retry: Any = None) -> list[Any]:
        """Every object under ``prefix``, all pages read here, so one ``_call`` covers them."""
        blobs = self._gcs().list_blobs(bucket_or_name=bucket, prefix=prefix, retry=retry, timeout=timeout)
        return [b for b in blobs if not b.name.endswith("/")]

    def _list(self, uri: str) -> list[Any]:
        bucket, key = split_gs(uri)
        return self._call(self.list_objects, f"objects under {uri}",  # type: ignore[no-any-return]
                          bucket=bucket, prefix=key.rstrip("/") + "/", retry=None)

    def settings_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path

    def _upload_data(self, data: str) -> str:
        """The gs:// URI of the training data; a local file or folder is uploaded once, by content."""
        if data.startswith("gs://"):
            return data
        path = self.settings_path(data)
        if not path.exists():
            raise JobFailedError(
                f"training data {path} does not exist; set [tool.mlgates.training] data to a local file or "
                f"folder (uploaded to {self.config.staging_bucket}/data/) or to a gs:// URI")
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            uri = self.config.uri("data", digest[:16], path.name)
            if not self._exists(uri):
                self._upload_path(path, uri)
            return uri
        base = self.config.uri("data", digest_dir(path)[:16], path.name)
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            uri = f"{base}/{file.relative_to(path).as_posix()}"
            if not self._exists(uri):
                self._upload_path(file, uri)
        return base + "/"

    def _source_files(self, entry: Path) -> tuple[Path, str, list[Path]]:
        """(folder, entry point inside it, files) of the code to stage."""
        if not self.config.source_dir:  # the entry point, and the requirements.txt beside it
            requirements = shipped_requirements(entry.parent)
            return entry.parent, entry.name, [entry] if requirements is None else [entry, requirements]
        source = self.settings_path(self.config.source_dir)
        if not source.is_dir():
            raise JobFailedError(f"[tool.mlgates.vertex] source_dir {source} is not a folder")
        try:
            program = entry.resolve().relative_to(source.resolve()).as_posix()
        except ValueError:
            raise JobFailedError(f"the training entry point {entry} is outside [tool.mlgates.vertex] source_dir "
                                 f"{source}; source_dir must contain it") from None
        files = [p for p in sorted(source.rglob("*"))
                 if p.is_file() and not SOURCE_EXCLUDES.intersection(p.relative_to(source).parts)]
        return source, program, files

    def _source_package(self, entry: Path) -> bytes:
        """An sdist of the code for a prebuilt image: ``python -m mlgates_trainer._mlgates_run`` runs the script.

        The requirements.txt at the root of the shipped folder becomes the package's ``install_requires``,
        which the prebuilt image installs with the package (as aiplatform's own ``requirements`` do); a line
        that cannot go there raises RequirementsError.
        """
        source, program, files = self._source_files(entry)
        shipped = shipped_requirements(source)
        requires = install_requires(shipped) if shipped is not None else []
        top = f"{PACKAGE}-0.1"
        members: dict[str, bytes] = {
            f"{top}/PKG-INFO": (f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.1\n"
                                + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode(),
            f"{top}/setup.py": (f"from setuptools import setup\nsetup(name={PACKAGE!r}, version='0.1', "
                                f"packages=[{PACKAGE!r}], package_data={{{PACKAGE!r}: ['**/*']}}, "
                                f"include_package_data=True, install_requires={requires!r})\n").encode(),
            f"{top}/{PACKAGE}/__init__.py": b"",
            f"{top}/{PACKAGE}/{RUNNER}.py": _RUNNER_CODE.format(program=program).encode(),
        }
        for file in files:
            members[f"{top}/{PACKAGE}/{file.relative_to(source).as_posix()}"] = file.read_bytes()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def _download_folder(self, uri: str, dest: Path) -> Path:
        """Copy a model folder from GCS under ``dest`` (a name that would land outside it is refused)."""
        base = split_gs(uri)[1].rstrip("/") + "/"
        root = dest.resolve()
        root.mkdir(parents=True, exist_ok=True)
        for blob in self._list(uri):
            target = (root / blob.name[len(base):]).resolve()
            if root not in target.parents:
                raise IntegrityError(f"{uri} holds {blob.name!r}, which would land outside the model folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:
                self._call(blob.download_to_file, f"gs://{blob.bucket.name}/{blob.name}", file_obj=fh, retry=None)
        return root

    def _summarize_folder(self, uri: str) -> FolderSummary:
        """Digest a model folder in GCS exactly as ``contract.digest_dir`` digests it on disk."""
        base = split_gs(uri)[1].rstrip("/") + "/"
        entries: list[tuple[str, str]] = []
        metrics_text = None
        for blob in self._list(uri):
            rel = blob.name[len(base):]
            writer = _HashWriter(keep=rel == METRICS_FILE)
            self._call(blob.download_to_file, f"gs://{blob.bucket.name}/{blob.name}", file_obj=writer, retry=None)
            if writer.chunks is not None:
                metrics_text = b"".join(writer.chunks).decode("utf-8", errors="replace")
            entries.append((rel, writer.hash.hexdigest()))
        if not entries:
            raise NotFoundError(f"no files under {uri}")
        return FolderSummary(digest_files(entries), metrics_text, sorted(rel for rel, _ in entries))
