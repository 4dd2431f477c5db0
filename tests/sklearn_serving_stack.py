"""The scikit-learn image's ``serve``, rebuilt from the public pieces of its serving library.

SageMaker's scikit-learn inference image (aws/sagemaker-scikit-learn-container, the
1.2-1-1 image: ``src/sagemaker_sklearn_container/serving.py``) serves a single model
with sagemaker-containers 2.8.6.post2, which is on PyPI (the referee venv
``sagemaker-sklearn-serving``); the container's own small module is not, so this
file wires the library the way that module does, and nothing more:

- ``serve`` is ``server.start(SAGEMAKER_SERVING_MODULE)``: the library copies
  ``SAGEMAKER_SUBMIT_DIRECTORY`` to /opt/ml/code, pip-installs it, and starts
  gunicorn (gevent workers) with ``SAGEMAKER_SERVING_MODULE`` as the WSGI app, on
  0.0.0.0:``SAGEMAKER_BIND_TO_PORT`` (8080) when ``SAGEMAKER_USE_NGINX`` is false;
- each worker's app, on its first request, imports ``SAGEMAKER_PROGRAM`` (the user
  module), builds a ``Transformer`` from its ``model_fn``/``input_fn``/``predict_fn``/
  ``output_fn`` (or ``transform_fn``), the image's defaults standing in for missing
  ones, loads the model (``model_fn('/opt/ml/model')``) and answers through
  ``worker.Worker`` (``/ping``, ``/invocations``).

The image's Dockerfile patches the library's ``collections.Mapping`` for Python 3.10+;
the same alias is set here before the library is imported.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib
from typing import Any

collections.Mapping = collections.abc.Mapping  # type: ignore[attr-defined]

from sagemaker_containers.beta.framework import (  # noqa: E402
    encoders,
    env,
    modules,
    server,
    transformer,
    worker,
)


def _default_output_fn(prediction: Any, accept: str) -> Any:
    # the image's default: the library's encoder, whatever the user's output
    return worker.Response(encoders.encode(prediction, accept), mimetype=accept)


def _transformer_of(user_module: Any) -> Any:
    """The image's choice: ``transform_fn`` alone, or the four functions with the image's defaults."""
    model_fn = getattr(user_module, "model_fn", transformer.default_model_fn)
    transform_fn = getattr(user_module, "transform_fn", None)
    steps = {name: getattr(user_module, name, None) for name in ("input_fn", "predict_fn", "output_fn")}
    if transform_fn is not None:
        if any(steps.values()):
            raise ValueError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
        return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    return transformer.Transformer(
        model_fn=model_fn,
        input_fn=steps["input_fn"] or (lambda data, content_type: encoders.decode(data, content_type)),
        predict_fn=steps["predict_fn"] or (lambda data, model: model.predict(data)),
        output_fn=steps["output_fn"] or _default_output_fn,
    )


_app: Any = None


def main(environ: Any, start_response: Any) -> Any:
    """The WSGI app each gunicorn worker runs: the user module's transformer behind ``worker.Worker``."""
    global _app
    if _app is None:
        serving = env.ServingEnv()
        try:  # installed by server.start before gunicorn forked the workers
            user_module = importlib.import_module(serving.module_name)
        except ImportError:
            user_module = modules.import_module(serving.module_dir, serving.module_name)
        user = _transformer_of(user_module)
        user.initialize()  # model_fn('/opt/ml/model')
        _app = worker.Worker(transform_fn=user.transform, module_name=serving.module_name)
    return _app(environ, start_response)


if __name__ == "__main__":  # the image's `serve` console script
    server.start(env.ServingEnv().framework_module)
