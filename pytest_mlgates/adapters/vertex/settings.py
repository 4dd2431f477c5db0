"""``[tool.mlgates.vertex]``: the Vertex AI adapter's own settings, validated.

Checked when the adapter is built, so a typo fails the run at once with the
key's name instead of surfacing as a Google API error half-way through a job.
Credentials are never a setting: google-auth's default chain supplies them
(``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``,
Workload Identity Federation in CI). The project is always explicit, so
google-auth never has to ask the metadata server for it. Imports no Google SDK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...config import ConfigError, coerce_table
from ..object_uri import PrefixedStore, is_prefix_uri

TABLE = "[tool.mlgates.vertex]"

_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_LOCATION_RE = re.compile(r"^[a-z]+(-[a-z]+)*\d*(-[a-z0-9]+)*$")
_MODEL_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_ROUTE_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")


@dataclass(frozen=True)
class VertexSettings(PrefixedStore):
    _store_scheme: ClassVar[str] = "gs"
    _store_setting: ClassVar[str] = "staging_bucket"  # bucket, prefix, key(), uri() under it
    project: str
    """Google Cloud project ID; else env GOOGLE_CLOUD_PROJECT. Always explicit: never looked up."""
    location: str
    """Vertex AI region (us-central1, europe-west4, ...); else env GOOGLE_CLOUD_REGION."""
    staging_bucket: str
    """gs://bucket/prefix for code, uploaded data and job outputs (AIP_MODEL_DIR lives under it)."""
    training_image: str = ""
    """Training container: a Vertex prebuilt training image (prebuilt = true) or your own."""
    prebuilt: bool = True
    """True: stage the entry point as a Python package run by the prebuilt image; False: the image runs it."""
    container_python: str = "python3"
    """Interpreter inside training_image when prebuilt is false."""
    source_dir: str = ""
    """Folder staged with the entry point; empty means the entry point file alone."""
    serving_image: str = ""
    """Serving container of registered models (a prebuilt prediction image or your own)."""
    mlgates_predictor: bool = False
    """True: serving_image is a custom prediction routine image running pytest-mlgates' predictor
    (``write_code_folder("vertex", dir)``); registration then runs MlgatesPredictor on a few rows first."""
    predict_route: str = "/invocations"
    """The serving container's predict route (the mlgates serving contract by default)."""
    health_route: str = "/ping"
    serving_port: int = 8080
    machine_type: str = "n1-standard-4"
    replica_count: int = 1
    endpoint_machine_type: str = "n1-standard-2"
    endpoint_min_replicas: int = 1
    endpoint_max_replicas: int = 1
    service_account: str = ""
    """Service account the jobs and deployed models run as; empty means Vertex's default."""
    model_id: str = ""
    """Model Registry model ID; empty means one derived from model_name."""
    labels: dict[str, str] = field(default_factory=dict)
    """Extra labels on jobs, models and endpoints (made valid as Vertex labels)."""
    api_endpoint: str = ""
    """Send Vertex API calls here instead of https://<location>-aiplatform.googleapis.com."""
    storage_endpoint: str = ""
    """Send Cloud Storage calls here instead (an emulator); STORAGE_EMULATOR_HOST works too."""
    logging_endpoint: str = ""
    """Read job logs from here instead of https://logging.googleapis.com."""
    max_attempts: int = 4
    """Attempts per call when throttled (and per read on 5xx)."""
    retry_base_seconds: float = 1.0
    """First back-off; doubles per attempt, full jitter, capped at 30 s."""
    call_timeout_seconds: float = 60.0
    """Timeout of each single API call."""
    operation_timeout_seconds: float = 1800.0
    """How long deploy, undeploy and other long-running operations may take."""
    operation_poll_seconds: float = 10.0
    job_poll_seconds: float = 30.0
    """Seconds between polls of a training job (the adapter's declared poll_interval)."""

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


_REQUIRED = {
    "project": 'project = "my-project" (or set GOOGLE_CLOUD_PROJECT)',
    "location": 'location = "us-central1" (or set GOOGLE_CLOUD_REGION)',
    "staging_bucket": 'staging_bucket = "gs://my-bucket/mlgates"',
}


def parse_settings(raw: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> VertexSettings:
    """Validate the raw table; every error names the key and says what to write."""
    env = os.environ if env is None else env
    s = coerce_table(
        "vertex", raw, VertexSettings,
        defaults={"project": env.get("GOOGLE_CLOUD_PROJECT", ""), "location": env.get("GOOGLE_CLOUD_REGION", "")},
        required=_REQUIRED,
        unknown_hint=". Google credentials are never configured here: google-auth's default chain "
                     "(GOOGLE_APPLICATION_CREDENTIALS, gcloud application-default login, workload identity) "
                     "provides them",
    )

    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{TABLE} {key} {msg}, got {getattr(s, key)!r}")

    if not _PROJECT_RE.match(s.project):
        raise bad("project", "must be a Google Cloud project ID (6-30 lowercase letters, digits, hyphens)")
    if not _LOCATION_RE.match(s.location) or s.location == "global":
        raise bad("location", "must be a Vertex AI region such as us-central1")
    if not is_prefix_uri(s.staging_bucket, "gs"):
        raise bad("staging_bucket", "must be gs://<bucket>[/<prefix>]")
    if s.model_id and not _MODEL_ID_RE.match(s.model_id):
        raise bad("model_id", "must be 1-63 lowercase letters, digits, _ and -, starting with a letter")
    for key in ("predict_route", "health_route"):
        if not _ROUTE_RE.match(getattr(s, key)):
            raise bad(key, "must be a URL path starting with /")
    for key in ("replica_count", "endpoint_min_replicas", "endpoint_max_replicas", "max_attempts", "serving_port"):
        if getattr(s, key) < 1:
            raise bad(key, "must be at least 1")
    if s.endpoint_max_replicas < s.endpoint_min_replicas:
        raise bad("endpoint_max_replicas", f"must be >= endpoint_min_replicas ({s.endpoint_min_replicas})")
    for key in ("call_timeout_seconds", "operation_timeout_seconds", "operation_poll_seconds", "job_poll_seconds"):
        if getattr(s, key) <= 0:
            raise bad(key, "must be a positive number of seconds")
    if s.retry_base_seconds < 0:
        raise bad("retry_base_seconds", "must be >= 0")
    for key in ("api_endpoint", "storage_endpoint", "logging_endpoint"):
        value = getattr(s, key)
        if value and not re.match(r"^(https?://)?[A-Za-z0-9.-]+(:\d+)?/?$", value):
            raise bad(key, "must be a host[:port] or an http(s):// URL without a path")
    return s
