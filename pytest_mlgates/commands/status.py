"""``mlgates status [--json]``: every version, the champion, metrics and gate ledgers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..adapters import Adapter
from ..config import Settings
from ..gates.verdict import fmt
from ..records import ModelVersion
from ..release.ledger import GATE_TAG
from ._common import EXIT_OK, add_project_arguments, with_project


def ledger_of(model: ModelVersion) -> dict[str, str]:
    """``{stage: outcome}`` from the version's tags."""
    return {key[len(GATE_TAG):]: value for key, value in model.tags.items()
            if key.startswith(GATE_TAG) and "." not in key[len(GATE_TAG):]}


def status_data(model_name: str, metric: str, versions: list[ModelVersion]) -> dict[str, Any]:
    champion = next((v.version for v in versions if v.is_champion), None)
    return {
        "model_name": model_name,
        "metric": metric,
        "champion": champion,
        "versions": [{"version": v.version, "champion": v.is_champion, metric: v.metrics.get(metric),
                      "sha256": v.sha256, "ledger": ledger_of(v), "created_at": v.created_at}
                     for v in versions],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgates status", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_project_arguments(parser)
    args = parser.parse_args(argv)
    return with_project(args, lambda settings, adapter: show(settings, adapter, args.json))


def show(settings: Settings, adapter: Adapter, as_json: bool) -> int:
    data = status_data(settings.model_name, settings.metric, adapter.list_model_versions(settings.model_name))
    if as_json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    print(f"{settings.model_name} on {settings.platform}: champion {data['champion'] or 'none'}")
    if not data["versions"]:
        print("  no versions registered yet")
    for v in data["versions"]:
        mark = "*" if v["champion"] else " "
        ledger = ", ".join(f"{k}={o}" for k, o in v["ledger"].items()) or "no gates recorded"
        print(f" {mark} v{v['version']:<4} {settings.metric}={fmt(v[settings.metric]):<10} {ledger}")
    return EXIT_OK
