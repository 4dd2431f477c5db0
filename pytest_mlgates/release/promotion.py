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
from ..records import AdapterError, ConflictError, IntegrityError, ModelVersion
from ..stages import CHAMPION_GATE, LEDGER_STAGES, LOAD_GATE, SHADOW_GATE
from .ledger import OVERRIDE_TAG, compared_champion, missing_gates, override_tags, stage_outcome


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


def with_default_stages(settings: Settings, extra: Sequence[str] | None, production: bool = False) -> list[str]:
    """The default requirement plus ``extra`` stages: asking for more never asks for less."""
    stages = required_stages(settings, production)
    for stage in extra or ():
        if stage not in LEDGER_STAGES:
            raise PromotionRefused(f"--require {stage!r} is not a stage with a ledger entry; "
                                   f"choose from {', '.join(LEDGER_STAGES)}")
        if stage not in stages:
            stages.append(stage)
    return stages


def recorded_failures(model: ModelVersion, settings: Settings, judging: Sequence[str] = ()) -> list[str]:
    """Stages whose recorded verdict on this artifact is ``failed``: each blocks promotion by default.

    ``judging`` are the stages the caller is deciding right now (a rollout
    re-judges the promotion gate); ``[tool.mlgates.rollout] ignore_failed``
    lists stages whose failure the user chose not to block on.
    """
    ignored = set(judging) | set(settings.rollout.ignore_failed)
    return [f"{stage} failed (recorded {model.tags.get(f'mlgates.gate.{stage}.at', '?')})"
            for stage in LEDGER_STAGES if stage not in ignored and stage_outcome(model, stage) == "failed"]


def verify_digest(adapter: Adapter, model: ModelVersion, verb: str) -> None:
    """The stored artifact must still have the digest the registry recorded; PromotionRefused if not."""
    try:
        adapter.verify_artifact(model)
    except NotImplementedError as exc:
        raise PromotionRefused(f"refusing to {verb} {model.id}: {exc}") from None
    except (IntegrityError, AdapterError) as exc:
        raise PromotionRefused(f"refusing to {verb} {model.id}: its artifact could not be verified against the "
                               f"registry: {exc}") from None


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
    judging: Sequence[str] = (),
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
    verify_digest(adapter, model, verb)
    override = override or model.tags.get(OVERRIDE_TAG) == "true"
    problems = [] if override else missing_gates(model, required)
    if not override:
        problems += [p for p in recorded_failures(model, settings, judging) if p.split()[0] not in required]
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
    judging: Sequence[str] = (),
) -> ModelVersion:
    """Promote ``version`` of the configured model; raise PromotionRefused or ConflictError.

    ``required`` None means the default requirement; a list is used as given
    (callers add to the default with ``with_default_stages``).
    """
    tags: dict[str, str] = {}
    if override_by is not None or override_reason is not None:
        try:
            tags.update(override_tags(override_by or "", override_reason or ""))
        except ValueError as exc:
            raise PromotionRefused(str(exc)) from None
    checked = check_promotable(
        adapter, settings, version, required_stages(settings) if required is None else required,
        override=bool(tags), judging=judging,
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
    try:
        return adapter.promote(settings.model_name, version, checked.expected, tags)
    except ConflictError:
        now = adapter.get_champion(settings.model_name)
        if now is not None and now.version == model.version:  # lost the race to a run promoting this same version
            raise ConflictError(f"cannot promote {model.id}: another run promoted this same version first, so it is "
                                f"already the champion; nothing is left to do (this run changed nothing)") from None
        raise
