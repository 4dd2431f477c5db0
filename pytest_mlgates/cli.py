"""The ``mlgates`` command: a thin dispatcher to one module per sub-command.

``mlgates NAME ARGS...`` runs ``pytest_mlgates.commands.NAME.main(ARGS)``; each
command module builds its own argparse parser, so adding a command never
touches this file's imports and ``mlgates --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "init": "scaffold config, gate tests and GitHub workflows into a repository",
    "pipeline": "run the gate stages locally in workflow order",
    "status": "show model versions, the champion and each version's gate ledger",
    "promote": "make a version the champion (ledger-checked, compare-and-swap)",
    "override": "record an audited emergency override of the gate ledger on a version",
    "lint": "check GitHub workflows for ML CI pitfalls",
    "endpoints": "list or stop the platform's endpoints (local production endpoints outlive runs)",
    "cancel": "cancel a training job (idempotent; for workflow cleanup steps)",
}


def _usage() -> str:
    lines = ["usage: mlgates COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    lines += ["", "Run 'mlgates COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"mlgates: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"pytest_mlgates.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"pytest_mlgates.commands.{name}":
            raise
        print(f"mlgates: the {name!r} command is not available in this release", file=sys.stderr)
        return 2
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
