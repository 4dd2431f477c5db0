"""Pictures for the step summary: mermaid charts GitHub renders, no image hosting (issue 14).

Three figures, each a plain dict that also goes into the JSON report under ``charts``:

- ``lineage``: the primary metric of every champion the model has had, and the challenger's;
- ``latency_histogram``: the load gate's request latencies in bins, with p99 and its limit;
- ``rollout``: each rollout step's traffic share, requests, errors and p99.

The first two are measured by fixtures (``champion``, ``load_test``) and handed to the report
through :func:`pytest_mlgates.stash.add_chart`; the rollout figure is read from the rollout
verdict. Only the standard library is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Bins of the latency histogram (a step summary is read, not analysed).
HISTOGRAM_BINS = 12


def plain(value: Any) -> Any:
    """numpy scalars (anything with ``.item()``) as plain Python numbers, floats rounded for reading."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    return value


def lineage_chart(metric: str, direction: str, champions: Sequence[tuple[str, float]],
                  challenger: tuple[str, float] | None) -> dict[str, Any]:
    """The figure of the metric across the champion lineage (oldest first), then the challenger."""
    return {"kind": "lineage", "metric": metric, "direction": direction,
            "champions": [{"version": v, "value": plain(x)} for v, x in champions],
            "challenger": {"version": challenger[0], "value": plain(challenger[1])} if challenger else None}


def latency_histogram(latencies_ms: Iterable[float], p99_ms: float | None, threshold_ms: float | None,
                      bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Equal-width bins over the observed latencies (the last bin holds the maximum)."""
    values = sorted(float(x) for x in latencies_ms if math.isfinite(float(x)))
    figure: dict[str, Any] = {"kind": "latency_histogram", "requests": len(values), "p99_ms": plain(p99_ms),
                              "threshold_ms": plain(threshold_ms), "edges_ms": [], "counts": []}
    if not values:
        return figure
    low, high = values[0], values[-1]
    width = (high - low) / bins if high > low else 1.0
    counts = [0] * bins
    for x in values:
        counts[min(int((x - low) / width), bins - 1)] += 1
    figure["edges_ms"] = [plain(low + i * width) for i in range(bins + 1)]
    figure["counts"] = counts
    return figure


def rollout_figure(verdict: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rollout steps of a rollout verdict, as the chart's figure."""
    figures = verdict.get("figures") or {}
    steps = []
    for step in figures.get("steps") or []:
        candidate = step.get("candidate") or {}
        requests, failures = candidate.get("requests"), candidate.get("failures")
        rate = failures / requests if requests and failures is not None else None
        steps.append({"percent": step.get("percent"), "requests": requests, "failures": failures,
                      "error_rate": plain(rate),
                      "p99_ms": plain(candidate.get("p99_ms")), "breach": step.get("breach")})
    if not steps:
        return None
    return {"kind": "rollout", "steps": steps, "promoted": figures.get("promoted"),
            "rollback_seconds": plain(figures.get("rollback_seconds"))}


def report_charts(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every chart figure of a run: those the fixtures measured, then the rollout's."""
    charts = [dict(c) for c in report.get("charts") or []]
    for verdict in report.get("verdicts") or []:
        if verdict.get("gate") == "rollout":
            figure = rollout_figure(verdict)
            if figure and figure not in charts:
                charts.append(figure)
    return charts


def _quoted(labels: Iterable[Any]) -> str:
    return "[" + ", ".join('"' + str(label).replace('"', "'") + '"' for label in labels) + "]"


def _numbers(values: Iterable[Any]) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" if v is not None else "0" for v in values) + "]"


def _mermaid(lines: list[str]) -> str:
    return "```mermaid\n" + "\n".join(lines) + "\n```\n"


def lineage_markdown(figure: Mapping[str, Any]) -> str:
    points = [(f"v{c['version']} champion", c["value"]) for c in figure.get("champions") or []
              if c.get("value") is not None]
    challenger = figure.get("challenger")
    if challenger and challenger.get("value") is not None:
        points.append((f"v{challenger['version']} challenger", challenger["value"]))
    if not points:
        return ""
    title = f"{figure['metric']} across the champion lineage ({figure.get('direction') or 'direction unknown'})"
    lines = ["xychart-beta", f'    title "{title}"', f"    x-axis {_quoted(p[0] for p in points)}",
             f'    y-axis "{figure["metric"]}"', f"    bar {_numbers(p[1] for p in points)}"]
    if challenger and challenger.get("value") is not None:
        lines.append(f"    line {_numbers(challenger['value'] for _ in points)}")
    return f"#### {title}\n\n" + _mermaid(lines) + "\n" + \
        "(bars: each champion, oldest first, and the challenger; line: the challenger's value)\n"


def histogram_markdown(figure: Mapping[str, Any]) -> str:
    counts, edges = figure.get("counts") or [], figure.get("edges_ms") or []
    if not counts:
        return ""
    labels = [f"{edges[i]:.4g}-{edges[i + 1]:.4g}" for i in range(len(counts))]
    title = f"load gate latency, {figure.get('requests')} requests (ms)"
    lines = ["xychart-beta", f'    title "{title}"', f"    x-axis {_quoted(labels)}",
             '    y-axis "requests"', f"    bar {_numbers(counts)}"]
    note = f"p99 {figure.get('p99_ms')} ms" + (f", limit {figure.get('threshold_ms')} ms"
                                               if figure.get("threshold_ms") is not None else "")
    return f"#### {title}\n\n" + _mermaid(lines) + f"\n{note}\n"


def rollout_markdown(figure: Mapping[str, Any]) -> str:
    steps = figure.get("steps") or []
    if not steps:
        return ""
    title = "rollout steps: candidate p99 (ms) at each traffic share"
    shares = [f"{s['percent']}%" for s in steps]
    lines = ["xychart-beta", f'    title "{title}"', f"    x-axis {_quoted(shares)}",
             '    y-axis "p99 ms"', f"    bar {_numbers(s.get('p99_ms') for s in steps)}"]
    table = ["| traffic | requests | errors | error rate | p99 ms | verdict |", "|---|---|---|---|---|---|"]
    for s in steps:
        rate = s.get("error_rate")
        table.append(f"| {s['percent']}% | {s.get('requests')} | {s.get('failures')} | "
                     f"{'' if rate is None else f'{rate:.2%}'} | {s.get('p99_ms')} | "
                     f"{'BREACH: ' + str(s['breach']).replace('|', '/') if s.get('breach') else 'ok'} |")
    tail = ""
    if figure.get("rollback_seconds") is not None:
        tail = f"\nrolled back in {figure['rollback_seconds'] * 1000:.0f} ms\n"
    return f"#### {title}\n\n" + _mermaid(lines) + "\n" + "\n".join(table) + "\n" + tail


RENDERERS = {"lineage": lineage_markdown, "latency_histogram": histogram_markdown, "rollout": rollout_markdown}


def charts_markdown(report: Mapping[str, Any]) -> str:
    """The run's charts as markdown with mermaid blocks ("" when there is none)."""
    parts = [RENDERERS[c["kind"]](c) for c in report_charts(report) if c.get("kind") in RENDERERS]
    return "\n".join(p for p in parts if p)


def failure_reasons_markdown(report: Mapping[str, Any]) -> str:
    """Why each failed gate failed, its whole message, for the step summary."""
    parts = []
    for verdict in report.get("verdicts") or []:
        if not verdict.get("passed") and verdict.get("message"):
            parts.append(f"**{verdict.get('gate')} FAILED**\n\n```\n{str(verdict['message']).strip()}\n```\n")
    return "\n".join(parts)
