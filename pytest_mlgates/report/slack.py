"""Slack notification after a gate stage, through an incoming webhook.

Configured only by environment (a webhook URL is a secret and never belongs in
pyproject.toml):

- ``MLGATES_SLACK_WEBHOOK``: the incoming-webhook URL; unset means no message.
- ``MLGATES_SLACK_NOTIFY``: ``always`` (default) or ``failure`` (only failed stages).

A notification is best effort: it never raises and never changes a gate's
verdict. On failure it returns a one-line warning for the plugin to show. The
webhook URL (which carries the token) is never printed, logged, returned or
put in an exception: every text that leaves this module is scrubbed, and
urllib3's debug log lines are scrubbed while the request is in flight.

Only the standard library is imported at module level; ``requests`` is
imported when a message is actually sent, so the plugin stays light.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

WEBHOOK_ENV = "MLGATES_SLACK_WEBHOOK"
NOTIFY_ENV = "MLGATES_SLACK_NOTIFY"
NOTIFY_CHOICES = ("always", "failure")
_REDACTED = "<redacted>"
_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager", "urllib3.util.retry",
            "urllib3.response", "requests")


def _secrets_of(url: str) -> list[str]:
    """Every fragment of the webhook URL that could reveal the token, longest first."""
    parts = {url, url.rstrip("/")}
    try:
        split = urlsplit(url)
    except ValueError:
        split = None
    if split is not None:
        path = split.path or ""
        if path.strip("/"):
            parts.add(path)
            parts.add(path + ("?" + split.query if split.query else ""))
        for segment in re.split(r"[/?&=#]", path + "/" + (split.query or "")):
            if len(segment) >= 6:
                parts.add(segment)
    return sorted((p for p in parts if p), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret fragment, in every encoded form (pytest_mlgates.redact), replaced by ``<redacted>``."""
    from ..redact import redact

    return redact(text, secrets)


class _ScrubFilter(logging.Filter):
    """Rewrites log records so the webhook never reaches a handler (pytest's caplog included)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is dropped, not risked
            return False
        clean = scrub(message, self.secrets)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def _short(text: Any, limit: int = 280) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _escape(text: Any) -> str:
    """Slack mrkdwn control characters escaped, as Slack's docs require."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _run_url(report: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    if report.get("run_url"):
        return str(report["run_url"])
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def _stage_outcome(report: Mapping[str, Any]) -> tuple[bool, str]:
    """(passed, one-line headline) of the run's stages and verdicts."""
    stages = dict(report.get("stages") or {})
    verdicts = list(report.get("verdicts") or [])
    failed = [s for s, outcome in stages.items() if outcome not in ("passed", "skipped")]
    failed_gates = [v.get("gate", "?") for v in verdicts if not v.get("passed")]
    passed = not failed and not failed_gates and bool(stages or verdicts)
    names = ", ".join(stages) or ", ".join(dict.fromkeys(v.get("gate", "?") for v in verdicts)) or "gates"
    return passed, names


