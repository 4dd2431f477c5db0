"""The ``vertex`` platform: Vertex AI through google-cloud-aiplatform over REST.

``settings.py`` parses ``[tool.mlgates.vertex]`` and ``names.py`` applies
Vertex's naming rules (neither imports the SDK); ``client.py`` holds
credentials, the REST clients, bounded retries, error mapping and the
operation poll loop; ``storage.py`` Cloud Storage; ``training.py``,
``registry.py`` (with ``entry.py``, the stored gate data) and ``endpoints.py``
the verbs; ``adapter.py`` composes them.

The names below load ``adapter.py`` (and so the SDK) on first access, so that
the settings can be checked without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["VertexAdapter", "VertexSettings", "parse_settings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import adapter

        return getattr(adapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
