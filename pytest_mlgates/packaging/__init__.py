"""What each cloud's own serving runtime loads to answer the serving contract.

The trained model folder is served as it is; beside it, a code folder holds the
platform's entry (Azure ML's ``score.py``, Vertex AI's ``predictor.py``,
SageMaker's ``inference.py``) and
``mlgates_runtime.py``, which loads the model after checking its digest and
turns ``{"instances": [...]}`` into ``{"predictions": [...]}``. None of it
imports pytest-mlgates, which the serving containers do not have.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# platform -> (source file in this package, the name the runtime loads)
ENTRIES: dict[str, tuple[str, str]] = {
    "azureml": ("azureml_score.py", "score.py"),
    "vertex": ("vertex_predictor.py", "predictor.py"),
    "sagemaker": ("sagemaker_inference.py", "inference.py"),
}
RUNTIME = "mlgates_runtime.py"
VERTEX_PREDICTOR_CLASS = "MlgatesPredictor"
CONVENTIONS = ("azureml", "vertex", "sagemaker")
"""How each platform's runtime calls an entry: Azure's init()/run(raw), Vertex's predictor class
(load/preprocess/predict/postprocess), SageMaker's model_fn/input_fn/predict_fn/output_fn."""


@dataclass(frozen=True)
class ServingEntry:
    """The entry a platform will serve a registered model with, so registration can run it first.

    ``convention`` is how that platform's runtime calls it (one of CONVENTIONS). ``script`` is the
    user's own entry file (its folder is the code folder the platform gets); None means the entry
    of this package for the convention (``write_code_folder(convention, ...)``).
    """

    convention: str
    script: Path | None = None


def write_code_folder(platform: str, dest: Path) -> Path:
    """Write ``platform``'s serving entry and the runtime into ``dest``; returns the entry's path."""
    if platform not in ENTRIES:
        raise ValueError(f"no serving entry for platform {platform!r}; there are entries for {', '.join(ENTRIES)}")
    source, name = ENTRIES[platform]
    here = resources.files(__name__)
    dest.mkdir(parents=True, exist_ok=True)
    with resources.as_file(here / "runtime.py") as runtime:
        shutil.copyfile(runtime, dest / RUNTIME)
    with resources.as_file(here / source) as entry:
        shutil.copyfile(entry, dest / name)
    return dest / name