def build_message(report: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Slack payload (``text`` fallback plus blocks) for one stage's report."""
    env = os.environ if env is None else env
    passed, stage_names = _stage_outcome(report)
    model = report.get("model_name") or "model"
    metric = str(report.get("metric") or "metric")
    outputs = dict(report.get("outputs") or {})
    candidate = report.get("candidate") or {}
    version = candidate.get("version") or outputs.get("model_version") or "n/a"
    challenger = outputs.get(f"challenger_{metric}", "n/a")
    champion = outputs.get(f"champion_{metric}", "none" if outputs.get(f"challenger_{metric}") else "n/a")
    should_promote = outputs.get("should_promote", "n/a")
    commit = report.get("commit") or env.get("GITHUB_SHA") or "unknown"
    run_url = _run_url(report, env)
    word = "passed" if passed else "FAILED"
    icon = ":white_check_mark:" if passed else ":x:"
    headline = f"{icon} mlgates {stage_names} {word}: {model} version {version} on {report.get('platform', '?')}"
    fields = [
        f"*Verdict:* {word}",
        f"*Model version:* {_escape(model)}:{_escape(version)}",
        f"*Challenger {_escape(metric)}:* {_escape(challenger)}",
        f"*Champion {_escape(metric)}:* {_escape(champion)}",
        f"*Should promote:* {_escape(should_promote)}",
        f"*Commit:* `{_escape(str(commit)[:12])}`",
    ]
    rule = champion_rule(report)
    if rule:
        fields.append(f"*Rule:* {_escape(rule)}")
    lines = []
    for verdict in list(report.get("verdicts") or [])[:10]:
        mark = "passed" if verdict.get("passed") else "FAILED"
        message = str(verdict.get("message", "")).strip()
        if verdict.get("passed"):
            lines.append(f"- {_escape(verdict.get('gate', '?'))}: {mark}. {_escape(_short(message, 200))}")
        else:  # the whole reason, every line of it: a fail-closed reason is often on the second line
            lines.append(f"- {_escape(verdict.get('gate', '?'))}: {mark}.\n```{_escape(message[:1500])}```")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(headline)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if lines:
        body = "\n".join(lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": body if len(body) <= 2900 else body[:2897] + "..."}})
    if run_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{run_url}|View the run>"}]})
    text = (f"mlgates {stage_names} {word} for {model}:{version}: {metric} challenger {challenger}, "
            f"champion {champion}" + (f" ({rule})" if rule else "") + f", should_promote {should_promote}, "
            f"commit {str(commit)[:12]}"
            + (f", run {run_url}" if run_url else ""))
    return {"text": text, "blocks": blocks}


def champion_rule(report: Mapping[str, Any]) -> str:
    """"lower is better, limit 10.5" from the champion gate's verdict, or "" when there is none."""
    for verdict in report.get("verdicts") or []:
        figures = verdict.get("figures") or {}
        if verdict.get("gate") == "champion" and figures.get("direction"):
            limit = figures.get("limit")
            return str(figures["direction"]) + (f", limit {_plain(limit)}" if limit is not None else "")
    return ""


def _plain(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _retry_after(value: str | None, cap: float) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, cap)


def send_stage_notification(
    report: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    attempts: int = 3,
    timeout: float = 10.0,
    backoff: float = 1.0,
    max_retry_after: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    session: Any = None,
) -> str | None:
    """Post the stage's outcome to Slack when ``MLGATES_SLACK_WEBHOOK`` is set.

    Returns None when the message was delivered or when Slack is not
    configured, else a warning line (with the webhook scrubbed). Retries
    connection errors, timeouts, 429 and 5xx answers up to ``attempts`` times
    with exponential backoff, honouring ``Retry-After`` up to ``max_retry_after``
    seconds. Never raises.
    """
    env = os.environ if env is None else env
    url = (env.get(WEBHOOK_ENV) or "").strip()
    if not url:
        return None
    secrets = _secrets_of(url)
    try:
        notify = (env.get(NOTIFY_ENV) or "always").strip().lower()
        if notify not in NOTIFY_CHOICES:
            return (f"Slack notification not sent: {NOTIFY_ENV} must be one of {', '.join(NOTIFY_CHOICES)}, "
                    f"got {scrub(repr(notify), secrets)}")
        if notify == "failure" and _stage_outcome(report)[0]:
            return None
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            return (f"Slack notification not sent: {WEBHOOK_ENV} is set but is not an http(s) URL "
                    f"(its value is not shown because it is a secret); set it to the incoming-webhook URL")
        payload = build_message(report, env)
        return _post(url, payload, secrets, attempts=max(1, attempts), timeout=timeout, backoff=backoff,
                     max_retry_after=max_retry_after, sleep=sleep, session=session)
    except Exception as exc:  # noqa: BLE001 - a notification must never fail a gate
        return f"Slack notification not sent: unexpected {type(exc).__name__}: {_short(scrub(str(exc), secrets))}"


def _post(url: str, payload: dict[str, Any], secrets: list[str], *, attempts: int, timeout: float,
          backoff: float, max_retry_after: float, sleep: Callable[[float], None], session: Any) -> str | None:
    import requests

    log_filter = _ScrubFilter(secrets)
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    for logger in loggers:
        logger.addFilter(log_filter)
    http = session or requests.Session()
    problem = "no attempt made"
    try:
        for attempt in range(1, attempts + 1):
            wait = backoff * (2 ** (attempt - 1))
            try:
                response = http.post(url, json=payload, timeout=timeout, allow_redirects=False)
            except requests.Timeout:
                problem = f"timed out after {timeout:g} s"
            except requests.RequestException as exc:
                # the exception text names the URL; keep only its class and a scrubbed reason
                problem = f"{type(exc).__name__}: {_short(scrub(str(exc), secrets), 160)}"
            else:
                if 200 <= response.status_code < 300:
                    return None
                body = _short(scrub(response.text or "", secrets), 120)
                problem = f"HTTP {response.status_code}" + (f" ({body})" if body else "")
                retryable = response.status_code == 429 or response.status_code >= 500
                if not retryable:
                    return (f"Slack notification not sent: Slack answered {problem}; check that "
                            f"{WEBHOOK_ENV} holds a valid incoming-webhook URL (the gate verdict is unchanged)")
                hinted = _retry_after(response.headers.get("Retry-After"), max_retry_after)
                if hinted is not None:
                    wait = hinted
            if attempt < attempts:
                sleep(min(wait, max_retry_after))
        return (f"Slack notification not sent after {attempts} attempt(s): {problem} "
                f"(the gate verdict is unchanged)")
    finally:
        for logger in loggers:
            logger.removeFilter(log_filter)
        if session is None:
            http.close()


__all__ = ["NOTIFY_ENV", "WEBHOOK_ENV", "build_message", "scrub", "send_stage_notification"]
