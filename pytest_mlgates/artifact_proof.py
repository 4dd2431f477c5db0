"""Proof that a model artifact loads and predicts, run in a subprocess before it is registered.

Why a subprocess: loading a joblib or skops file runs code chosen by whoever
wrote it. A hostile or broken file (one that exits, crashes the interpreter,
loops or eats memory) may take down the child, never pytest. One child per
registration: it loads the model once and predicts on a few validation rows.

Run as ``python -m pytest_mlgates.artifact_proof MODEL_DIR ROWS_JSON``; prints
one JSON line ``{"ok": true, "predictions": N}`` or ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapters.base import Adapter
    from .config import Settings

PROOF_ROWS = 5
"""Validation rows the model must predict on."""
PROOF_TIMEOUT_SECONDS = 120.0
OUTPUT_CAP_BYTES = 4000


class ArtifactProofError(ValueError):
    """The artifact did not prove it loads and predicts; the message says what happened and what to do."""


def _cap(text: str, limit: int = OUTPUT_CAP_BYTES) -> str:
    data = text.encode(errors="replace")
    return text if len(data) <= limit else "..." + data[-limit:].decode(errors="replace")


def prove_artifact(
    model_dir: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    trusted: Sequence[str] = (),
    timeout: float = PROOF_TIMEOUT_SECONDS,
    drop: Sequence[str] = (),
) -> int:
    """Load the model in ``model_dir`` in a child process and predict ``rows``; the number of predictions.

    ``rows`` is a list of instances or a file of them (the child reads it, minus
    the ``drop`` columns and past the first PROOF_ROWS rows, so pytest never imports pandas).

    Raises ArtifactProofError when the child cannot load the model, it has no
    predict, the predictions do not match the rows, or the child crashes or
    hangs (it is killed with its whole process group).
    """
    is_file = isinstance(rows, (str, os.PathLike))
    if not is_file and not rows:
        raise ArtifactProofError("no validation rows to prove the model predicts on; set [tool.mlgates.training] "
                                 "data or [tool.mlgates.load] payloads to a local file of feature rows")
    with tempfile.TemporaryDirectory(prefix="mlgates-proof-") as tmp:
        rows_file = Path(tmp) / "rows.json"
        spec = {"file": os.fspath(rows), "drop": list(drop)} if is_file else {"rows": list(rows)}  # type: ignore[arg-type]
        rows_file.write_text(json.dumps(spec, default=str))
        env = {**os.environ, "MLGATES_SKOPS_TRUSTED": ",".join(trusted)}
        proc = subprocess.Popen([sys.executable, "-m", "pytest_mlgates.artifact_proof", str(model_dir),
                                 str(rows_file)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=tmp, env=env, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ArtifactProofError(f"loading the model in {model_dir} and predicting a few rows took over "
                                     f"{timeout:g} s; the artifact was not registered") from None
        finally:
            _kill_group(proc)  # whatever the loader started goes with it
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    result: dict[str, Any] = {}
    for line in reversed(stdout.splitlines()):
        try:
            candidate = json.loads(line)
        except ValueError:
            continue
        if isinstance(candidate, dict) and "ok" in candidate:
            result = candidate
            break
    if proc.returncode == 0 and result.get("ok"):
        return int(result["predictions"])
    if result.get("error"):
        problem = str(result["error"])
    elif proc.returncode < 0:
        problem = f"the loader process was killed by {signal.Signals(-proc.returncode).name} while loading it"
    else:
        problem = f"the loader process exited with code {proc.returncode} without a verdict"
    tail = _cap(stderr.strip())
    raise ArtifactProofError(f"the model artifact in {model_dir} did not prove it loads and predicts: {problem}"
                             + (f"\n--- loader output ---\n{tail}" if tail and not result.get("error") else "")
                             + "\nThe version was not registered; fix the training script's model output.")


def proof_rows(settings: Settings) -> Path:
    """The file of validation rows for the proof: the load payloads, else the training data."""
    source = settings.load.payloads or settings.training.data
    setting = "[tool.mlgates.load] payloads" if settings.load.payloads else "[tool.mlgates.training] data"
    if not source:
        raise ArtifactProofError(f"no validation rows to prove the model predicts on; set {setting}")
    if "://" in source:
        raise ArtifactProofError(
            f"{setting} is {source}, which registration cannot read on this machine; set [tool.mlgates.load] "
            f"payloads to a local CSV, Parquet or JSON file of a few feature rows so registration can prove "
            f"the model predicts")
    path = settings.path(source)
    if not path.is_file():
        raise ArtifactProofError(f"{setting} {path} does not exist; registration needs a few of its rows to prove "
                                 f"the model predicts")
    return path


def prove_job_artifact(adapter: Adapter, settings: Settings, job_name: str) -> int:
    """Fetch the job's model folder and prove it (one child process); raises ArtifactProofError."""
    rows = proof_rows(settings)
    with tempfile.TemporaryDirectory(prefix="mlgates-artifact-") as tmp:
        try:
            model_dir = adapter.fetch_job_artifact(job_name, Path(tmp))
        except NotImplementedError as exc:
            raise ArtifactProofError(str(exc)) from None
        target = settings.training.target
        return prove_artifact(model_dir, rows, settings.skops_trusted, drop=[target] if target else [])


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _prove(model_dir: str, rows_file: str) -> dict[str, Any]:
    from .contract import ContractError, load_model

    spec = json.loads(Path(rows_file).read_text())
    if "file" in spec:
        from .rows import read_payload_file

        try:
            rows = read_payload_file(spec["file"], drop=spec["drop"])[:PROOF_ROWS]
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "error": f"the validation rows in {spec['file']} could not be read: "
                                          f"{type(exc).__name__}: {_cap(str(exc), 500)}"}
        if not rows:
            return {"ok": False, "error": f"{spec['file']} has no rows to predict on"}
    else:
        rows = spec["rows"]
    try:
        model = load_model(model_dir)
    except ContractError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - whatever the file raises is the verdict
        return {"ok": False, "error": f"loading it raised {type(exc).__name__}: {_cap(str(exc), 500)}"}
    try:
        import pandas as pd

        predictions = model.predict(pd.DataFrame.from_records(rows))
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"it loads, but predict() on {len(rows)} validation rows raised "
                                      f"{type(exc).__name__}: {_cap(str(exc), 500)}"}
    try:
        count = len(predictions)
    except TypeError:
        return {"ok": False, "error": f"predict() returned a {type(predictions).__name__}, not one prediction per row"}
    if count != len(rows):
        return {"ok": False, "error": f"predict() returned {count} predictions for {len(rows)} rows"}
    return {"ok": True, "predictions": count}


def main(argv: list[str]) -> int:
    result = _prove(argv[0], argv[1])
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
