"""The training contract: what a training script writes and how we read it back.

A training script is run as ``python <entry_point> --data PATH --model-dir DIR
[--name value]...`` and writes ``DIR/metrics.json`` (a flat object of finite
numbers, plus an optional ``validation_fingerprint`` string) and its model as
``DIR/model.joblib`` or ``DIR/model.skops``. Training scripts may import the
helpers here (``write_metrics``, ``validation_fingerprint``); they are light and
import pandas or joblib only when called.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
MODEL_FILES = ("model.joblib", "model.skops")
FINGERPRINT_KEY = "validation_fingerprint"


class ContractError(ValueError):
    """A training script broke the contract (missing or malformed output)."""


def check_metrics(metrics: Any, source: str = "metrics") -> dict[str, Any]:
    """Validate a metrics object: flat, finite numbers, optional fingerprint string."""
    if not isinstance(metrics, dict):
        raise ContractError(f"{source} must be a JSON object of numbers, got {type(metrics).__name__}")
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if key == FINGERPRINT_KEY:
            if not isinstance(value, str) or not value:
                raise ContractError(f"{source}: {FINGERPRINT_KEY} must be a non-empty string, got {value!r}")
            clean[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ContractError(
                f"{source}: metric {key!r} must be a number, got {value!r}; metrics.json is a flat "
                f"object of numbers (plus an optional {FINGERPRINT_KEY!r} string)"
            )
        if not math.isfinite(value):
            raise ContractError(f"{source}: metric {key!r} is {value!r}, not a finite number")
        clean[key] = float(value)
    return clean


def read_metrics(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``model_dir/metrics.json``."""
    path = Path(model_dir) / METRICS_FILE
    if not path.is_file():
        raise ContractError(f"the training script wrote no {path}; it must write {METRICS_FILE} into --model-dir")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: float(c))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path} is not valid JSON: {exc}") from exc
    return check_metrics(data, str(path))


def write_metrics(model_dir: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics.json`` atomically, after checking it obeys the contract."""
    clean = check_metrics(dict(metrics), "write_metrics()")
    path = Path(model_dir) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(clean, indent=2, sort_keys=True) + "\n")
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file and rename, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def validation_fingerprint(rows: Any) -> str:
    """A digest of the validation rows (a pandas DataFrame), columns and order included.

    Two models whose metrics carry different fingerprints were scored on
    different data; the champion gate refuses to compare them.
    """
    import pandas as pd

    if not isinstance(rows, pd.DataFrame):
        rows = pd.DataFrame(rows)
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in rows.columns]).encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:32]


def digest_dir(folder: str | os.PathLike[str]) -> str:
    """sha256 over every file of a folder (relative path and content), order independent."""
    root = Path(folder)
    outer = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(path.relative_to(root).as_posix().encode() + b"\0" + inner.hexdigest().encode() + b"\n")
    return outer.hexdigest()


def model_file(model_dir: str | os.PathLike[str]) -> Path:
    """The model file the training script wrote."""
    for name in MODEL_FILES:
        path = Path(model_dir) / name
        if path.is_file():
            return path
    raise ContractError(f"no model file in {model_dir}; the training script must write one of {', '.join(MODEL_FILES)}")


def load_model(model_dir: str | os.PathLike[str]) -> Any:
    """Load the model object (joblib or skops); it must have ``predict``."""
    path = model_file(model_dir)
    if path.suffix == ".skops":
        import skops.io as sio

        model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    else:
        import joblib

        model = joblib.load(path)
    if not callable(getattr(model, "predict", None)):
        raise ContractError(f"{path} holds a {type(model).__name__} without a predict() method")
    return model


def slug(text: str, limit: int) -> str:
    """Letters, digits and single hyphens, at most ``limit`` characters: what every platform's names allow."""
    import re

    cut = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:limit].strip("-")
    return cut or "model"


def job_name_for(model_name: str, commit: str | None, now: float | None = None) -> str:
    """``<model>-<YYYYmmdd-HHMMSS>-<commit7>-<hex4>``: unique, sortable, traceable, <= 63 characters.

    One rule for every platform, so a job name reads the same wherever it ran.
    """
    import secrets
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    short = slug((commit or "nocommit")[:7], 7)
    return f"{slug(model_name, 30)}-{stamp}-{short}-{secrets.token_hex(2)}"
