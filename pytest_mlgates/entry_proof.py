"""The serving entry run the way its platform's runtime calls it, inside the artifact proof's child.

Why: a model that loads here can still fail where the cloud serves it: the
entry file is missing or lacks its functions, the model's class lives in the
project (which the serving container does not have), or the answer is not
``{"predictions": [...]}``. Registration runs the entry on a few validation rows
first, so such a model never gets a version and no endpoint is ever created.

Runs only in the proof child (pytest never imports it). The serving
environment is the code folder plus the interpreter's installed packages: the
project folder is taken off ``sys.path`` and the modules loaded from it are
forgotten. Modules of a platform's own runtime that the entry imports and that
are not installed here (aiplatform's ``Predictor`` base class and
``download_model_artifacts``, fastapi's ``HTTPException``, Azure's
``AMLResponse``) are stood in for by minimal ones with the same behaviour;
tests/test_serving_referees.py runs the entries in the real runtimes.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

VERTEX_PREDICTOR_CLASS = "MlgatesPredictor"  # the same name as pytest_mlgates.packaging's
SAGEMAKER_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn")
JSON = "application/json"
RUNTIMES = {
    "azureml": "azureml-inference-server-http (init() once, then run(raw_data) with the request body)",
    "vertex": "the custom prediction routine server (load(artifacts_uri), then "
              "postprocess(predict(preprocess(json body))))",
    "sagemaker": "SageMaker's scikit-learn serving stack (model_fn(model_dir), input_fn(body, content_type), "
                 "predict_fn(data, model), output_fn(prediction, accept))",
}

SERVING_ENVIRONMENT = {
    "azureml": "[tool.mlgates.azureml] inference_environment",
    "vertex": "the [tool.mlgates.vertex] serving_image",
    "sagemaker": "the serving image (or a requirements.txt beside inference.py)",
}
_where = ["the serving environment"]


class EntryError(Exception):
    """The entry cannot serve the model; ``str`` says what is missing or wrong, ``fix`` what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def serve_rows(convention: str, code: Path, script: str, model_dir: Path, rows: list[dict[str, Any]],
               project: str, work: Path) -> int:
    """Run the entry on ``rows`` as the platform would; the number of predictions, or EntryError."""
    entry = code / script
    if not entry.is_file():
        raise EntryError(f"there is no entry file {entry}",
                         f"write the entry, or unset the setting that names it to serve with pytest-mlgates' own")
    _where[0] = SERVING_ENVIRONMENT[convention]
    _leave_project(project, code)
    body = json.dumps({"instances": rows})
    run = {"azureml": _azureml, "vertex": _vertex, "sagemaker": _sagemaker}[convention]
    answer = run(code, script, model_dir, body, work)
    return _count(answer, len(rows), script)


def _leave_project(project: str, code: Path) -> None:
    """Take the project off sys.path and forget the modules loaded from it (the serving container has
    neither), unless the code folder the platform gets is the project folder itself."""
    if not project:
        return
    root = os.path.realpath(project)
    if os.path.realpath(code) == root:
        return
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != root]
    sys.path_importer_cache.clear()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if name.partition(".")[0] == "pytest_mlgates":
            continue  # the proof itself
        if file and os.path.realpath(file).startswith(root + os.sep) and "site-packages" not in file:
            del sys.modules[name]


def _stand_in(name: str, **attrs: Any) -> None:
    """The real module ``name`` when it imports here, else a minimal one (with any missing parents)."""
    try:
        importlib.import_module(name)
        return
    except ImportError:
        pass
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sub = ".".join(parts[:i])
        if sub in sys.modules and i < len(parts):
            continue
        if i < len(parts):
            try:
                importlib.import_module(sub)
                continue
            except ImportError:
                pass
        module = types.ModuleType(sub, "stand-in of pytest-mlgates' registration check")
        module.__path__ = []  # type: ignore[attr-defined]
        if i == len(parts):
            for key, value in attrs.items():
                setattr(module, key, value)
        sys.modules[sub] = module
        if i > 1:
            setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], module)


class _HTTPException(Exception):
    def __init__(self, status_code: int, detail: Any = None) -> None:
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


