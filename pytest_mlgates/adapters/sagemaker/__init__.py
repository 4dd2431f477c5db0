"""The ``sagemaker`` platform: Amazon SageMaker through boto3.

``settings.py`` parses ``[tool.mlgates.sagemaker]`` (no SDK import);
``client.py`` holds the boto3 plumbing and error mapping; ``storage.py`` S3;
``training.py``, ``registry.py`` (with ``lock.py``, the promotion lock) and
``endpoints.py`` the verbs; ``adapter.py`` composes them; ``metadata.py``
encodes gate metadata into model package properties; ``served.py`` builds and
checks the package that the stock scikit-learn image serves, whose image
``images.py`` locates.

The names below load ``adapter.py`` (and so boto3) on first access, so that the
settings can be checked without the SDK.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SageMakerAdapter", "SageMakerSettings", "job_name_for", "parse_settings", "resource_name"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import adapter

        return getattr(adapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
