"""``mlgates lint [PATH...]``: check GitHub workflows for ML CI pitfalls.

Exit codes: 0 clean, 1 when any finding, 2 when an input cannot be read as a
workflow (the other files are still checked and reported).
"""

from __future__ import annotations

import argparse
import sys

from ..ci.lint import CHECKS, LintInputError, lint_file, render, workflow_files


def _codes(text: str) -> set[str]:
    codes = {c.strip().upper() for c in text.split(",") if c.strip()}
    unknown = sorted(codes - set(CHECKS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown check code(s) {', '.join(unknown)}; valid: {', '.join(CHECKS)}")
    return codes


def build_parser() -> argparse.ArgumentParser:
    checks = "\n".join(f"  {code} {slug}" for code, (slug, _, _) in CHECKS.items())
    parser = argparse.ArgumentParser(
        prog="mlgates lint",
        description="Check GitHub Actions workflows for ML CI mistakes that cost money or let a worse "
                    "model through.",
        epilog=f"checks:\n{checks}\n\nSilence one on purpose with '# mlgates-lint: ignore[MLG001]' on the "
               f"job's line.\nExit codes: 0 clean, 1 findings, 2 unreadable input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", default=[".github/workflows"], metavar="PATH",
                        help="workflow files or folders (default: .github/workflows)")
    parser.add_argument("--format", choices=("text", "json", "github"), default="text",
                        help="text (default), json, or github (::error annotations on the PR)")
    parser.add_argument("--select", type=_codes, default=None, metavar="CODES",
                        help="only these checks, comma separated (e.g. MLG001,MLG003)")
    parser.add_argument("--ignore", type=_codes, default=set(), metavar="CODES",
                        help="skip these checks, comma separated")
    return parser


def main(argv: list[str]) -> int:
    """Lint the workflows and return the exit code."""
    args = build_parser().parse_args(argv)
    findings = []
    errors = []
    try:
        files = list(workflow_files(args.paths))
    except LintInputError as exc:
        print(f"mlgates lint: {exc}", file=sys.stderr)
        return 2
    for path in files:
        try:
            findings += lint_file(path)
        except LintInputError as exc:
            errors.append(str(exc))
    findings = [f for f in findings if (args.select is None or f.code in args.select) and f.code not in args.ignore]
    if findings or args.format == "json":
        print(render(findings, args.format))
    for error in errors:
        print(f"mlgates lint: {error}", file=sys.stderr)
    failing = [f for f in findings if f.severity != "warning"]
    if args.format == "text":
        summary = f"{len(findings)} finding(s) in {len(files)} file(s)"
        if findings and not failing:
            summary += " (warnings only)"
        print(summary if findings else f"mlgates lint: no findings in {len(files)} file(s)",
              file=sys.stderr if not findings else sys.stdout)
    if errors:
        return 2
    return 1 if failing else 0
