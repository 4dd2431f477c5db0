"""The end of a log file for an error message, bounded in lines and in bytes.

Why: a training script that prints one 20 MB line (a progress bar without
newlines, a dumped array) must not put 20 MB into a failure message; only the
end of the file is read, and each line and the whole tail are capped.
"""

from __future__ import annotations

import os
from pathlib import Path

TAIL_BYTES = 8 * 1024
LINE_BYTES = 1000
READ_BYTES = 64 * 1024


def _cut(line: str, limit: int) -> str:
    data = line.encode(errors="replace")
    if len(data) <= limit:
        return line
    return data[:limit].decode(errors="ignore") + f" ... [{len(data) - limit} more bytes of this line cut]"


def tail_text(path: Path, lines: int = 40, max_bytes: int = TAIL_BYTES, line_bytes: int = LINE_BYTES) -> str:
    """The last ``lines`` lines of ``path``, each at most ``line_bytes`` and all together at most ``max_bytes``."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - READ_BYTES)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return "(no output)"
    text = data.decode(errors="replace")
    parts = text.splitlines()
    if start > 0 and parts:
        parts[0] = "... " + parts[0]  # the first line read is the end of a longer one
    kept: list[str] = []
    total = 0
    for line in reversed(parts[-lines:]):
        line = _cut(line, line_bytes)
        total += len(line.encode(errors="replace")) + 1
        if total > max_bytes:
            kept.append(f"... [earlier output cut at {max_bytes} bytes]")
            break
        kept.append(line)
    return "\n".join(reversed(kept)) or "(no output)"
