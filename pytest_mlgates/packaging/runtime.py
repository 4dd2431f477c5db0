"""What a cloud's serving runtime needs to answer the serving contract, and nothing more.

This file is copied next to each platform's entry (Azure's ``score.py``, Vertex's
predictor) as ``mlgates_runtime.py``: the serving container has no
pytest-mlgates installed, so it imports only the standard library, joblib and
pandas (skops when the model is a ``.skops`` file). The model folder is served
as it was trained (the entry lives in a code folder of its own), so the digest
checked here is the trained artifact's, by the same algorithm as
``pytest_mlgates.contract.digest_dir``; the tests hold the two together by
serving a model under its registered digest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

MODEL_FILES = ("model.joblib", "model.skops")


def digest_dir(folder: Path, skip: tuple[str, ...] = ()) -> str:
    """sha256 over every file (relative path and content), order independent; top-level entries named in
    ``skip`` (a package's own ``code/`` folder) are not part of the trained artifact and are left out."""
    outer = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.split("/", 1)[0] in skip:
            continue
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(rel.encode() + b"\0" + inner.hexdigest().encode() + b"\n")
    return outer.hexdigest()


def find_model_dir(root: Path) -> Path:
    """The folder holding the model file: ``root`` itself or one level down (Azure mounts a model folder
    as ``AZUREML_MODEL_DIR/<folder>``)."""
    for folder in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if any((folder / name).is_file() for name in MODEL_FILES):
            return folder
    raise RuntimeError(f"no {' or '.join(MODEL_FILES)} under {root}: the package holds no model")


def load_verified(root: Path, sha256: str, skip: tuple[str, ...] = ()) -> Any:
    """Load the model only if the trained files still have the registered digest (``skip``: top-level
    entries the package added beside them, such as SageMaker's ``code/``)."""
    folder = find_model_dir(root)
    if not sha256:
        raise RuntimeError("MLGATES_SHA256 is not set: the deployment must carry the registered digest of the "
                           "trained artifact, and a model that cannot be verified is not served")
    actual = digest_dir(folder, skip)
    if actual != sha256:
        raise RuntimeError(f"the trained artifact in {folder} has sha256 {actual}, but {sha256} was registered "
                           f"(the trained artifact's digest, checked at start-up); deploy a freshly registered "
                           f"version")
    path = next(folder / name for name in MODEL_FILES if (folder / name).is_file())
    if path.suffix == ".skops":
        import skops.io as sio

        trusted = [t for t in os.environ.get("MLGATES_SKOPS_TRUSTED", "").split(",") if t]
        model = sio.load(path, trusted=trusted)
    else:
        import joblib

        model = joblib.load(path)
    if not callable(getattr(model, "predict", None)):
        raise RuntimeError(f"{path} holds a {type(model).__name__} without a predict() method")
    return model


def instances_of(body: Any) -> list[dict[str, Any]]:
    """The rows of a ``{"instances": [{feature: value}, ...]}`` request (raises ValueError otherwise)."""
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances or not all(isinstance(i, dict) for i in instances):
        raise ValueError('send {"instances": [{feature: value}, ...]} with at least one instance')
    return instances


def predict(model: Any, instances: list[dict[str, Any]]) -> list[Any]:
    """``model.predict`` on the rows as a DataFrame, as plain JSON numbers and strings."""
    import pandas as pd

    predictions = model.predict(pd.DataFrame.from_records(instances))
    values = [p.item() if hasattr(p, "item") else p for p in predictions]
    if len(values) != len(instances):
        raise RuntimeError(f"the model returned {len(values)} predictions for {len(instances)} instances")
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise RuntimeError("the model produced a non-finite prediction")
    return values
