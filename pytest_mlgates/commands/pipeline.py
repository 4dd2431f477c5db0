"""``mlgates pipeline``: the gate stages in workflow order, each its own pytest process.

Exit codes: 0 the candidate was promoted (or every requested stage passed when
promotion was not requested), 1 a gate blocked it (the report names the stage),
2 or more on errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..pipeline import EXIT_ERROR, STAGES, run_pipeline


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgates pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--platform", help="ML platform for every stage (sets ML_PLATFORM)")
    parser.add_argument("--project", default=".", help="project folder holding pyproject.toml (default: .)")
    parser.add_argument("--stages", help="comma-separated subset of: " + ", ".join(s[0] for s in STAGES))
    parser.add_argument("--verbose", "-v", action="store_true", help="show each stage's pytest output")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments for every stage (after --)")
    args = parser.parse_args(argv)
    project = Path(args.project)
    if not (project / "pyproject.toml").is_file():
        print(f"mlgates pipeline: {project.resolve()} has no pyproject.toml; pass --project", file=sys.stderr)
        return EXIT_ERROR
    stages = [s.strip() for s in args.stages.split(",")] if args.stages else None
    try:
        result = run_pipeline(project, args.platform, stages, args.pytest_args,
                              echo=(lambda text: print(text, end="")) if args.verbose else None)
    except ValueError as exc:
        print(f"mlgates pipeline: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(result.summary)
    return result.exit_code
