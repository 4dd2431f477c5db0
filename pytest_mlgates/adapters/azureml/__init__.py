"""The ``azureml`` platform: Azure Machine Learning through azure-ai-ml.

``settings.py`` parses ``[tool.mlgates.azureml]`` (no SDK import);
``client.py`` holds MLClient, the raw ARM pipeline, retries and error mapping;
``storage.py`` the datastore's blobs; ``training.py``, ``registry.py`` and
``endpoints.py`` the verbs; ``names.py`` Azure's naming rules; ``adapter.py``
composes them. Deployments run pytest_mlgates.packaging's serving entry.

The names below load ``adapter.py`` (and so azure-ai-ml) on first access, so
that the settings can be checked without the SDK.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AzureMLAdapter", "AzureMLSettings", "azure_name", "parse_settings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import adapter

        return getattr(adapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
