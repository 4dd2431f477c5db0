"""Scoring script of pytest-mlgates for Azure ML managed online endpoints.

Copied into the deployment's code folder as ``score.py``, beside
``mlgates_runtime.py``. azureml-inference-server-http calls ``init()`` once,
with the registered model folder mounted under ``AZUREML_MODEL_DIR``, and
``run()`` with each request body as text; a returned dict is JSON-encoded once.
The model is refused at start-up unless it has the digest in ``MLGATES_SHA256``.
"""

import os
from pathlib import Path

import mlgates_runtime as runtime

model = None


def init() -> None:
    global model
    model = runtime.load_verified(Path(os.environ["AZUREML_MODEL_DIR"]), os.environ.get("MLGATES_SHA256", ""))


def run(raw_data: str) -> object:
    try:
        instances = runtime.instances_of(raw_data)
    except ValueError as exc:  # the client's mistake: 400, not the server's 500
        from azureml_inference_server_http.api.aml_response import AMLResponse

        return AMLResponse({"error": {"code": "BadRequest", "message": str(exc)}}, 400, json_str=True)
    return {"predictions": runtime.predict(model, instances)}
