"""``mlgates endpoints [--delete NAME | --delete-all]``: list or stop the platform's endpoints.

Production endpoints of the local platform outlive the run that deployed them
(as production does); this is how to see them and stop them.
"""

from __future__ import annotations

import argparse

from ..adapters import Adapter
from ..config import Settings
from ._common import EXIT_OK, EXIT_USAGE, add_project_arguments, fail, with_project


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgates endpoints", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--delete", metavar="NAME", help="stop and remove one endpoint")
    action.add_argument("--delete-all", action="store_true", help="stop and remove every endpoint")
    add_project_arguments(parser)
    args = parser.parse_args(argv)

    def endpoints(settings: Settings, adapter: Adapter) -> int:
        if not hasattr(adapter, "list_endpoints"):
            return fail(f"the {settings.platform!r} adapter cannot list endpoints", EXIT_USAGE)
        found = adapter.list_endpoints()
        if args.delete or args.delete_all:
            for name in [e.name for e in found] if args.delete_all else [args.delete]:
                adapter.delete_endpoint(name)
                print(f"deleted endpoint {name}")
            return EXIT_OK
        if not found:
            print("no endpoints")
        for endpoint in found:
            traffic = ", ".join(f"{d} {p}%" for d, p in endpoint.traffic.items())
            print(f"{endpoint.name:<30} {endpoint.url:<28} {traffic}")
        return EXIT_OK

    return with_project(args, endpoints)
