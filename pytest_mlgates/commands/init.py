"""``mlgates init [--force] [--platform P] [PATH]``: scaffold the gates into an existing repository.

The command line only; what is written and how lives in :mod:`pytest_mlgates.ci.scaffold`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..ci.scaffold import OPTIONAL_PARTS, PARTS, PLATFORMS, InitError, options_from_repo, scaffold

# -- command line -------------------------------------------------------------------------------


def _platform_list(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in PLATFORMS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown platform {', '.join(bad) or repr(text)}; "
                                         f"choose from {', '.join(PLATFORMS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlgates init",
        description="Scaffold [tool.mlgates], a gate test module and two GitHub workflows into a repository. "
                    "Existing files are kept unless --force.")
    parser.add_argument("path", nargs="?", default=".", help="the repository (default: .)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files and [tool.mlgates]")
    parser.add_argument("--platform", action="append", type=_platform_list, metavar="NAME[,NAME]",
                        help=f"platform(s) the workflows support, the first is the default "
                             f"({', '.join(PLATFORMS)}); default: [tool.mlgates] platform, else local")
    parser.add_argument("--only", action="append", choices=PARTS + OPTIONAL_PARTS,
                        help="write only this part (repeatable): config, tests, workflows, or serving "
                             "(a Dockerfile for a bring-your-own serving image; never written by default)")
    parser.add_argument("--model-name", help="registry name (default: [tool.mlgates], [project] name, folder)")
    parser.add_argument("--metric", help="primary metric for the champion_gate outputs (default: val_mae)")
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument("--greater-is-better", dest="greater_is_better", action="store_true", default=None,
                           help="higher values of the metric are better (default: inferred from well-known "
                                "names such as accuracy, auc, f1, r2; else lower is better)")
    direction.add_argument("--lower-is-better", dest="greater_is_better", action="store_false",
                           help="lower values of the metric are better (mae, rmse, loss... are inferred)")
    parser.add_argument("--drift-current", help="recent production features for the drift gate (a path or URI); "
                                                "the drift test is written only when this is configured")
    parser.add_argument("--entry-point", help="training script (default: train.py if present)")
    parser.add_argument("--data", help="training data path or URI")
    parser.add_argument("--target", help="label column")
    parser.add_argument("--workflows-dir", help="where workflows go (default: .github/workflows)")
    parser.add_argument("--code-path", action="append", metavar="GLOB",
                        help="path filter of the pull-request workflow (repeatable; default: the training "
                             "script's folder, src/**, features/**, tests/**, pyproject.toml)")
    parser.add_argument("--python-version", help="Python version in the workflows (default: 3.11)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be written, write nothing")
    return parser


def main(argv: list[str]) -> int:
    """Scaffold and report; 0 on success (skipped files included), 2 on errors."""
    args = build_parser().parse_args(argv)
    root = Path(args.path)
    platforms = [p for group in (args.platform or []) for p in group]
    try:
        opts = options_from_repo(
            root, platforms, model_name=args.model_name, metric=args.metric, entry_point=args.entry_point,
            data=args.data, target=args.target, workflows_dir=args.workflows_dir,
            code_paths=tuple(args.code_path or ()), python_version=args.python_version,
            greater_is_better=args.greater_is_better, drift_current=args.drift_current)
        outcome = scaffold(root, opts, force=args.force, parts=args.only or PARTS, dry_run=args.dry_run)
    except InitError as exc:
        print(f"mlgates init: {exc}", file=sys.stderr)
        return 2
    verb = "would write" if args.dry_run else "wrote"
    for item in outcome.written:
        print(f"mlgates init: {verb} {item}")
    for item in outcome.skipped:
        print(f"mlgates init: kept existing {item} (use --force to overwrite)")
    for note in outcome.notes:
        print(f"mlgates init: {note}")
    if outcome.written and not args.dry_run:
        print(f"\nNext: set the platform's secrets (docs/workflows.md), check with `mlgates lint "
              f"{opts.workflows_dir}`, and run `pytest -m smoke` locally.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
