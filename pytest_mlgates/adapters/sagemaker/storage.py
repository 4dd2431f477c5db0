"""S3 for the SageMaker adapter: uploads of data and source, and reading model artifacts back."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from ...contract import digest_dir
from ...records import (
    JobFailedError,
    NotFoundError,
)
from ..requirements import shipped_requirements
from .client import (
    SINGLE_PUT_LIMIT,
    SOURCE_EXCLUDES,
    SageMakerClient,
)


class StorageMixin(SageMakerClient):
    """S3 reads and writes of the adapter."""

    # -- S3 ---------------------------------------------------------------------
    def _put(self, key: str, body: bytes, what: str, **extra: Any) -> dict[str, Any]:
        return self._call("s3", "put_object", what, Bucket=self.config.bucket, Key=key, Body=body,  # type: ignore[no-any-return]
                          **extra)

    def _object_exists(self, bucket: str, key: str) -> bool:
        try:
            self._call("s3", "head_object", f"s3://{bucket}/{key}", Bucket=bucket, Key=key)
        except NotFoundError:
            return False
        return True

    def _upload_data(self, data: str) -> str:
        """The S3 URI of the training data; a local file or folder is uploaded once, by content."""
        if data.startswith("s3://"):
            return data
        path = Path(data).expanduser()
        path = path if path.is_absolute() else self.root / path
        if not path.exists():
            raise JobFailedError(
                f"training data {path} does not exist; set [tool.mlgates.training] data to a local file or "
                f"folder (uploaded to {self.config.s3_prefix}/data/) or to an s3:// URI"
            )
        if path.is_file():
            digest = digest_dir_of_file(path)
            key = self.config.key("data", digest[:16], path.name)
            if not self._object_exists(self.config.bucket, key):
                self._upload_file(path, key)
            return f"s3://{self.config.bucket}/{key}"
        digest = digest_dir(path)
        base = self.config.key("data", digest[:16], path.name)
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            key = f"{base}/{file.relative_to(path).as_posix()}"
            if not self._object_exists(self.config.bucket, key):
                self._upload_file(file, key)
        return f"s3://{self.config.bucket}/{base}/"

    def _upload_file(self, path: Path, key: str) -> None:
        """One PUT (retried from the file's start) up to 5 GB; a multipart transfer beyond."""
        if path.stat().st_size < SINGLE_PUT_LIMIT:
            with path.open("rb") as fh:
                self._call("s3", "put_object", f"upload of {path}", Bucket=self.config.bucket, Key=key, Body=fh)
        else:
            self._call("s3", "upload_file", f"upload of {path}", Filename=str(path),
                       Bucket=self.config.bucket, Key=key)

    def _source_archive(self, entry: Path) -> tuple[bytes, str]:
        """sourcedir.tar.gz bytes and the entry point's path inside it: ``source_dir``, or the entry point and
        the requirements.txt beside it (the training toolkit pip-installs a requirements.txt at its root)."""
        if self.config.source_dir:
            source = self.settings_path(self.config.source_dir)
            if not source.is_dir():
                raise JobFailedError(f"[tool.mlgates.sagemaker] source_dir {source} is not a folder")
            try:
                program = entry.resolve().relative_to(source.resolve()).as_posix()
            except ValueError:
                raise JobFailedError(
                    f"the training entry point {entry} is outside [tool.mlgates.sagemaker] source_dir {source}; "
                    f"source_dir must contain it"
                ) from None
            files = [p for p in sorted(source.rglob("*"))
                     if p.is_file() and not SOURCE_EXCLUDES.intersection(p.relative_to(source).parts)]
        else:
            # the entry point alone, with the requirements.txt beside it, which the toolkit pip-installs
            source, program = entry.parent, entry.name
            requirements = shipped_requirements(source)
            files = [entry] if requirements is None else [entry, requirements]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for file in files:
                tar.add(file, arcname=file.relative_to(source).as_posix(), recursive=False)
        return buffer.getvalue(), program

    def settings_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path


def digest_dir_of_file(path: Path) -> str:
    """sha256 of one file's bytes (the name of its content-addressed upload)."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
