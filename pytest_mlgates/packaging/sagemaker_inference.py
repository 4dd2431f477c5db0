"""Inference handler of pytest-mlgates for SageMaker's scikit-learn serving stack.

Packed into the served ``model.tar.gz`` as ``code/inference.py``, beside
``code/mlgates_runtime.py``, with the trained files unchanged at the top; the
model's environment names it (``SAGEMAKER_PROGRAM=inference.py``,
``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``). The stack calls
``model_fn`` once per worker with ``/opt/ml/model``, then ``input_fn``,
``predict_fn`` and ``output_fn`` per request. The model is refused at start-up
unless the trained files (everything but ``code/``, which the package added)
have the digest in ``MLGATES_SHA256``. The stock functions would turn JSON into
a float array (column names lost) and answer a bare list; these keep the
serving contract: ``{"instances": [{feature: value}]}`` in,
``{"predictions": [...]}`` out, and a malformed request is answered 400.
"""

import json
import os
from pathlib import Path
from typing import Any

import mlgates_runtime as runtime

CODE_FOLDER = "code"
JSON = "application/json"


class Refusal:
    """A request the handler will not predict on, carried to ``output_fn`` to be answered 400."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def model_fn(model_dir: str) -> Any:
    return runtime.load_verified(Path(model_dir), os.environ.get("MLGATES_SHA256", ""), skip=(CODE_FOLDER,))


def _media(value: Any) -> str:
    return str(value or "").split(";", 1)[0].strip().lower()


def input_fn(body: Any, content_type: str) -> Any:
    if _media(content_type) not in ("", JSON):
        return Refusal(415, f"send the request as {JSON}, not {content_type}")
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
        return runtime.instances_of(json.loads(text) if isinstance(text, str) else text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Refusal(400, f'the request body is not JSON ({exc}); send {{"instances": [{{feature: value}}, ...]}}')
    except ValueError as exc:
        return Refusal(400, str(exc))


def predict_fn(data: Any, model: Any) -> Any:
    if isinstance(data, Refusal):
        return data
    return runtime.predict(model, data)


def output_fn(prediction: Any, accept: str) -> Any:
    if not isinstance(prediction, Refusal) and _media(accept) not in ("", JSON, "*/*"):
        prediction = Refusal(406, f"this model answers {JSON} only, not {accept}")
    if isinstance(prediction, Refusal):
        return _refuse(prediction)
    return json.dumps({"predictions": prediction}), JSON


def _refuse(refusal: Refusal) -> Any:
    """The client's mistake as a 4xx answer of whichever SageMaker serving library runs this handler."""
    body = json.dumps({"error": refusal.message})
    try:  # the scikit-learn image's gunicorn stack (sagemaker-containers)
        from sagemaker_containers.beta.framework import worker
    except ImportError:
        pass
    else:
        return worker.Response(response=body, status=refusal.status, mimetype=JSON)
    try:  # the multi-model server stack (sagemaker-inference)
        from sagemaker_inference import errors
    except ImportError:
        raise ValueError(refusal.message) from None
    raise errors.GenericInferenceToolkitError(refusal.status, refusal.message)
