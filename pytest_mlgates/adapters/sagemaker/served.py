"""The served package of ``serving = "sklearn"``: what SageMaker's scikit-learn image loads.

At registration the trained ``model.tar.gz`` is downloaded, checked against the digest
just read from it, and packed again with the trained files unchanged at the top and
``code/inference.py`` + ``code/mlgates_runtime.py`` beside them (pytest_mlgates.packaging);
the package goes to S3 beside the trained artifact, named by its digest, and the model
package's container points at it with the environment the image's serving stack reads.
The registry keeps both digests: the trained artifact's (``mlgates.sm.sha256``, which the
handler checks at start-up, leaving out ``code/``) and the served package's
(``mlgates.sm.served_sha256``, which deploy and promotion check before anything serves it).
"""

from __future__ import annotations

import io
import logging
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...contract import digest_dir
from ...packaging import ENTRIES, write_code_folder
from ...records import IntegrityError, JobFailedError, NotFoundError
from ..object_uri import split_uri
from .client import CONTAINER_MODEL_DIR
from .images import sklearn_image_uri
from .metadata import MetadataError, summarize_tar
from .storage import StorageMixin

KEY_SERVED_SHA256 = "mlgates.sm.served_sha256"
"""Model package property: the digest of the served package (trained files + code/)."""
KEY_ARTIFACT = "mlgates.sm.artifact"
"""Model package property: the S3 URI of the trained model.tar.gz, when the container serves a package."""
CODE_FOLDER = "code"
PROGRAM = ENTRIES["sagemaker"][1]

log = logging.getLogger("pytest_mlgates.sagemaker")


def pack_folder(folder: Path) -> bytes:
    """A model.tar.gz of ``folder``'s files, members relative and in a stable order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = tar.gettarinfo(path, arcname=path.relative_to(folder).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return buffer.getvalue()


class ServedPackageMixin(StorageMixin):
    """Building and checking the package that SageMaker's scikit-learn image serves."""

    def serving_image(self) -> str:
        """The image the model package names: the stock scikit-learn image unless inference_image_uri is set."""
        cfg = self.config
        if cfg.serving == "sklearn":
            return cfg.inference_image_uri or sklearn_image_uri(cfg.region, cfg.sklearn_version)
        return cfg.inference_image_uri or cfg.image_uri

    def _served_container(self, job_name: str, trained_uri: str, trained_sha256: str) -> tuple[dict[str, Any],
                                                                                               dict[str, str]]:
        """(the model package's container, the properties recording the package) for ``serving = "sklearn"``."""
        cfg = self.config
        with tempfile.TemporaryDirectory(prefix="mlgates-served-") as tmp:
            folder = self.fetch_job_artifact(job_name, Path(tmp))  # type: ignore[attr-defined]
            actual = digest_dir(folder)
            if actual != trained_sha256:
                raise IntegrityError(
                    f"the trained artifact {trained_uri} of {job_name!r} changed while it was being registered "
                    f"(sha256 {actual}, read a moment before as {trained_sha256}); register it again")
            if (folder / CODE_FOLDER).exists():
                raise JobFailedError(
                    f"the model of {job_name!r} has a top-level {CODE_FOLDER}/ entry, where SageMaker's scikit-learn "
                    f"image expects the inference code; write the model's own files elsewhere in --model-dir")
            write_code_folder("sagemaker", folder / CODE_FOLDER)
            served_sha256 = digest_dir(folder)
            body = pack_folder(folder)
        bucket, key = split_uri(trained_uri, "s3")
        served_key = f"{key.rsplit('/', 1)[0]}/mlgates-served-{served_sha256[:16]}/model.tar.gz"
        self._call("s3", "put_object", f"served package of {job_name}", Bucket=bucket, Key=served_key, Body=body)
        environment = {
            "SAGEMAKER_PROGRAM": PROGRAM,
            "SAGEMAKER_SUBMIT_DIRECTORY": f"{CONTAINER_MODEL_DIR}/{CODE_FOLDER}",
            "SAGEMAKER_REGION": cfg.region,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "MLGATES_SHA256": trained_sha256,
            "MLGATES_SERVED_SHA256": served_sha256,
        }
        if cfg.model_server_workers:
            environment["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(cfg.model_server_workers)
        container = {"Image": self.serving_image(), "ModelDataUrl": f"s3://{bucket}/{served_key}",
                     "Environment": environment}
        return container, {KEY_SERVED_SHA256: served_sha256, KEY_ARTIFACT: trained_uri}

    def _verify_served(self, model_id: str, container: Mapping[str, Any], internal: Mapping[str, str]) -> None:
        """IntegrityError unless the package the container serves still has the recorded served digest."""
        expected = internal.get(KEY_SERVED_SHA256)
        if not expected:
            return
        url = str(container.get("ModelDataUrl", ""))
        bucket, key = split_uri(url, "s3")
        try:
            body = self._call("s3", "get_object", f"served package of {model_id}", Bucket=bucket, Key=key)["Body"]
        except NotFoundError:
            raise IntegrityError(f"the served package of {model_id} is missing from {url}; register the version "
                                 f"again") from None
        try:
            actual = summarize_tar(body).sha256
        except (MetadataError, tarfile.TarError, OSError) as exc:
            raise IntegrityError(f"the served package of {model_id} at {url} cannot be read: {exc}") from None
        finally:
            body.close()
        if actual != expected:
            raise IntegrityError(
                f"the served package of {model_id} at {url} has sha256 {actual}, but the registry recorded "
                f"{expected} for it (the served package's digest: the trained files plus code/); it was changed "
                f"after registration, so it is not deployed. Register the version again.")
        log.info("verified the served package of %s (%s): sha256 %s, the served package's digest", model_id, url,
                 expected)
