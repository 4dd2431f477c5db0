"""The ``sagemaker`` platform: Amazon SageMaker through boto3.

- Training: the training contract becomes a training job. In script mode the
  entry point (or ``source_dir``) is uploaded as ``sourcedir.tar.gz`` and a
  framework image runs ``python <entry> --data ... --model-dir /opt/ml/model
  --<hp> <value>``; otherwise ``image_uri`` runs it through ContainerEntrypoint.
  ``metrics.json`` is read back from ``model.tar.gz`` in S3. Waiting is the base
  class's poll loop; on its deadline or an interrupt ``stop_training_job`` runs.
- Registry: one model package group per model name; each version a model
  package whose metrics, artifact digest and gate ledger live in
  ``CustomerMetadataProperties``. The champion is the package that is
  ``Approved`` *and* carries the adapter's champion mark with the highest
  generation. Promotion is a compare-and-swap made safe across machines by a
  lock object in S3 written with conditional puts (``If-None-Match: *``).
- Endpoints: a SageMaker Model per deployment, endpoint configs whose
  production variants are the deployments, ``update_endpoint_weights_and_
  capacities`` for traffic steps and ``invoke_endpoint`` with ``TargetVariant``.

Every AWS call goes through :meth:`SageMakerAdapter._call`: bounded retries
with jittered back-off on throttling, none on access denied, and AWS error
codes mapped to the adapter's exception types. Credentials come only from
boto3's default chain and are never printed.
"""

from __future__ import annotations

from ...attribution import ServedBy
from ...contract import job_name_for
from ...packaging import ServingEntry
from ...records import Capabilities
from ..base import Adapter
from .client import resource_name
from .endpoints import EndpointsMixin
from .registry import RegistryMixin
from .settings import SageMakerSettings, parse_settings
from .training import TrainingMixin

__all__ = ["SageMakerAdapter", "SageMakerSettings", "job_name_for", "resource_name", "parse_settings"]


class SageMakerAdapter(TrainingMixin, RegistryMixin, EndpointsMixin, Adapter):
    """Amazon SageMaker training jobs, model registry and endpoints over boto3."""

    name = "sagemaker"
    capabilities = Capabilities(mirroring=False, fault_injection=False, direct_http=False, poll_interval=15.0)

    def served_by(self, endpoint_name: str) -> ServedBy:
        """SageMaker runtime names the production variant that answered in a response header, and a
        variant's name is our deployment name."""
        return INVOKED_VARIANT

    def serving_entry(self) -> ServingEntry | None:
        """The packaged handler (code/inference.py) when the stock scikit-learn image serves
        (``serving = "sklearn"``); a bring-your-own image is the user's, which registration cannot run."""
        return ServingEntry("sagemaker") if self.config.serving == "sklearn" else None


INVOKED_VARIANT = ServedBy(header="X-Amzn-Invoked-Production-Variant")