class _AMLResponse:
    def __init__(self, message: Any, status_code: int, response_headers: Any = None, json_str: bool = False,
                 run_function_failed: bool = False) -> None:
        self.status_code = status_code
        self.message = json.dumps(message) if json_str else message


class _Predictor:
    def __init__(self) -> None:
        return

    def load(self, artifacts_uri: str, **kwargs: Any) -> None:
        raise NotImplementedError

    def preprocess(self, prediction_input: Any) -> Any:
        return prediction_input

    def predict(self, instances: Any) -> Any:
        raise NotImplementedError

    def postprocess(self, prediction_results: Any) -> Any:
        return prediction_results


def _download_model_artifacts(artifact_uri: str) -> None:
    shutil.copytree(artifact_uri, ".", dirs_exist_ok=True)  # a local folder, as aiplatform's helper copies it


def _load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001
        raise _failure(f"importing {path.name}", exc) from None
    return module


def _failure(step: str, exc: BaseException) -> EntryError:
    """What a step raised, with the fix for the usual cause: a module the serving environment lacks."""
    text = f"{step} raised {type(exc).__name__}: {str(exc)[:500]}"
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing or (isinstance(exc, AttributeError) and "Can't get attribute" in str(exc)):
        what = f"module {missing!r}" if missing else "the class the model was saved with"
        return EntryError(
            f"{text}: {what} cannot be imported where the model is served",
            "the serving environment has the code folder and its installed packages, not your project folder: "
            f"install that module into the serving environment ({_where[0]}), or save a model "
            "built only from installed classes (for example scikit-learn's)")
    return EntryError(text, "run the entry on a few rows locally and fix what it raises")


