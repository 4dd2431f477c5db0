"""``[tool.mlgates.azureml]``: the Azure ML adapter's own settings, validated.

Checked when the adapter is built (and when a platform-bound gate is
collected), so a missing subscription, resource group or workspace is a usage
error naming the setting instead of an Azure error half-way through a run.
Credentials are never a setting: azure-identity's DefaultAzureCredential
supplies them (environment, workload identity/OIDC, managed identity, Azure
CLI). Imports no Azure SDK.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...config import ConfigError, coerce_table

TABLE = "[tool.mlgates.azureml]"

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_GROUP_RE = re.compile(r"^[-\w._()]{1,90}$")
_WORKSPACE_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")
_ASSET_REF_RE = re.compile(r"^(azureml:)?[a-zA-Z0-9][a-zA-Z0-9._-]*([:@][a-zA-Z0-9._-]+)?$|^azureml://|^/subscriptions/")


@dataclass(frozen=True)
class AzureMLSettings:
    subscription_id: str
    """Azure subscription id (a GUID); else env AZURE_SUBSCRIPTION_ID."""
    resource_group: str
    """Resource group of the workspace; else env AZURE_RESOURCE_GROUP."""
    workspace: str
    """Azure ML workspace name; else env AZUREML_WORKSPACE."""
    compute: str = "cpu-cluster"
    """Compute cluster the training command job runs on."""
    environment: str = "azureml:AzureML-sklearn-1.5@latest"
    """Environment of the training job (``azureml:<name>:<version>`` or ``azureml:<name>@latest``)."""
    inference_environment: str = ""
    """Environment of online deployments; empty means ``environment``."""
    scoring_script: str = ""
    """Scoring script (init/run) of online deployments, relative to the project; its folder is uploaded.
    Empty: pytest-mlgates' serving entry (pytest_mlgates.packaging), which checks the model's digest and
    serves ``{"instances": [...]} -> {"predictions": [...]}``."""
    source_dir: str = ""
    """Folder uploaded as the job's code; empty means the entry point's folder."""
    experiment_name: str = "mlgates"
    instance_type: str = "Standard_DS3_v2"
    """VM size of online deployments."""
    instance_count: int = 1
    datastore: str = "workspaceblobstore"
    """Datastore that holds uploaded data and job outputs (models, metrics.json)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra tags on jobs, endpoints and deployments."""
    resource_manager_url: str = ""
    """Send management calls here instead of the public cloud's ARM (a sovereign cloud or a test fake)."""
    blob_endpoint: str = ""
    """Account URL of the datastore's storage (private endpoint, emulator); empty: derived from the datastore."""
    max_attempts: int = 4
    """Attempts per call when Azure throttles (429) or, for reads, answers 5xx."""
    retry_base_seconds: float = 1.0
    """Back-off when Azure sends no Retry-After; doubles per attempt, capped at 30 s (as is Retry-After)."""
    job_poll_seconds: float = 30.0
    """Seconds between polls of a training job."""
    operation_timeout_seconds: float = 1800.0
    """How long an endpoint or deployment operation may run."""


_REQUIRED = {
    "subscription_id": 'subscription_id = "00000000-0000-0000-0000-000000000000" (or set AZURE_SUBSCRIPTION_ID)',
    "resource_group": 'resource_group = "ml-rg" (or set AZURE_RESOURCE_GROUP)',
    "workspace": 'workspace = "ml-workspace" (or set AZUREML_WORKSPACE)',
}


def parse_settings(raw: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> AzureMLSettings:
    """Validate the raw table; every error names the key and says what to write."""
    env = os.environ if env is None else env
    s = coerce_table(
        "azureml", raw, AzureMLSettings,
        defaults={"subscription_id": env.get("AZURE_SUBSCRIPTION_ID", ""),
                  "resource_group": env.get("AZURE_RESOURCE_GROUP", ""),
                  "workspace": env.get("AZUREML_WORKSPACE", "")},
        required=_REQUIRED,
        unknown_hint=". Azure credentials are never configured here: DefaultAzureCredential "
                     "(AZURE_CLIENT_ID/AZURE_TENANT_ID with OIDC, managed identity, `az login`) provides them",
    )

    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{TABLE} {key} {msg}, got {getattr(s, key)!r}")

    if not _GUID_RE.match(s.subscription_id):
        raise bad("subscription_id", "must be a subscription id (a GUID such as 00000000-0000-0000-0000-000000000000)")
    if not _GROUP_RE.match(s.resource_group) or s.resource_group.endswith("."):
        raise bad("resource_group", "must be a resource group name (1-90 letters, digits, _-.())")
    if not _WORKSPACE_RE.match(s.workspace):
        raise bad("workspace", "must be an Azure ML workspace name (3-33 letters, digits, _ and -)")
    for key in ("environment", "inference_environment"):
        value = getattr(s, key)
        if value and not _ASSET_REF_RE.match(value):
            raise bad(key, "must name an environment, azureml:<name>:<version> or azureml:<name>@latest")
    if not s.compute or not re.match(r"^[a-zA-Z][a-zA-Z0-9-]{1,31}$", s.compute):
        raise bad("compute", "must be a compute cluster name (2-32 letters, digits and -, a letter first)")
    for key in ("instance_count", "max_attempts"):
        if getattr(s, key) < 1:
            raise bad(key, "must be at least 1")
    for key in ("job_poll_seconds", "operation_timeout_seconds"):
        if getattr(s, key) <= 0:
            raise bad(key, "must be a positive number of seconds")
    if s.retry_base_seconds < 0:
        raise bad("retry_base_seconds", "must be >= 0")
    for key in ("resource_manager_url", "blob_endpoint"):
        value = getattr(s, key)
        if value and not re.match(r"^https?://", value):
            raise bad(key, "must be an http:// or https:// URL")
    return s
