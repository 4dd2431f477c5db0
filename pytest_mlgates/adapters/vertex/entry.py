"""How a model version's gate data is stored on a Vertex AI model version.

Labels cannot hold it: their values allow only lowercase letters, digits,
``_`` and ``-`` (no decimal point, no ledger timestamp, no sha256: 64 characters
is one too many). So the version's ``versionDescription`` holds one JSON
document behind a fixed header line: the artifact digest, the training job, the
metrics (JSON numbers: a decimal round-trips exactly), the tags (the gate
ledger and the champion's stored metric, strings kept exactly) and the
promotion bookkeeping. ``versionDescription`` is updatable and covered by the
version's etag, so every write is a compare-and-swap. Labels carry a valid,
searchable summary (model, job, gate verdicts). Imports no Google SDK.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...records import AdapterError

HEADER = "pytest-mlgates registry entry; change it only through mlgates (its JSON is read back)"
FORMAT = 1
MAX_CHARS = 64 * 1024


class EntryError(AdapterError, ValueError):
    """A version's stored document is not ours or is damaged; never read as empty."""


@dataclass
class Entry:
    sha256: str = ""
    job: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    generation: int = 0
    """The promotion generation while this version is (or was last) the champion."""
    successor: str = ""
    """``<generation>:<version>``: the promotion that replaced this version committed (compare-and-swap)."""

    def encode(self) -> str:
        doc = {"mlgates": FORMAT, "sha256": self.sha256, "job": self.job, "created": self.created,
               "metrics": self.metrics, "tags": self.tags, "generation": self.generation,
               "successor": self.successor}
        text = f"{HEADER}\n{json.dumps(doc, sort_keys=True, ensure_ascii=False, allow_nan=False)}"
        if len(text) > MAX_CHARS:
            raise EntryError(f"the gate data of this version would be {len(text)} characters, more than the "
                             f"{MAX_CHARS} the adapter stores in a Vertex AI version description; store shorter "
                             f"tags (a URI or a digest instead of a document)")
        return text


def decode(text: str, where: str) -> Entry:
    """The entry stored in a version description; EntryError when it is missing or damaged."""
    if not text.startswith(HEADER):
        raise EntryError(f"{where} has no pytest-mlgates entry in its version description; it was not registered "
                         f"by mlgates (or its description was edited by hand)")
    try:
        doc = json.loads(text[len(HEADER):])
        if not isinstance(doc, dict) or doc.get("mlgates") != FORMAT:
            raise ValueError(f"format {doc.get('mlgates') if isinstance(doc, dict) else doc!r}")
        tags = doc.get("tags") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise ValueError("tags that are not strings")
        return Entry(sha256=str(doc.get("sha256", "")), job=str(doc.get("job", "")),
                     metrics=dict(doc.get("metrics") or {}), tags=dict(tags), created=float(doc.get("created", 0)),
                     generation=int(doc.get("generation", 0)), successor=str(doc.get("successor", "")))
    except (ValueError, TypeError, AttributeError) as exc:
        raise EntryError(f"{where}: its pytest-mlgates entry is damaged ({exc}); restore the version description "
                         f"from its history, or register the model again") from None


def check_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tags as strings; anything else is refused by name."""
    clean = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise EntryError(f"tag key {key!r} must be a non-empty string")
        clean[key] = str(value)
    return clean


def check_metric_values(metrics: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise EntryError(f"metric {name!r} must be finite to be registered, got {value!r}")
    return dict(metrics)
