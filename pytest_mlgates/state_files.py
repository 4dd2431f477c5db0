"""Reading the local platform's state files so that damage is a loud error, never a fresh start.

Why: a zero-byte, unreadable or corrupt registry silently re-created empty
makes the next run a FIRST DEPLOYMENT, promoting whatever it trains. Every
reader here names the file and what to do instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .records import StateError


def damaged(path: Path, problem: str, what: str) -> StateError:
    """The error for a state file that exists but cannot be used."""
    return StateError(
        f"{what} {path} {problem}. It is not taken for empty state, since that would turn the next run into a "
        f"first deployment. Restore it from your state backup (e.g. the workflow's saved state folder); only if "
        f"you mean to start over, move it away (mv {path} {path}.damaged) and run again")


def read_json_state(path: Path, what: str, missing_ok: bool = False) -> Any:
    """``json.loads`` of a state file; StateError naming it when it is empty, unreadable or not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise damaged(path, "is missing", what) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(path, f"cannot be read ({getattr(exc, 'strerror', None) or exc})", what) from None
    if not text.strip():
        raise damaged(path, "is empty (zero bytes)", what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise damaged(path, f"is not valid JSON ({exc})", what) from None


def ensure_state_folder(folder: Path) -> None:
    """Create the state folder, or raise StateError saying why it cannot be used and how to choose another."""
    hint = "point --mlgates-state-dir (or MLGATES_STATE_DIR, [tool.mlgates] state_dir) at a writable folder"
    if folder.exists() and not folder.is_dir():
        raise StateError(f"the state folder {folder} is a file, not a folder; {hint}, or move the file away")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"the state folder {folder} cannot be created: {exc.strerror or exc}; {hint}") from None
