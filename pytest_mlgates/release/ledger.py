"""The gate ledger: each stage's verdict recorded on the model version it judged.

Tags on the version's registry entry:

- ``mlgates.gate.<stage>`` = ``passed`` | ``failed``
- ``mlgates.gate.<stage>.sha256``: the artifact digest the stage saw
- ``mlgates.gate.<stage>.commit`` and ``.at``: provenance
- ``mlgates.gate.<stage>.champion``: the champion version the stage compared
  against (``none`` for a first deployment), used as the compare-and-swap
  expectation at promotion.

Promotion refuses a version whose ledger lacks a passed entry for a required
stage recorded against its exact artifact digest.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable

from ..adapters.base import Adapter
from ..records import ModelVersion
from ..stages import CHAMPION_GATE

GATE_TAG = "mlgates.gate."
OVERRIDE_TAG = "mlgates.override"
NO_CHAMPION = "none"


def current_commit(root: str | os.PathLike[str] = ".") -> str:
    """The commit being tested: ``GITHUB_SHA`` in Actions, else ``git rev-parse HEAD``, else ``unknown``."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def stage_tags(
    stage: str, outcome: str, model: ModelVersion, commit: str, champion: str | None = None
) -> dict[str, str]:
    """The tags that record one stage's ``outcome`` for ``model``."""
    key = GATE_TAG + stage
    tags = {
        key: outcome,
        f"{key}.sha256": model.sha256,
        f"{key}.commit": commit,
        f"{key}.at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if champion is not None:
        tags[f"{key}.champion"] = champion
    return tags


def record_stage(
    adapter: Adapter, model: ModelVersion, stage: str, passed: bool, commit: str, champion: str | None = None
) -> ModelVersion:
    """Write one stage's verdict on the model's registry entry."""
    return adapter.set_tags(model.name, model.version,
                            stage_tags(stage, "passed" if passed else "failed", model, commit, champion))


def stage_outcome(model: ModelVersion, stage: str) -> str:
    """``passed``, ``failed``, ``stale`` (recorded for another artifact digest) or ``missing``."""
    key = GATE_TAG + stage
    outcome = model.tags.get(key)
    if outcome is None:
        return "missing"
    if model.tags.get(f"{key}.sha256") != model.sha256:
        return "stale"
    return outcome


def missing_gates(model: ModelVersion, required: Iterable[str]) -> list[str]:
    """Human-readable problems with the ledger; empty when every required stage passed."""
    problems = []
    for stage in required:
        outcome = stage_outcome(model, stage)
        if outcome == "passed":
            continue
        if outcome == "stale":
            problems.append(f"{stage} passed for artifact {model.tags.get(GATE_TAG + stage + '.sha256', '?')[:12]}..., "
                            f"not for this version's artifact {model.sha256[:12]}...")
        else:
            problems.append(f"{stage} is {outcome}")
    return problems


def compared_champion(model: ModelVersion, stage: str = CHAMPION_GATE) -> str | None:
    """The champion version the stage compared against (None: there was none)."""
    value = model.tags.get(f"{GATE_TAG}{stage}.champion", NO_CHAMPION)
    return None if value == NO_CHAMPION else value


def override_tags(who: str, why: str) -> dict[str, str]:
    """The audit record of an emergency promotion that skipped the ledger check (ValueError if who or why is blank)."""
    blank = [name for name, value in (("who (--override-by / --by)", who), ("why (--override-reason / --reason)", why))
             if not value.strip()]
    if blank:
        raise ValueError(f"an emergency override needs a non-blank {' and '.join(blank)}: it is the audit record "
                         f"of who skipped the gate ledger and why")
    who, why = who.strip(), why.strip()
    return {OVERRIDE_TAG: "true", f"{OVERRIDE_TAG}.by": who, f"{OVERRIDE_TAG}.reason": why,
            f"{OVERRIDE_TAG}.at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
