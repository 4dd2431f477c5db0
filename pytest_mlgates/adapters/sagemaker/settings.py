"""``[tool.mlgates.sagemaker]``: the SageMaker adapter's own settings, validated.

The core settings keep this table as a raw dict; it is checked here, when the
adapter is built, so a typo fails the run at once with the key's name instead
of surfacing as an AWS error half-way through a training job. Credentials are
never a setting: boto3's default chain supplies them (environment, shared
files, SSO, instance or container role). Imports no AWS SDK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...config import ConfigError, coerce_table
from ..object_uri import PrefixedStore, is_prefix_uri

TABLE = "[tool.mlgates.sagemaker]"

_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_INSTANCE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


@dataclass(frozen=True)
class SageMakerSettings(PrefixedStore):
    _store_scheme: ClassVar[str] = "s3"
    _store_setting: ClassVar[str] = "s3_prefix"  # bucket, prefix, key(), uri() under it
    region: str
    """AWS region; else env AWS_REGION / AWS_DEFAULT_REGION."""
    role_arn: str
    """IAM role SageMaker assumes to run jobs and endpoints (arn:aws:iam::<account>:role/<name>)."""
    s3_prefix: str
    """s3://bucket/prefix for code, uploaded data, job outputs, registry metrics and the promotion lock."""
    image_uri: str = ""
    """Training image: a SageMaker framework image (script mode) or your own."""
    inference_image_uri: str = ""
    """Serving image honouring /ping and /invocations; empty means image_uri."""
    script_mode: bool = True
    """True: upload the entry point and let the framework image run it; False: run it inside image_uri."""
    source_dir: str = ""
    """Folder uploaded with the entry point in script mode; empty means the entry point file alone."""
    container_python: str = "python3"
    """Interpreter inside image_uri when script_mode is false."""
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 30
    endpoint_instance_type: str = "ml.m5.large"
    endpoint_instance_count: int = 1
    model_package_group: str = ""
    """Model package group; empty means one derived from model_name."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra AWS tags put on training jobs, models, endpoint configs and endpoints."""
    endpoint_url: str = ""
    """Send every AWS call here instead (an emulator such as moto, or a VPC endpoint)."""
    max_attempts: int = 4
    """Attempts per AWS call when throttled (and per read call on 5xx or network errors)."""
    retry_base_seconds: float = 0.5
    """First back-off; doubles per attempt, full jitter, capped at 20 s."""
    endpoint_timeout_seconds: float = 1800.0
    """How long deploy/set_traffic wait for an endpoint to be InService."""
    endpoint_poll_seconds: float = 15.0
    lock_timeout_seconds: float = 120.0
    """How long a promotion waits for another run's registry lock before giving up."""
    lock_ttl_seconds: float = 900.0
    """A registry lock older than this was left by a crashed run and may be taken over."""
    serving: str = "image"
    """What serves a version: "image" runs inference_image_uri (else image_uri) on the trained model.tar.gz;
    "sklearn" runs SageMaker's stock scikit-learn inference image on a package of the trained files plus
    pytest-mlgates's inference handler (code/inference.py), built at registration."""
    sklearn_version: str = "1.2-1"
    """With serving = "sklearn": the inference image's framework version (train with its scikit-learn)."""
    model_server_workers: int = 0
    """With serving = "sklearn": worker processes per instance; 0 leaves the image's default (one per vCPU)."""


_REQUIRED = {
    "region": 'region = "eu-west-1" (or set AWS_REGION)',
    "role_arn": 'role_arn = "arn:aws:iam::123456789012:role/SageMakerExecution"',
    "s3_prefix": 's3_prefix = "s3://my-bucket/mlgates"',
}


def parse_settings(raw: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> SageMakerSettings:
    """Validate the raw table; every error names the key and says what to write."""
    env = os.environ if env is None else env
    s = coerce_table(
        "sagemaker", raw, SageMakerSettings,
        defaults={"region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""},
        required=_REQUIRED,
        unknown_hint=". AWS credentials are never configured here: boto3's default chain "
                     "(AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance role) provides them",
    )

    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{TABLE} {key} {msg}, got {getattr(s, key)!r}")

    if not _REGION_RE.match(s.region):
        raise bad("region", "must be an AWS region name such as eu-west-1")
    if not _ROLE_RE.match(s.role_arn):
        raise bad("role_arn", "must be an IAM role ARN, arn:aws:iam::<12-digit account>:role/<name>")
    if not is_prefix_uri(s.s3_prefix, "s3"):
        raise bad("s3_prefix", "must be s3://<bucket>[/<prefix>]")
    for key in ("instance_type", "endpoint_instance_type"):
        if not _INSTANCE_RE.match(getattr(s, key)):
            raise bad(key, "must be a SageMaker instance type such as ml.m5.large")
    for key in ("instance_count", "endpoint_instance_count", "volume_size_gb", "max_attempts"):
        if getattr(s, key) < 1:
            raise bad(key, "must be at least 1")
    for key in ("endpoint_timeout_seconds", "endpoint_poll_seconds", "lock_timeout_seconds", "lock_ttl_seconds"):
        if getattr(s, key) <= 0:
            raise bad(key, "must be a positive number of seconds")
    if s.retry_base_seconds < 0:
        raise bad("retry_base_seconds", "must be >= 0")
    if s.model_package_group and not _NAME_RE.match(s.model_package_group):
        raise bad("model_package_group", "must be 1-63 letters, digits and hyphens, starting with a letter or digit")
    if s.endpoint_url and not re.match(r"^https?://", s.endpoint_url):
        raise bad("endpoint_url", "must be an http:// or https:// URL")
    for key, value in s.tags.items():
        if key.lower().startswith("aws:") or not 1 <= len(key) <= 128 or len(value) > 256:
            raise ConfigError(f"{TABLE} tags has an invalid AWS tag {key!r} = {value!r} (keys 1-128 characters, "
                              f"not starting with aws:, values up to 256 characters)")
    _check_serving(s)
    return s


SERVING_MODES = ("image", "sklearn")


def _check_serving(s: SageMakerSettings) -> None:
    from .images import SKLEARN_VERSIONS, UnknownImageError, sklearn_image_uri

    if s.serving not in SERVING_MODES:
        raise ConfigError(f'{TABLE} serving must be "image" (your own serving image) or "sklearn" (SageMaker\'s '
                          f"scikit-learn inference image), got {s.serving!r}")
    if s.sklearn_version not in SKLEARN_VERSIONS:
        raise ConfigError(f"{TABLE} sklearn_version must be one of {', '.join(SKLEARN_VERSIONS)} (the scikit-learn "
                          f"inference images), got {s.sklearn_version!r}")
    if s.model_server_workers < 0:
        raise ConfigError(f"{TABLE} model_server_workers must be 0 (the image's default) or more, "
                          f"got {s.model_server_workers!r}")
    if s.serving == "sklearn" and not s.inference_image_uri:
        try:
            sklearn_image_uri(s.region, s.sklearn_version)
        except UnknownImageError as exc:
            raise ConfigError(f"{TABLE} serving = \"sklearn\": {exc}") from None
