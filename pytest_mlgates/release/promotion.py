"""Making a version the champion: ledger-checked, compare-and-swap, metric stored.

Shared by ``mlgates promote`` and the production rollout so both enforce the
same rules: the version's ledger must show the required stages passed for its
exact artifact, the champion must still be the one the champion gate compared
against, and the primary metric is written on the new champion's entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..adapters.base import Adapter
from ..config import Settings
from ..gates.champion import champion_metric_tag
from ..records import ModelVersion
from ..stages import CHAMPION_GATE, LOAD_GATE, SHADOW_GATE
from .ledger import OVERRIDE_TAG, compared_champion, missing_gates, override_tags


class PromotionRefused(Exception):
    """The version may not become the champion; the message says why and what to do."""


def required_stages(settings: Settings, production: bool = False) -> list[str]:
    """Stages whose passed verdict promotion requires."""
    stages = [CHAMPION_GATE]
    if production:
        stages.append(LOAD_GATE)
        if settings.shadow.required:
            stages.append(SHADOW_GATE)
    return stages


@dataclass(frozen=True)
class Promotable:
    """A version that passed the checks every path to production makes."""

    model: ModelVersion
    champion: ModelVersion | None
    """The current champion."""
    expected: str | None
    """The champion the compare-and-swap expects: the one the champion gate compared against."""
    override: bool


def check_promotable(
    adapter: Adapter,
    settings: Settings,
    version: str,
    required: Sequence[str],
    *,
    seen_sha256: str | None = None,
    override: bool = False,
    verb: str = "promote",
    hint: str = "",
) -> Promotable:
    """The checks shared by ``mlgates promote`` and the rollout; raise PromotionRefused naming what failed.

    ``seen_sha256`` is the artifact the gates saw (refused if the entry now
    names another); an override, given or recorded on the entry, skips the
    ledger check and makes the current champion the expected one.
    """
    model = adapter.get_model_version(settings.model_name, version)
    if seen_sha256 is not None and model.sha256 != seen_sha256:
        raise PromotionRefused(f"{model.id} now has artifact {model.sha256[:12]}..., not the "
                               f"{seen_sha256[:12]}... the gates saw; refusing to {verb} it")
    override = override or model.tags.get(OVERRIDE_TAG) == "true"
    problems = [] if override else missing_gates(model, required)
    if problems:
        raise PromotionRefused(f"refusing to {verb} {model.id}: its gate ledger is incomplete:\n  "
                               + "\n  ".join(problems) + hint)
    champion = adapter.get_champion(settings.model_name)
    expected = (champion.version if champion else None) if override else compared_champion(model)
    return Promotable(model, champion, expected, override)


def promote_version(
    adapter: Adapter,
    settings: Settings,
    version: str,
    required: Sequence[str] | None = None,
    override_by: str | None = None,
    override_reason: str | None = None,
) -> ModelVersion:
    """Promote ``version`` of the configured model; raise PromotionRefused or ConflictError."""
    tags: dict[str, str] = {}
    if override_by or override_reason:
        if not (override_by and override_reason):
            raise PromotionRefused("an emergency override needs both who (--override-by) and why (--override-reason)")
        tags.update(override_tags(override_by, override_reason))
    checked = check_promotable(
        adapter, settings, version, required or required_stages(settings), override=bool(tags),
        hint="\nRun the missing gates for this version (pytest -m <stage> --mlgates-model-version "
             f"{version}), or use an audited emergency override.")
    model = checked.model
    value = model.metrics.get(settings.metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PromotionRefused(f"refusing to promote {model.id}: its {settings.metric} is {value!r}, "
                               f"not a finite number, so it cannot be stored as the champion metric")
    tags[champion_metric_tag(settings.metric)] = repr(float(value))
    if checked.champion is not None and checked.champion.version == model.version:
        return checked.champion
    return adapter.promote(settings.model_name, version, checked.expected, tags)
