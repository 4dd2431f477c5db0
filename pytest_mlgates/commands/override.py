"""``mlgates override --model-version V --by WHO --reason WHY``: the audited emergency exit.

Records on the version's registry entry who allowed it to skip the gate ledger
and why; the production rollout then accepts it (and still load-checks it at
every step). Nothing is silent: the override stays on the entry for good.
"""

from __future__ import annotations

import argparse

from ..adapters import Adapter
from ..config import Settings
from ..release.ledger import missing_gates, override_tags
from ..release.promotion import PromotionRefused, recorded_failures, required_stages, verify_digest
from ._common import EXIT_OK, add_project_arguments, with_project


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgates override", description=__doc__.splitlines()[0])
    parser.add_argument("--model-version", required=True, help="the version allowed past the ledger check")
    parser.add_argument("--by", required=True, help="who takes responsibility")
    parser.add_argument("--reason", required=True, help="why the ledger check is skipped")
    add_project_arguments(parser)
    args = parser.parse_args(argv)

    def record(settings: Settings, adapter: Adapter) -> int:
        try:
            tags = override_tags(args.by, args.reason)
        except ValueError as exc:
            raise PromotionRefused(str(exc)) from None
        model = adapter.get_model_version(settings.model_name, args.model_version)
        verify_digest(adapter, model, "override the ledger of")  # an override skips gates, never the digest
        skipped = missing_gates(model, required_stages(settings, production=True)) + recorded_failures(model, settings)
        tags["mlgates.override.skipped"] = "; ".join(skipped) or "nothing: the ledger was complete"
        adapter.set_tags(model.name, model.version, tags)
        print(f"recorded an emergency override on {model.id} by {tags['mlgates.override.by']}: "
              f"{tags['mlgates.override.reason']}")
        for problem in skipped:
            print(f"  skipped: {problem}")
        return EXIT_OK

    return with_project(args, record, blocked=(PromotionRefused,))
