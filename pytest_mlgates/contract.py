"""The training contract: what a training script writes and how we read it back.

A training script is run as ``python <entry_point> --data PATH --model-dir DIR
[--name value]...`` and writes ``DIR/metrics.json`` (a flat object of finite
numbers, plus an optional ``validation_fingerprint`` string) and its model as
``DIR/model.joblib`` or ``DIR/model.skops``. Hyperparameters reach the script
as the text ``render_hyperparameters`` gives, the same on every platform.
Training scripts may import the helpers here (``write_metrics``,
``validation_fingerprint``), but need not: plain ``json`` is enough, so a
cloud container never needs pytest-mlgates installed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
MODEL_FILES = ("model.joblib", "model.skops")
FINGERPRINT_KEY = "validation_fingerprint"


class ContractError(ValueError):
    """A training script broke the contract (missing or malformed output)."""


class HyperparameterError(ContractError):
    """A hyperparameter no platform would deliver to the script as written."""


# Two characters at least: SageMaker's training toolkit turns a one-letter key
# into ``-k``, not ``--k``. A letter first, so no name reads as an option value.
_HYPERPARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*[A-Za-z0-9]$")
RESERVED_HYPERPARAMETERS = ("data", "model-dir", "model_dir")


def render_hyperparameter(name: str, value: Any) -> str:
    """The one text a script receives for ``value``, on the local platform and every cloud.

    Strings pass as they are, booleans as ``true``/``false``, numbers as
    Python writes them, lists and objects as compact JSON with sorted keys.
    ``None`` and non-finite numbers have no faithful form on every cloud
    (SageMaker's toolkit renders ``None`` as an empty string), so they are
    refused here, before anything is submitted.
    """
    if not isinstance(name, str) or not _HYPERPARAMETER_NAME.match(name) or name.startswith("sagemaker_"):
        raise HyperparameterError(
            f"hyperparameter name {name!r} cannot be passed as --{name} on every platform: use two or more "
            f"letters, digits, '_' or '-', starting with a letter and not with 'sagemaker_' "
            f"(SageMaker's toolkit passes a one-letter name as -{name})"
        )
    if name in RESERVED_HYPERPARAMETERS:
        raise HyperparameterError(f"hyperparameter {name!r} is reserved: the platform passes --data and "
                                  f"--model-dir itself; rename it")
    if value is None:
        raise HyperparameterError(f"hyperparameter {name!r} is null, which platforms render differently "
                                  f"('None' or ''): leave it out, or give a string")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise HyperparameterError(f"hyperparameter {name!r} is {value!r}: give a finite number, "
                                      f"or the text {str(value)!r} as a string")
        return repr(value)
    if isinstance(value, (list, dict)):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise HyperparameterError(f"hyperparameter {name!r} cannot be written as JSON: {exc}") from None
    raise HyperparameterError(f"hyperparameter {name!r} is a {type(value).__name__}; give a string, number, "
                              f"boolean, list or object")


def render_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """Every hyperparameter as its canonical text, in sorted order (the order SageMaker's toolkit uses)."""
    return {name: render_hyperparameter(name, hyperparameters[name]) for name in sorted(hyperparameters, key=str)}


def hyperparameter_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """``{"max_depth": 6}`` -> ``["--max_depth", "6"]``: what the script's argv holds after ``--model-dir``."""
    args: list[str] = []
    for name, text in render_hyperparameters(hyperparameters).items():
        args += [f"--{name}", text]
    return args


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


def _no_duplicates(pairs: list[tuple[str, Any]], path: Path) -> dict[str, Any]:
    """A JSON object whose keys are unique: a metric written twice has no one value to judge."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ContractError(f"{path}: metric {key!r} appears more than once ({seen[key]!r} and {value!r}); "
                                f"write each metric once")
        seen[key] = value
    return seen


def read_metrics(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``model_dir/metrics.json``."""
    path = Path(model_dir) / METRICS_FILE
    if not path.is_file():
        raise ContractError(f"the training script wrote no {path}; it must write {METRICS_FILE} into --model-dir")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: float(c),
                          object_pairs_hook=lambda pairs: _no_duplicates(pairs, path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path} is not valid JSON: {exc}") from exc
    return check_metrics(data, str(path))


def metrics_from_text(text: str, source: str) -> dict[str, Any]:
    """Parse metrics.json text with the contract's rules (a file a platform's storage hands back)."""
    try:
        data = json.loads(text, parse_constant=lambda c: float(c))
    except json.JSONDecodeError as exc:
        raise ContractError(f"{source} is not valid JSON: {exc}") from exc
    return check_metrics(data, source)


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


VALIDATION_FILES = ("validation.parquet", "validation.csv")
"""Optional: the validation rows (features and target) the paired champion gate re-scores both models on."""


def write_validation_rows(model_dir: str | os.PathLike[str], rows: Any) -> Path:
    """Write the validation rows (a pandas DataFrame with the target column) as ``validation.csv``.

    With them in the model folder, the paired champion gate (``champion_check``) re-scores the champion
    and the challenger on exactly the rows the challenger was validated on.
    """
    path = Path(model_dir) / VALIDATION_FILES[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)
    return path


def digest_dir(folder: str | os.PathLike[str]) -> str:
    """sha256 over every file of a folder (relative path and content), order independent."""
    root = Path(folder)
    entries = []
    for path in (p for p in root.rglob("*") if p.is_file()):
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                inner.update(chunk)
        entries.append((path.relative_to(root).as_posix(), inner.hexdigest()))
    return digest_files(entries)


def digest_files(entries: Iterable[tuple[str, str]]) -> str:
    """The folder digest from (relative posix path, file sha256) pairs: one rule for a folder on disk,
    a model.tar.gz read as a stream, or objects in a bucket, so a model has one sha256 everywhere."""
    outer = hashlib.sha256()
    # sorted by path parts, as pathlib sorts paths, not as plain strings
    for rel, digest in sorted(entries, key=lambda e: e[0].split("/")):
        outer.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    return outer.hexdigest()


def model_file(model_dir: str | os.PathLike[str]) -> Path:
    """The model file the training script wrote."""
    folder = Path(model_dir)
    for name in MODEL_FILES:
        path = folder / name
        if path.is_file():
            return path
    if not folder.is_dir():
        raise ContractError(f"the model folder {folder} does not exist; the training script must write one of "
                            f"{', '.join(MODEL_FILES)} into --model-dir")
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".pkl", ".pickle"))
    hint = (f" (found {', '.join(pickles)}: a plain pickle is not a format mlgates serves; save the model with "
            f"joblib.dump(model, 'model.joblib') or skops.io.dump(model, 'model.skops'))") if pickles else ""
    raise ContractError(f"no model file in {model_dir}; the training script must write one of "
                        f"{', '.join(MODEL_FILES)}{hint}")


