"""Checking and writing the CI output files so that a broken one is a clear error, never a lost job or verdict.

Why: the files a run writes (``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``, the
JSON report, JUnit XML) are checked before any job is submitted, and a
failure to write one at the end is reported by name while the verdicts are
still shown and the run still fails closed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class OutputFileError(OSError):
    """A CI output file cannot be written; the message names the variable or option and the fix."""


def _problem(path: Path, create: bool) -> str | None:
    if path.is_dir():
        return "it is a directory"
    if path.exists():
        return None if os.access(path, os.W_OK) else "it is not writable"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"its folder {parent} is not writable"
    return None


def output_file_problems(targets: Mapping[str, str | os.PathLike[str] | None]) -> list[str]:
    """One line per target (``{"$GITHUB_OUTPUT": path, "--junitxml": path}``) that could not be written."""
    problems = []
    for name, value in targets.items():
        if not value:
            continue
        reason = _problem(Path(value), create=name.startswith("$"))
        if reason:
            problems.append(f"{name} is {os.fspath(value)}, which cannot be written: {reason}; "
                            f"point {name} at a writable file (or unset it)")
    return problems


def write_named(name: str, target: str | os.PathLike[str] | None, write: Callable[[], Any]) -> Any:
    """Run ``write()``; turn an OSError into an OutputFileError naming ``name`` and its path."""
    try:
        return write()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputFileError(f"could not write {name} ({os.fspath(target) if target else '?'}): {reason}; "
                              f"point {name} at a writable file") from None