def _call(step: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except EntryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the entry raises is the verdict
        raise _failure(step, exc) from None


def _azureml(code: Path, script: str, model_dir: Path, body: str, work: Path) -> Any:
    _stand_in("azureml_inference_server_http.api.aml_response", AMLResponse=_AMLResponse)
    mounted = work / "azureml-models" / "model" / "1"  # Azure mounts a model folder as <dir>/<folder name>
    shutil.copytree(model_dir, mounted / model_dir.name)  # a real folder, as the deployment downloads it
    os.environ["AZUREML_MODEL_DIR"] = str(mounted)
    os.environ["AML_APP_ROOT"] = str(code)
    sys.path.append(str(code))
    module = _load_file("entry_module", code / script)
    missing = [f for f in ("init", "run") if not callable(getattr(module, f, None))]
    if missing:
        raise EntryError(f"{script} has no {' and no '.join(f + '()' for f in missing)} function",
                         "azureml-inference-server-http calls init() once and run(raw_data) for each request: "
                         "define both")
    _call(f"{script}'s init()", module.init)
    output = _call(f"{script}'s run()", module.run, body)
    status = getattr(output, "status_code", None)
    if status is not None:  # an AMLResponse or flask Response: what the server sends as it is
        data = output.get_data(as_text=True) if hasattr(output, "get_data") else getattr(output, "message", "")
        if status >= 400:
            raise EntryError(f"{script}'s run() answered HTTP {status}: {str(data)[:500]}",
                             'run() must answer {"instances": [...]} with {"predictions": [...]}')
        return _parse(data, f"{script}'s run()")
    try:
        return json.loads(json.dumps(output))  # the server JSON-encodes whatever else run() returns
    except (TypeError, ValueError) as exc:
        raise EntryError(f"{script}'s run() returned a {type(output).__name__} that is not JSON ({exc})",
                         "return plain lists, numbers and strings (convert numpy values with .tolist())") from None


def _vertex(code: Path, script: str, model_dir: Path, body: str, work: Path) -> Any:
    _stand_in("google.cloud.aiplatform.prediction.predictor", Predictor=_Predictor)
    _stand_in("google.cloud.aiplatform.utils.prediction_utils", download_model_artifacts=_download_model_artifacts)
    _stand_in("fastapi", HTTPException=_HTTPException)
    sys.path.insert(0, str(code))  # PREDICTOR_MODULE is imported from the image's working folder
    module = _load_file(Path(script).stem, code / script)
    sys.modules[Path(script).stem] = module
    cls = getattr(module, VERTEX_PREDICTOR_CLASS, None)
    if not isinstance(cls, type):
        raise EntryError(f"{script} has no predictor class {VERTEX_PREDICTOR_CLASS}",
                         f"the server is started with PREDICTOR_CLASS={VERTEX_PREDICTOR_CLASS}: define that class")
    missing = [m for m in ("load", "preprocess", "predict", "postprocess") if not callable(getattr(cls, m, None))]
    if missing:
        raise EntryError(f"{VERTEX_PREDICTOR_CLASS} in {script} has no {', '.join(missing)} method",
                         "the prediction server calls load(), preprocess(), predict() and postprocess()")
    predictor = _call(f"{VERTEX_PREDICTOR_CLASS}()", cls)
    _call(f"{VERTEX_PREDICTOR_CLASS}.load()", predictor.load, str(model_dir))
    try:
        results = predictor.postprocess(predictor.predict(predictor.preprocess(json.loads(body))))
    except _HTTPException as exc:
        raise EntryError(f"{VERTEX_PREDICTOR_CLASS} answered HTTP {exc.status_code}: {exc.detail}",
                         'it must answer {"instances": [...]} with {"predictions": [...]}') from None
    except Exception as exc:  # noqa: BLE001
        raise _failure(f"{VERTEX_PREDICTOR_CLASS}'s preprocess/predict/postprocess", exc) from None
    try:
        return json.loads(json.dumps(results))  # the server's DefaultSerializer for application/json
    except (TypeError, ValueError) as exc:
        raise EntryError(f"{VERTEX_PREDICTOR_CLASS}.postprocess() returned a {type(results).__name__} that is "
                         f"not JSON ({exc})", "return plain lists, numbers and strings") from None


def _sagemaker(code: Path, script: str, model_dir: Path, body: str, work: Path) -> Any:
    sys.path.insert(0, str(code))  # SAGEMAKER_SUBMIT_DIRECTORY; SAGEMAKER_PROGRAM names the module
    name = Path(script).stem
    module = _load_file(name, code / script)
    sys.modules[name] = module
    missing = [f for f in SAGEMAKER_FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise EntryError(f"{script} has no {', '.join(missing)}",
                         "define model_fn, input_fn, predict_fn and output_fn: the scikit-learn serving stack's "
                         "default model_fn raises and its default input and output functions answer a bare list")
    model = _call(f"{script}'s model_fn()", module.model_fn, str(model_dir))
    data = _call(f"{script}'s input_fn()", module.input_fn, body, JSON)
    prediction = _call(f"{script}'s predict_fn()", module.predict_fn, data, model)
    output = _call(f"{script}'s output_fn()", module.output_fn, prediction, JSON)
    if isinstance(output, tuple) and len(output) == 2:  # (body, content type), as the stack accepts it
        output = output[0]
    if not isinstance(output, (str, bytes, bytearray)):
        raise EntryError(f"{script}'s output_fn() returned a {type(output).__name__}, not the encoded body",
                         'return json.dumps({"predictions": [...]}) (or it and the content type)')
    return _parse(output, f"{script}'s output_fn()")


def _parse(data: Any, what: str) -> Any:
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        raise EntryError(f"{what} answered {str(data)[:200]!r}, which is not JSON",
                         'answer {"predictions": [...]} as JSON') from None


def _count(answer: Any, rows: int, script: str) -> int:
    if isinstance(answer, list):
        raise EntryError(f"{script} answered a bare list of {len(answer)}, not {{\"predictions\": [...]}}",
                         'wrap the predictions: {"predictions": [...]}, the serving contract every gate reads')
    if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
        shown = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        raise EntryError(f"{script} answered {shown}, not {{\"predictions\": [...]}}",
                         'answer {"predictions": [one per instance]}')
    count = len(answer["predictions"])
    if count != rows:
        raise EntryError(f"{script} answered {count} predictions for {rows} instances",
                         "answer exactly one prediction per instance, in order")
    return count