SKOPS_TRUSTED_ENV = "MLGATES_SKOPS_TRUSTED"
"""Comma-separated extra types a skops artifact may hold, for processes that have no settings (the server)."""


def trusted_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """The user's listed skops types handed to a subprocess through ``MLGATES_SKOPS_TRUSTED``."""
    text = (os.environ if env is None else env).get(SKOPS_TRUSTED_ENV, "")
    return [t.strip() for t in text.split(",") if t.strip()]


def load_model(model_dir: str | os.PathLike[str], trusted: Sequence[str] | None = None) -> Any:
    """Load the model object (joblib or skops); it must have ``predict``.

    A skops file is loaded trusting skops' own safe defaults plus only the
    types the user listed (``[tool.mlgates] skops_trusted``; ``trusted`` None
    reads them from ``MLGATES_SKOPS_TRUSTED``), never every type the file names.
    """
    path = model_file(model_dir)
    if path.suffix == ".skops":
        import skops.io as sio

        listed = trusted_from_env() if trusted is None else list(trusted)
        try:
            unknown = sorted(set(sio.get_untrusted_types(file=path)) - set(listed))
        except Exception as exc:  # noqa: BLE001 - any parse failure is an unreadable artifact
            raise ContractError(f"{path} is not a readable skops file: {type(exc).__name__}: {exc}") from exc
        if unknown:
            raise ContractError(
                f"{path} holds types skops does not trust by default and you have not listed: {', '.join(unknown)}; "
                f"if you trust them, add them to [tool.mlgates] skops_trusted (e.g. skops_trusted = "
                f"[{', '.join(repr(t).replace(chr(39), chr(34)) for t in unknown)}])")
        model = sio.load(path, trusted=listed or None)
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
