"""Where gate figures go after a run: GitHub outputs and summary, JSON, Slack.

Only the standard library is imported here; the plugin calls these at the end
of a session with the run report (a plain dict, see ``build_run_report``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_OUTPUT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def merged_outputs(verdicts: list[Mapping[str, Any]], candidate: Mapping[str, str] | None,
                   stages: Mapping[str, str], job_name: str | None = None) -> dict[str, str]:
    """The GitHub outputs of a run; ``should_promote`` is true only when nothing failed."""
    outputs: dict[str, str] = {"job_name": job_name} if job_name else {}
    for verdict in verdicts:
        outputs.update(verdict.get("outputs", {}))
    if candidate:
        outputs.setdefault("model_version", candidate["version"])
        if candidate.get("job_name"):
            outputs.setdefault("job_name", candidate["job_name"])
    if "should_promote" in outputs or stages:
        failed = any(v == "failed" for v in stages.values()) or any(not v.get("passed") for v in verdicts)
        if failed:
            outputs["should_promote"] = "false"
    return outputs


def write_github_output(outputs: Mapping[str, str], env: Mapping[str, str] | None = None) -> Path | None:
    """Append ``key=value`` lines to ``$GITHUB_OUTPUT`` when it is set."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_OUTPUT")
    if not target:
        return None
    lines = []
    for key, value in outputs.items():
        value = str(value)
        if not _OUTPUT_KEY.match(key) or "\n" in value or "\r" in value:
            raise ValueError(f"cannot write GitHub output {key!r}={value!r}: keys are identifiers, values one line")
        lines.append(f"{key}={value}\n")
    if os.path.exists(target):  # each key=value once: job_name is handed on at submit and again at the end
        with open(target, encoding="utf-8") as fh:
            seen = set(fh.read().splitlines())
        lines = [line for line in lines if line.rstrip("\n") not in seen]
    with open(target, "a", encoding="utf-8") as fh:
        fh.writelines(lines)
    return Path(target)


def _cell(value: Any) -> str:
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (list, dict, str)):
        value = value.item()  # a numpy scalar prints as the plain number
    if isinstance(value, float):
        value = f"{value:.6g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def summary_markdown(report: Mapping[str, Any]) -> str:
    """A markdown table of every gate's figures, for ``$GITHUB_STEP_SUMMARY``."""
    lines = [f"### mlgates: {report.get('model_name')} on {report.get('platform')}", ""]
    if report.get("stages"):
        lines += ["| stage | outcome |", "|---|---|"]
        lines += [f"| {stage} | {_cell(outcome)} |" for stage, outcome in report["stages"].items()]
        lines.append("")
    if report.get("verdicts"):
        lines += ["| gate | verdict | figures |", "|---|---|---|"]
        for verdict in report["verdicts"]:
            word = "passed" if verdict["passed"] else "**FAILED**"
            figures = ", ".join(f"{k}={_cell(v)}" for k, v in verdict.get("figures", {}).items()
                                if not isinstance(v, (list, dict)))
            lines.append(f"| {verdict['gate']} | {word} | {figures} |")
        lines.append("")
    outputs = report.get("outputs") or {}
    if outputs:
        lines += ["| output | value |", "|---|---|"] + [f"| `{k}` | {_cell(v)} |" for k, v in outputs.items()]
        lines.append("")
    from .charts import charts_markdown, failure_reasons_markdown  # why a gate failed, then the pictures

    lines += [part for part in (failure_reasons_markdown(report), charts_markdown(report)) if part]
    return "\n".join(lines) + "\n"


def write_step_summary(report: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if env is None else env
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(summary_markdown(report))
    return Path(target)


def _plain_json(value: Any) -> Any:
    """numpy scalars as the plain numbers they are; anything else unknown as its text."""
    return value.item() if hasattr(value, "item") and callable(value.item) else str(value)


def write_json_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, sort_keys=True, default=_plain_json) + "\n", encoding="utf-8")
    return target
