"""Making a version the champion: ledger-checked, compare-and-swap, metric stored.

Shared by ``mlgates promote`` and the production rollout so both enforce the
same rules: the version's ledger must show the required stages passed for its
exact artifact, the champion must still be the one the champion gate compared
against, and the primary metric is written on the new champion's entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .adapters.base import Adapter, ModelVersion
from .config import Settings
from .gates.champion import champion_metric_tag
from .ledger import compared_champion, missing_gates, override_tags


class PromotionRefused(Exception):
    """The version may not become the champion; the message says why and what to do."""


def required_stages(settings: Settings, production: bool = False) -> list[str]:
    """Stages whose passed verdict promotion requires."""
    stages = ["champion_gate"]
    if production:
        stages.append("load_gate")
        if settings.shadow.required:
            stages.append("shadow_gate")
    return stages


def promote_version(
    adapter: Adapter,
    settings: Settings,
    version: str,
    required: Sequence[str] | None = None,
    override_by: str | None = None,
    override_reason: str | None = None,
) -> ModelVersion:
    """Promote ``version`` of the configured model; raise PromotionRefused or ConflictError."""
    name = settings.model_name
    model = adapter.get_model_version(name, version)
    tags: dict[str, str] = {}
    if override_by or override_reason:
        if not (override_by and override_reason):
            raise PromotionRefused("an emergency override needs both who (--override-by) and why (--override-reason)")
        tags.update(override_tags(override_by, override_reason))
    else:
        problems = missing_gates(model, required or required_stages(settings))
        if problems:
            raise PromotionRefused(
                f"refusing to promote {model.id}: its gate ledger is incomplete:\n  " + "\n  ".join(problems)
                + "\nRun the missing gates for this version (pytest -m <stage> --mlgates-model-version "
                  f"{version}), or use an audited emergency override."
            )
    value = model.metrics.get(settings.metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PromotionRefused(f"refusing to promote {model.id}: its {settings.metric} is {value!r}, "
                               f"not a finite number, so it cannot be stored as the champion metric")
    tags[champion_metric_tag(settings.metric)] = repr(float(value))
    current = adapter.get_champion(name)
    if current is not None and current.version == model.version:
        return current
    expected = compared_champion(model) if not tags.get("mlgates.override") else (current.version if current else None)
    return adapter.promote(name, version, expected, tags)
