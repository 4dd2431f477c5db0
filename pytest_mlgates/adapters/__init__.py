"""A lazy registry of platform adapters, in the style of fsspec's.

Known adapters are dotted paths with an install hint; nothing is imported until
an adapter is asked for, so choosing ``local`` never imports a cloud SDK.
Third parties register through the entry-point group ``pytest_mlgates.adapters``.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from typing import Any

from .base import (
    AccessDeniedError,
    Adapter,
    AdapterError,
    ConflictError,
    DeadlineExceeded,
    Endpoint,
    IntegrityError,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    ThrottledError,
    TrainingJob,
    TrainingSpec,
)

ENTRY_POINT_GROUP = "pytest_mlgates.adapters"

#: name -> (dotted path "module:Class", pip extra that provides its SDK)
KNOWN_ADAPTERS: dict[str, tuple[str, str | None]] = {
    "local": ("pytest_mlgates.adapters.local:LocalAdapter", None),
    "sagemaker": ("pytest_mlgates.adapters.sagemaker:SageMakerAdapter", "sagemaker"),
    "azureml": ("pytest_mlgates.adapters.azureml:AzureMLAdapter", "azureml"),
    "vertex": ("pytest_mlgates.adapters.vertex:VertexAdapter", "vertex"),
}


#: name -> the SDK module a known platform needs, looked up (never imported) to fail fast
SDK_MODULES: dict[str, str] = {
    "sagemaker": "boto3",
    "azureml": "azure.ai.ml",
    "vertex": "google.cloud.aiplatform",
}


def check_sdk_installed(name: str) -> None:
    """Raise MissingSDKError naming the pip extra when a known platform's SDK is absent."""
    module = SDK_MODULES.get(name)
    if module is None:
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise MissingSDKError(f"the {name!r} platform needs {module}, which is not installed; "
                              f"install it with: pip install 'pytest-mlgates[{KNOWN_ADAPTERS[name][1]}]'")


#: name -> "module:function" that validates the platform's own settings table without importing its SDK
SETTINGS_CHECKS: dict[str, str] = {
    "sagemaker": "pytest_mlgates.adapters.sagemaker_settings:parse_settings",
}


def check_platform_settings(name: str, settings: Any) -> None:
    """Raise ConfigError when the platform's own table (e.g. [tool.mlgates.sagemaker]) is unusable."""
    target = SETTINGS_CHECKS.get(name)
    if target is None:
        return
    module_name, _, attr = target.partition(":")
    getattr(importlib.import_module(module_name), attr)(getattr(settings, name, None))


class UnknownPlatformError(ValueError):
    """The platform name is not registered."""


class MissingSDKError(ImportError):
    """The platform is known but its SDK (pip extra) is not installed."""


def _entry_point_adapters() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_platforms() -> list[str]:
    """Every platform name that can be asked for, built-in and registered."""
    return sorted(set(KNOWN_ADAPTERS) | set(_entry_point_adapters()))


def _implemented_platforms() -> list[str]:
    names = [n for n, (target, _) in KNOWN_ADAPTERS.items()
             if importlib.util.find_spec(target.partition(":")[0]) is not None]
    return sorted(set(names) | set(_entry_point_adapters()))


def validate_platform_name(name: str) -> None:
    """Raise UnknownPlatformError listing the valid names when ``name`` is unknown."""
    if name not in KNOWN_ADAPTERS and name not in _entry_point_adapters():
        raise UnknownPlatformError(
            f"unknown ML platform {name!r}; valid names: {', '.join(available_platforms())} "
            f"(or register one through the entry-point group {ENTRY_POINT_GROUP!r})"
        )


def get_adapter_class(name: str) -> type[Adapter]:
    """Import and return the adapter class for ``name`` (first use only)."""
    validate_platform_name(name)
    if name in KNOWN_ADAPTERS:
        target, extra = KNOWN_ADAPTERS[name]
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise UnknownPlatformError(
                    f"the {name!r} adapter is not part of this release of pytest-mlgates yet; "
                    f"use one of: {', '.join(_implemented_platforms())}"
                ) from exc
            if extra is None:
                raise
            raise MissingSDKError(
                f"the {name!r} platform needs its SDK, which is not installed ({exc}); "
                f"install it with: pip install 'pytest-mlgates[{extra}]'"
            ) from exc
        return getattr(module, attr)  # type: ignore[no-any-return]
    return _entry_point_adapters()[name].load()  # type: ignore[no-any-return]


def get_adapter(name: str, settings: Any = None) -> Adapter:
    """A ready adapter instance for ``name``."""
    return get_adapter_class(name)(settings)


__all__ = [
    "AccessDeniedError",
    "Adapter",
    "AdapterError",
    "ConflictError",
    "DeadlineExceeded",
    "Endpoint",
    "IntegrityError",
    "JobFailedError",
    "JobStatus",
    "KNOWN_ADAPTERS",
    "MissingSDKError",
    "ModelVersion",
    "NotFoundError",
    "ThrottledError",
    "TrainingJob",
    "TrainingSpec",
    "UnknownPlatformError",
    "available_platforms",
    "check_sdk_installed",
    "check_platform_settings",
    "get_adapter",
    "get_adapter_class",
    "validate_platform_name",
]
