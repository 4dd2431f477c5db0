"""The ``local`` platform: subprocess training jobs, a SQLite registry and HTTP endpoints on 127.0.0.1.

The embedded default for pull requests, demos and the project's own tests: a
real system, not a mock. ``adapter.py`` holds the adapter and its jobs,
``registry.py`` the registry, ``endpoints.py`` the endpoints, ``runner.py`` the
process that runs one job and records how it ended.
"""

from .adapter import LocalAdapter

__all__ = ["LocalAdapter"]
