"""Proof that a model artifact loads and predicts, run in a subprocess before it is registered.

Why a subprocess: loading a joblib or skops file runs code chosen by whoever
wrote it. A hostile or broken file (one that exits, crashes the interpreter,
loops or eats memory) may take down the child, never pytest. One child per
registration: it loads the model once and predicts on a few validation rows.

When the platform serves the model with an entry of a known convention
(``Adapter.serving_entry()``), the same child then runs that entry from a code
folder, the way the platform's runtime calls it, on the same rows
(pytest_mlgates.entry_proof), with ``MLGATES_SHA256`` set to the digest that will
be registered. The first step has the project folder on the path, as the local
platform serves it; the entry's step does not, as no cloud container has it.

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
    from .packaging import ServingEntry
    from .records import ModelVersion

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
    entry: ServingEntry | None = None,
    project: str | os.PathLike[str] | None = None,
) -> int:
    """Load the model in ``model_dir`` in a child process and predict ``rows``; the number of predictions.

    ``rows`` is a list of instances or a file of them (the child reads it, minus
    the ``drop`` columns and past the first PROOF_ROWS rows, so pytest never imports pandas).
    ``entry``: the serving entry the platform will serve it with, run next on the same rows.
    ``project``: the project folder, on the child's path while it loads the model, off it for the entry.

    Raises ArtifactProofError when the child cannot load the model, it has no
    predict, the predictions do not match the rows, the entry cannot serve it,
    or the child crashes or hangs (it is killed with its whole process group).
    """
    is_file = isinstance(rows, (str, os.PathLike))
    if not is_file and not rows:
        raise ArtifactProofError("no validation rows to prove the model predicts on; set [tool.mlgates.training] "
                                 "data or [tool.mlgates.load] payloads to a local file of feature rows")
    with tempfile.TemporaryDirectory(prefix="mlgates-proof-") as tmp:
        rows_file = Path(tmp) / "rows.json"
        spec: dict[str, Any] = ({"file": os.fspath(rows), "drop": list(drop)} if is_file
                                else {"rows": list(rows)})  # type: ignore[arg-type]
        env = {**os.environ, "MLGATES_SKOPS_TRUSTED": ",".join(trusted), "PYTHONDONTWRITEBYTECODE": "1"}
        if project:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (os.fspath(project), env.get("PYTHONPATH", "")) if p)
        if entry is not None:
            spec["serve"] = _entry_spec(entry, Path(tmp), project)
            env["MLGATES_SHA256"] = _digest(model_dir)  # the digest register_model records
        rows_file.write_text(json.dumps(spec, default=str))
        proc = subprocess.Popen([sys.executable, "-m", "pytest_mlgates.artifact_proof", os.path.abspath(model_dir),
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
    if result.get("stage") == "serve":
        raise ArtifactProofError(
            f"the model in {model_dir} loads and predicts, but the {result['convention']} serving entry "
            f"{result['entry']} could not serve it as {result['runtime']} calls it: {result['error']}.\n"
            f"Fix: {result['fix']}.\nThe version was not registered and no endpoint was created.")
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


def _entry_spec(entry: ServingEntry, tmp: Path, project: str | os.PathLike[str] | None) -> dict[str, str]:
    """The code folder the platform gets: the user's entry's own folder, or this package's entry written out."""
    from .packaging import CONVENTIONS, write_code_folder

    if entry.convention not in CONVENTIONS:
        raise ArtifactProofError(f"serving entry convention {entry.convention!r} is not one of "
                                 f"{', '.join(CONVENTIONS)}; the adapter's serving_entry() is wrong")
    if entry.script is not None:
        code, script = Path(entry.script).parent, Path(entry.script).name
    else:
        try:
            path = write_code_folder(entry.convention, tmp / "code")
        except ValueError as exc:
            raise ArtifactProofError(f"{exc}, so registration cannot prove the model is served; the version was "
                                     f"not registered") from None
        code, script = path.parent, path.name
    return {"convention": entry.convention, "code": str(code), "script": script,
            "project": os.fspath(project) if project else ""}


def _digest(model_dir: str | os.PathLike[str]) -> str:
    from .contract import digest_dir

    return digest_dir(model_dir)


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
        return prove_artifact(model_dir, rows, settings.skops_trusted, drop=[target] if target else [],
                              entry=adapter.serving_entry(), project=Path(settings.root).resolve())


def register_proven(adapter: Adapter, settings: Settings, job_name: str, metrics: Mapping[str, Any],
                    tags: Mapping[str, str] | None = None) -> ModelVersion:
    """Register the job's model as a new version of ``settings.model_name``, but only once the artifact and
    the entry the platform serves it with proved themselves (one child process); else ArtifactProofError,
    and nothing is registered, so no endpoint can ever serve it."""
    from .records import AdapterError

    try:
        prove_job_artifact(adapter, settings, job_name)
    except AdapterError as exc:  # the artifact could not even be fetched
        raise ArtifactProofError(str(exc)) from None
    return adapter.register_model(settings.model_name, job_name, metrics, tags)


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
    if "serve" in spec:
        return _serve(spec["serve"], model_dir, rows, Path(rows_file).parent)
    return {"ok": True, "predictions": count}


def _serve(serve: dict[str, str], model_dir: str, rows: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    from .entry_proof import RUNTIMES, EntryError, serve_rows

    verdict = {"ok": False, "stage": "serve", "convention": serve["convention"], "entry": serve["script"],
               "runtime": RUNTIMES[serve["convention"]]}
    try:
        count = serve_rows(serve["convention"], Path(serve["code"]), serve["script"], Path(model_dir), rows,
                           serve["project"], work)
    except EntryError as exc:
        return {**verdict, "error": str(exc), "fix": exc.fix}
    except Exception as exc:  # noqa: BLE001 - whatever the entry raises is the verdict
        return {**verdict, "error": f"it raised {type(exc).__name__}: {_cap(str(exc), 500)}",
                "fix": "run the entry on a few rows locally and fix what it raises"}
    return {"ok": True, "predictions": count}


def main(argv: list[str]) -> int:
    result = _prove(argv[0], argv[1])
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
