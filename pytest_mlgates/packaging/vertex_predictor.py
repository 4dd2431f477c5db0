"""Custom prediction routine of pytest-mlgates for Vertex AI endpoints.

Copied into the CPR image as ``predictor.py``, beside ``mlgates_runtime.py``;
the prediction server runs it as ``PREDICTOR_MODULE=predictor
PREDICTOR_CLASS=MlgatesPredictor``. ``load()`` fetches the model artifacts with
aiplatform's own helper into a folder of their own (so nothing else in the
working directory enters the digest) and refuses them unless they have the
digest in ``MLGATES_SHA256``. The stock SklearnPredictor does
``np.asarray(instances)``, which loses column names; this one keeps them.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import mlgates_runtime as runtime
from google.cloud.aiplatform.prediction.predictor import Predictor
from google.cloud.aiplatform.utils import prediction_utils


class MlgatesPredictor(Predictor):
    def __init__(self) -> None:
        self._model: Any = None

    def load(self, artifacts_uri: str, **kwargs: Any) -> None:
        folder = tempfile.mkdtemp(prefix="mlgates-model-")
        here = os.getcwd()
        os.chdir(folder)  # the helper writes into the working directory
        try:
            prediction_utils.download_model_artifacts(artifacts_uri)
        finally:
            os.chdir(here)
        self._model = runtime.load_verified(Path(folder), os.environ.get("MLGATES_SHA256", ""))

    def preprocess(self, prediction_input: Any) -> Any:
        from fastapi import HTTPException

        try:
            return runtime.instances_of(prediction_input)
        except ValueError as exc:  # the client's mistake: 400, where the handler would answer 500
            raise HTTPException(status_code=400, detail=str(exc)) from None

    def predict(self, instances: Any) -> Any:
        return {"predictions": runtime.predict(self._model, instances)}

    def postprocess(self, prediction_results: Any) -> Any:
        return prediction_results
