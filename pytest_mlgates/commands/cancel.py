"""``mlgates cancel --job NAME [--platform P]``: cancel a training job (a workflow's cleanup step).

Meant for ``if: failure() || cancelled()`` steps, so it is forgiving where a
cleanup must be: no job name (the job was never submitted), an unknown job or
one that already finished is reported and exits 0. Only a failure to cancel a
job that is still running exits 1; a bad platform or configuration exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlgates cancel",
        description="Cancel a training job on the ML platform (idempotent; for workflow cleanup steps).")
    parser.add_argument("--job", action="append", default=[], metavar="NAME",
                        help="training job name (repeatable); default: env MLGATES_JOB")
    parser.add_argument("--report", metavar="PATH",
                        help="also cancel the job named in this mlgates JSON report (--mlgates-report), if any")
    parser.add_argument("--platform", metavar="NAME",
                        help="platform (default: env ML_PLATFORM, then [tool.mlgates] platform, then local)")
    parser.add_argument("--project", metavar="DIR", default=".",
                        help="project folder holding pyproject.toml (default: .)")
    return parser


def _jobs_from_report(path: str) -> list[str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = []
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if isinstance(outputs, dict) and outputs.get("job_name"):
        names.append(str(outputs["job_name"]))
    candidate = data.get("candidate") if isinstance(data, dict) else None
    if isinstance(candidate, dict) and candidate.get("job_name"):
        names.append(str(candidate["job_name"]))
    return names


def main(argv: list[str]) -> int:
    """Cancel each named job that is still running; return the exit code."""
    from ..adapters import MissingSDKError, UnknownPlatformError, get_adapter
    from ..config import ConfigError, find_pyproject, load_settings
    from ..records import AdapterError, NotFoundError

    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.job if n and n.strip()]
    if not names and os.environ.get("MLGATES_JOB", "").strip():
        names.append(os.environ["MLGATES_JOB"].strip())
    if args.report:
        names += _jobs_from_report(args.report)
    names = list(dict.fromkeys(names))
    if not names:
        print("mlgates cancel: no training job name given (--job, MLGATES_JOB or --report); nothing to cancel. "
              "The job was probably never submitted.")
        return 0
    try:
        cli = {"ml_platform": args.platform}
        settings = load_settings(find_pyproject(Path(args.project).resolve()), cli=cli)
        adapter = get_adapter(settings.platform, settings)
    except (ConfigError, UnknownPlatformError, MissingSDKError) as exc:
        print(f"mlgates cancel: {exc}", file=sys.stderr)
        return 2
    code = 0
    try:
        for name in names:
            try:
                job = adapter.get_job(name)
            except NotFoundError:
                print(f"mlgates cancel: no training job {name!r} on {settings.platform}; nothing to cancel")
                continue
            if job.status.finished:
                print(f"mlgates cancel: training job {name!r} already {job.status.value}; nothing to cancel")
                continue
            try:
                adapter.cancel_job(name)
            except AdapterError as exc:
                print(f"mlgates cancel: could not cancel training job {name!r} on {settings.platform}: {exc}. "
                      f"Cancel it in the platform's console so it stops billing.", file=sys.stderr)
                code = 1
                continue
            print(f"mlgates cancel: cancelled training job {name!r} on {settings.platform}")
    finally:
        close = getattr(adapter, "close", None)
        if callable(close):
            close()
    return code
