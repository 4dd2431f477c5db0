"""The load runner: locust in a subprocess, every request's latency handed back.

``run_load(url, bodies, users=..., duration=...)`` returns a
``pytest_mlgates.gates.load.LoadResult``. Importing this package never imports
locust (which monkey-patches sockets process-wide).
"""

from __future__ import annotations

from .runner import (
    LOCUSTFILE,
    LoadTestError,
    bodies_from_rows,
    read_payload_file,
    rows_to_instances,
    run_load,
)

__all__ = ["LOCUSTFILE", "LoadTestError", "bodies_from_rows", "read_payload_file", "rows_to_instances", "run_load"]
