"""A lazy registry of platform adapters, in the style of fsspec's.

The built-in platforms are the entries of :data:`platforms.PLATFORMS` (dotted
paths with an install hint); nothing is imported until an adapter is asked
for, so choosing ``local`` never imports a cloud SDK. Third parties register
through the entry-point group ``pytest_mlgates.adapters``. The record and
error names are re-exported from :mod:`pytest_mlgates.records` for callers
that import them from here.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from typing import Any

from ..records import (
    AccessDeniedError,
    AdapterError,
    Capabilities,
    ConflictError,
    DeadlineExceeded,
    DeployOptions,
    Endpoint,
    Faults,
    IntegrityError,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    ThrottledError,
    TrafficError,
    TrainingJob,
    TrainingSpec,
    UnsupportedError,
)
from .base import Adapter
from .platforms import PLATFORMS, Platform

ENTRY_POINT_GROUP = "pytest_mlgates.adapters"


class UnknownPlatformError(ValueError):
    """The platform name is not registered."""


class MissingSDKError(ImportError):
    """The platform is known but its SDK (pip extra) is not installed."""


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def check_sdk_installed(name: str) -> None:
    """Raise MissingSDKError naming the pip extra when a known platform's SDK is absent."""
    platform = PLATFORMS.get(name)
    if platform is None or platform.sdk_module is None:
        return
    try:
        found = importlib.util.find_spec(platform.sdk_module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise MissingSDKError(f"the {name!r} platform needs {platform.sdk_module}, which is not installed; "
                              f"install it with: pip install 'pytest-mlgates[{platform.extra}]'")


def check_platform_settings(name: str, settings: Any) -> None:
    """Raise ConfigError when the platform's own table (e.g. [tool.mlgates.sagemaker]) is unusable."""
    platform = PLATFORMS.get(name)
    if platform is None or platform.settings is None:
        return
    try:
        parse = _import_target(platform.settings)
    except ModuleNotFoundError:
        return  # the adapter is not part of this release; get_adapter_class says so
    parse(settings.platform_table(name) if settings is not None else None)


def _entry_point_adapters() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_platforms() -> list[str]:
    """Every platform name that can be asked for, built-in and registered."""
    return sorted(set(PLATFORMS) | set(_entry_point_adapters()))


def _implemented_platforms() -> list[str]:
    names = [n for n, p in PLATFORMS.items() if importlib.util.find_spec(p.adapter.partition(":")[0]) is not None]
    return sorted(set(names) | set(_entry_point_adapters()))


def validate_platform_name(name: str) -> None:
    """Raise UnknownPlatformError listing the valid names when ``name`` is unknown."""
    if name not in PLATFORMS and name not in _entry_point_adapters():
        raise UnknownPlatformError(
            f"unknown ML platform {name!r}; valid names: {', '.join(available_platforms())} "
            f"(or register one through the entry-point group {ENTRY_POINT_GROUP!r})"
        )


def get_adapter_class(name: str) -> type[Adapter]:
    """Import and return the adapter class for ``name`` (first use only)."""
    validate_platform_name(name)
    platform = PLATFORMS.get(name)
    if platform is None:
        return _entry_point_adapters()[name].load()  # type: ignore[no-any-return]
    module_name = platform.adapter.partition(":")[0]
    try:
        return _import_target(platform.adapter)  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise UnknownPlatformError(
                f"the {name!r} adapter is not part of this release of pytest-mlgates yet; "
                f"use one of: {', '.join(_implemented_platforms())}"
            ) from exc
        if platform.extra is None:
            raise
        raise MissingSDKError(
            f"the {name!r} platform needs its SDK, which is not installed ({exc}); "
            f"install it with: pip install 'pytest-mlgates[{platform.extra}]'"
        ) from exc


def get_adapter(name: str, settings: Any = None) -> Adapter:
    """A ready adapter instance for ``name``."""
    return get_adapter_class(name)(settings)


__all__ = [
    "AccessDeniedError",
    "Adapter",
    "AdapterError",
    "Capabilities",
    "ConflictError",
    "DeadlineExceeded",
    "DeployOptions",
    "ENTRY_POINT_GROUP",
    "Endpoint",
    "Faults",
    "IntegrityError",
    "JobFailedError",
    "JobStatus",
    "MissingSDKError",
    "ModelVersion",
    "NotFoundError",
    "PLATFORMS",
    "Platform",
    "ThrottledError",
    "TrafficError",
    "TrainingJob",
    "TrainingSpec",
    "UnknownPlatformError",
    "UnsupportedError",
    "available_platforms",
    "check_platform_settings",
    "check_sdk_installed",
    "get_adapter",
    "get_adapter_class",
    "validate_platform_name",
]
