"""``mlgates promote --model-version V``: make V the champion, by the rules.

Refuses a version whose gate ledger lacks a passed champion gate for its exact
artifact, and loses cleanly (exit 1) when another promotion moved the champion
since the gate compared against it. ``--override-by`` with ``--override-reason``
is the audited emergency exit, recorded on the registry entry.
"""

from __future__ import annotations

import argparse

from ..adapters import Adapter
from ..config import Settings
from ..records import ConflictError
from ..release.promotion import PromotionRefused, promote_version, with_default_stages
from ._common import EXIT_OK, add_project_arguments, with_project


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgates promote", description=__doc__.splitlines()[0])
    parser.add_argument("--model-version", required=True, help="the version to promote (the champion gate's "
                        "model_version output)")
    parser.add_argument("--require", action="append", metavar="STAGE",
                        help="a stage whose passed verdict is required in addition to the default (champion_gate); repeatable")
    parser.add_argument("--override-by", help="emergency override: who takes responsibility")
    parser.add_argument("--override-reason", help="emergency override: why the ledger check is skipped")
    add_project_arguments(parser)
    args = parser.parse_args(argv)

    def promote(settings: Settings, adapter: Adapter) -> int:
        required = with_default_stages(settings, args.require)
        model = promote_version(adapter, settings, args.model_version, required=required,
                                override_by=args.override_by, override_reason=args.override_reason)
        print(f"promoted {model.id} to champion ({settings.metric} = {model.metrics.get(settings.metric)})")
        return EXIT_OK

    return with_project(args, promote, blocked=(PromotionRefused, ConflictError))
