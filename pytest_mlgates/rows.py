"""Rows of features, read once and the same way for every consumer.

The smoke sample, the load test, the shadow test and the rollout all need
feature rows: from the training data (without its target column) or from a
payload file, as a DataFrame or as JSON-ready instances. This module is the
one reader; pandas is imported only when a CSV or Parquet file is read.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings


class NoRowsError(ValueError):
    """There are no request rows to send; the message says what to configure."""


def read_table(path: Path) -> Any:
    """Read a CSV or Parquet training file into a DataFrame, with a clear error."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"training data {path} does not exist; set [tool.mlgates.training] data "
                                f"to a CSV or Parquet file")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _json_value(value: Any) -> Any:
    """numpy / pandas scalars -> plain JSON values; NaN -> None (missing)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def rows_to_instances(rows: Any) -> list[dict[str, Any]]:
    """A pandas DataFrame or a list of mappings -> JSON-ready instances (feature -> plain value)."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        records = rows.to_dict(orient="records")
    elif isinstance(rows, Mapping):
        raise TypeError("rows must be a DataFrame or a list of {feature: value} objects, got a single mapping")
    else:
        records = list(rows)
    instances = []
    for i, row in enumerate(records):
        if not isinstance(row, Mapping):
            raise TypeError(f"row {i} is a {type(row).__name__}; rows must be {{feature: value}} objects")
        instances.append({str(k): _json_value(v) for k, v in row.items()})
    return instances


def bodies_from_rows(rows: Any, batch_size: int = 1) -> list[dict[str, Any]]:
    """Request bodies ``{"instances": [...]}`` of ``batch_size`` rows each."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    instances = rows_to_instances(rows)
    return [{"instances": instances[i:i + batch_size]} for i in range(0, len(instances), batch_size)]


def read_payload_file(path: str | os.PathLike[str], drop: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows from a CSV, Parquet, JSON (a list of rows, or ``{"instances": [...]}``) or JSON-lines file."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"payload file {file} does not exist; set [tool.mlgates.load] payloads to a "
                                f"CSV, Parquet, JSON or JSON-lines file of request rows")
    suffix = file.suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        import pandas as pd

        frame = pd.read_csv(file) if suffix == ".csv" else pd.read_parquet(file)
        frame = frame.drop(columns=[c for c in drop if c in frame.columns])
        return rows_to_instances(frame)
    if suffix in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    elif suffix == ".json":
        data = json.loads(file.read_text())
        rows = data["instances"] if isinstance(data, Mapping) and "instances" in data else data
    else:
        raise ValueError(f"payload file {file}: unsupported type {suffix!r}; use .csv, .parquet, .json or .jsonl")
    if not isinstance(rows, list):
        raise ValueError(f"payload file {file} must hold a list of rows")
    return [{k: v for k, v in row.items() if k not in drop} for row in rows_to_instances(rows)]


def request_rows(settings: Settings, payloads: Any = None, limit: int = 10_000) -> list[dict[str, Any]]:
    """Up to ``limit`` instances from ``payloads`` (a DataFrame, a list of rows or a file), else the
    configured ``[tool.mlgates.load] payloads`` file, else the training data without its target column."""
    target = settings.training.target
    drop = [target] if target else []
    if payloads is None:
        source = settings.load.payloads or settings.training.data
        if not source:
            raise NoRowsError(
                "no request rows to send: pass payloads= (a DataFrame, a list of rows or a file), or set "
                "[tool.mlgates.load] payloads or [tool.mlgates.training] data")
        payloads = settings.path(source)
    if isinstance(payloads, (str, os.PathLike)):
        rows = read_payload_file(Path(payloads), drop=drop)
    else:
        if hasattr(payloads, "columns") and drop:
            payloads = payloads.drop(columns=[c for c in drop if c in payloads.columns])
        rows = rows_to_instances(payloads)
    if not rows:
        raise NoRowsError("the request rows are empty; the load and shadow tests need at least one row")
    return rows[:limit]
