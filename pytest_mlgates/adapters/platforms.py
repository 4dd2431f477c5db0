"""The one table of platforms: adding a platform is one entry here plus its package.

Config (which ``[tool.mlgates.<name>]`` tables exist), the adapter registry and
``mlgates init`` (which login steps a workflow needs) all read this table, so
no other module keeps a list of platform names. Nothing here is imported until
it is asked for: an entry is strings only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    name: str
    adapter: str
    """``module:Class`` of the adapter, imported on first use."""
    extra: str | None = None
    """The pip extra that provides the SDK (``pip install 'pytest-mlgates[<extra>]'``)."""
    sdk_module: str | None = None
    """The SDK's top module, looked up (never imported) so a missing SDK fails fast with the extra to install."""
    settings: str | None = None
    """``module:function`` that parses the platform's ``[tool.mlgates.<name>]`` table (imports no SDK)."""
    credentials_template: str | None = None
    """File in ci/templates with the GitHub Actions steps that log in to this platform."""


PLATFORMS: dict[str, Platform] = {p.name: p for p in (
    Platform("local", "pytest_mlgates.adapters.local:LocalAdapter"),
    Platform("sagemaker", "pytest_mlgates.adapters.sagemaker:SageMakerAdapter", extra="sagemaker",
             sdk_module="boto3", settings="pytest_mlgates.adapters.sagemaker.settings:parse_settings",
             credentials_template="credentials_sagemaker.yml"),
    Platform("azureml", "pytest_mlgates.adapters.azureml:AzureMLAdapter", extra="azureml",
             sdk_module="azure.ai.ml", settings="pytest_mlgates.adapters.azureml.settings:parse_settings",
             credentials_template="credentials_azureml.yml"),
    Platform("vertex", "pytest_mlgates.adapters.vertex:VertexAdapter", extra="vertex",
             sdk_module="google.cloud.aiplatform", settings="pytest_mlgates.adapters.vertex.settings:parse_settings",
             credentials_template="credentials_vertex.yml"),
)}

CLOUDS: tuple[str, ...] = tuple(name for name, p in PLATFORMS.items() if p.credentials_template)
"""Platforms whose workflows need cloud credentials."""
