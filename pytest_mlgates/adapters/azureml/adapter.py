"""The ``azureml`` platform: Azure Machine Learning through azure-ai-ml's MLClient.

- Training: a command job running the training contract (see training.py).
- Registry: a model version per challenger; metrics and digest as properties,
  the gate ledger as tags; the champion on the model container, moved by an
  ETag/If-Match compare-and-swap (see registry.py).
- Endpoints: managed online endpoints and deployments, Azure's traffic and
  naming rules (see endpoints.py, names.py).

Credentials come only from DefaultAzureCredential and are never printed.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ...records import Capabilities
from ..base import Adapter, Clock, Sleep
from .endpoints import EndpointsMixin
from .names import azure_name
from .settings import AzureMLSettings, parse_settings

__all__ = ["AzureMLAdapter", "AzureMLSettings", "azure_name", "parse_settings"]


class AzureMLAdapter(EndpointsMixin, Adapter):
    """Azure ML command jobs, model registry and managed online endpoints."""

    name = "azureml"
    capabilities = Capabilities(mirroring=True, max_mirror_percent=50, fault_injection=False,
                                direct_http=False, poll_interval=30.0)

    def __init__(self, settings: Any = None, *, sleep: Sleep = time.sleep, clock: Clock = time.monotonic,
                 credential: Any = None) -> None:
        super().__init__(settings, sleep=sleep, clock=clock, credential=credential)
        # the poll interval is the workspace's setting: declared per instance
        self.capabilities = dataclasses.replace(  # type: ignore[misc]
            type(self).capabilities, poll_interval=self.config.job_poll_seconds)
