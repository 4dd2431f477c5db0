"""Harm class: a secret never leaks through a message in any encoded form (hypothesis-generated secrets and encodings),
including through a real failed Slack notification served by a server on 127.0.0.1."""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings, strategies as st

from pytest_mlgates.redact import REDACTED, redact
from pytest_mlgates.report.slack import send_stage_notification

ENCODINGS = {
    "raw": lambda s: s,
    "url": lambda s: quote(s, safe=""),
    "url-path": quote,
    "url-plus": quote_plus,
    "url-twice": lambda s: quote(quote(s, safe=""), safe=""),
    "url-lower": lambda s: quote(s, safe="").lower(),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64-url": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "base64-nopad": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "json": lambda s: json.dumps(s)[1:-1],
    "json-ascii": lambda s: json.dumps(s, ensure_ascii=True)[1:-1],
    "json-in-json": lambda s: json.dumps(json.dumps(s))[1:-1],
    "repr": lambda s: repr(s)[1:-1],
    "bytes-repr": lambda s: repr(s.encode())[2:-1],
    "html": html.escape,
    "hex": lambda s: s.encode().hex(),
    "hex-upper": lambda s: s.encode().hex().upper(),
}

secrets = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=8, max_size=60).filter(
    lambda s: s.strip() == s and len(s.encode()) >= 8)
context = st.text(st.characters(codec="ascii"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(secret=secrets, encoding=st.sampled_from(sorted(ENCODINGS)), before=context, after=context)
def test_every_encoded_form_is_redacted(secret: str, encoding: str, before: str, after: str) -> None:
    encoded = ENCODINGS[encoding](secret)
    out = redact(f"{before}{encoded}{after}", [secret])
    assert encoded not in out
    assert REDACTED in out


def _base64_runs_decoded(text: str) -> list[bytes]:
    decoded = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{4,}", text):
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            for alphabet in (None, b"-_"):
                try:
                    decoded.append(base64.b64decode(chunk, altchars=alphabet) if alphabet else base64.b64decode(chunk))
                except (binascii.Error, ValueError):
                    pass
    return decoded


@settings(max_examples=200, deadline=None)
@given(secret=secrets, prefix=st.binary(max_size=7), suffix=st.binary(max_size=7))
def test_a_secret_inside_a_larger_base64_blob_is_redacted(secret: str, prefix: bytes, suffix: bytes) -> None:
    blob = base64.b64encode(prefix + secret.encode() + suffix).decode()  # e.g. Basic user:token
    out = redact(f"Authorization: Basic {blob} was refused", [secret])
    assert all(secret.encode() not in data for data in _base64_runs_decoded(out))


def test_text_without_the_secret_is_left_alone() -> None:
    assert redact("val_mae = 4.2; nothing to hide", ["hooks.slack.com/services/T0/B0/xyz"]) == (
        "val_mae = 4.2; nothing to hide")


SECRET_PATH = "/services/T0SECRETTEAM/B0SECRETBOT/zQ9xSecretToken4711"


@pytest.mark.parametrize("encoding", ["url", "base64", "json-in-json", "url-twice"])
def test_a_slack_error_echoing_the_webhook_encoded_leaks_nothing(httpserver, encoding: str) -> None:
    url = httpserver.url_for(SECRET_PATH)
    echoed = ENCODINGS[encoding](url)
    httpserver.expect_request(SECRET_PATH).respond_with_data(f"invalid_token for {echoed}", status=400)
    report = {"platform": "local", "model_name": "m", "metric": "val_mae", "stages": {"champion_gate": "failed"},
              "candidate": {"name": "m", "version": "1"}, "verdicts": [], "outputs": {}, "commit": "abc",
              "run_url": None}
    warning = send_stage_notification(report, {"MLGATES_SLACK_WEBHOOK": url}, attempts=1, sleep=lambda s: None)
    assert warning is not None and "400" in warning
    for fragment in ("zQ9xSecretToken4711", "T0SECRETTEAM", echoed):
        for form in {ENCODINGS[e](fragment) for e in ENCODINGS}:
            if len(form) >= 8:
                assert form.lower() not in warning.lower(), (form, warning)
