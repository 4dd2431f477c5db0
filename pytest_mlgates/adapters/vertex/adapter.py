"""The ``vertex`` platform: Vertex AI through google-cloud-aiplatform (REST).

- Training: the training contract becomes a CustomJob; the entry point is
  staged to the staging bucket as a Python package for a prebuilt training
  image (or run inside your own image); ``--model-dir`` is ``AIP_MODEL_DIR``
  under ``base_output_directory``; ``metrics.json`` is read back from GCS.
- Registry: each challenger is a version of one Model Registry model
  (``parent_model``); the champion is the version alias ``champion``; gate data
  lives in a JSON entry in each version's description; promotion is a
  compare-and-swap on version etags.
- Endpoints: deployed models with explicit, complete traffic splits; predict
  through the prediction service. No mirroring.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ...records import Capabilities
from ..base import Adapter
from .endpoints import EndpointsMixin
from .settings import VertexSettings, parse_settings

if TYPE_CHECKING:
    from ...packaging import ServingEntry

__all__ = ["VertexAdapter", "VertexSettings", "parse_settings"]


class VertexAdapter(EndpointsMixin, Adapter):
    """Vertex AI custom jobs, Model Registry and endpoints over the REST API."""

    name = "vertex"
    capabilities = Capabilities(mirroring=False, max_mirror_percent=0, fault_injection=False, direct_http=False,
                                poll_interval=30.0)

    def __init__(self, settings: Any = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        # the declared poll interval is the table's job_poll_seconds (30 s unless set)
        self.capabilities = dataclasses.replace(type(self).capabilities,  # type: ignore[misc]
                                                poll_interval=self.config.job_poll_seconds)

    def serving_entry(self) -> ServingEntry | None:
        """The mlgates predictor when the table says ``serving_image`` runs it (``mlgates_predictor``); any
        other image is the user's own, which registration cannot run."""
        from ...packaging import ServingEntry

        return ServingEntry("vertex") if self.config.mlgates_predictor else None
