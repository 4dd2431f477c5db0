"""The pull-request comment: the plugin writes the markdown, the workflow posts it (issue 14).

With ``MLGATES_PR_COMMENT`` set to a path, the end of a run writes that file: the same tables
as the step summary (stages, each gate's figures, why a gate failed). The generated
pull-request workflow sets it for the smoke gate and posts the file with
marocchino/sticky-pull-request-comment, so one comment is updated in place on each push.
The file is replaced, not appended to: it is this run's comment. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COMMENT_ENV = "MLGATES_PR_COMMENT"
MARKER = "<!-- pytest-mlgates -->"


def pr_comment_markdown(report: Mapping[str, Any]) -> str:
    """The comment's text: a marker line, then the step summary's tables."""
    from . import summary_markdown

    return f"{MARKER}\n{summary_markdown(report)}"


def write_pr_comment(report: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Path | None:
    """Write the comment to ``$MLGATES_PR_COMMENT`` when it is set; None otherwise."""
    env = os.environ if env is None else env
    target = env.get(COMMENT_ENV)
    if not target:
        return None
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(pr_comment_markdown(report), encoding="utf-8")
    os.replace(tmp, path)
    return path
