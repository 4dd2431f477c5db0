"""The local model server behind local endpoints (starlette + uvicorn).

Run one as ``python -m pytest_mlgates.serving model --model-dir DIR --sha256 S``
or a router in front of several as ``python -m pytest_mlgates.serving router
--config FILE``. Local endpoints (``adapters/local/endpoints.py``) start both
for you. This package imports nothing heavy at import time: starlette,
uvicorn, pandas and the model libraries are imported by the processes that
serve, never by the pytest process that only talks to them over HTTP.

The wire contract is the SageMaker container contract: ``GET /ping`` and
``POST /invocations`` with ``{"instances": [{feature: value}, ...]}`` ->
``{"predictions": [...]}``. Errors are JSON ``{"error": {"code", "message"}}``:
4xx for what the caller sent, 5xx only for faults of the server or model.
"""

from __future__ import annotations

ADMIN_PREFIX = "/mlgates"
"""Control routes (faults, latencies, traffic, mirror log); the servers bind 127.0.0.1 only."""

__all__ = ["ADMIN_PREFIX"]
