"""Slack notifications against a real HTTP server on 127.0.0.1 (pytest-httpserver).

The webhook URL carries the token; every test that can fail checks that no
fragment of it appears in the warning, in stdout/stderr or in the logs.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug import Response

from pytest_mlgates.report import slack
from pytest_mlgates.report.slack import build_message, scrub, send_stage_notification

SECRET_PATH = "/services/T0SECRETTEAM/B0SECRETBOT/zQ9xSecretToken4711"
SECRET_PARTS = ("T0SECRETTEAM", "B0SECRETBOT", "zQ9xSecretToken4711", SECRET_PATH)


def report(passed: bool = True, **extra) -> dict:
    data = {
        "platform": "sagemaker",
        "model_name": "delivery-eta",
        "metric": "val_mae",
        "stages": {"champion_gate": "passed" if passed else "failed"},
        "candidate": {"name": "delivery-eta", "version": "7"},
        "verdicts": [{
            "gate": "champion", "passed": passed,
            "message": ("champion gate passed" if passed else "champion gate FAILED: the challenger is worse")
            + "\n  challenger delivery-eta:7: val_mae = 4.12",
            "figures": {"challenger_value": 4.12, "champion_value": 4.31}, "outputs": {},
        }],
        "outputs": {"job_name": "train-42", "model_version": "7", "challenger_val_mae": "4.12",
                    "champion_val_mae": "4.31", "should_promote": "true" if passed else "false"},
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "run_url": "https://github.com/acme/eta/actions/runs/99",
    }
    data.update(extra)
    return data


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def our_logs(caplog) -> str:
    """Log text of everything but the test server itself (werkzeug logs the path it served)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for part in SECRET_PARTS:
            assert part not in (text or ""), f"webhook fragment {part!r} leaked into: {text!r}"


@pytest.fixture
def webhook(httpserver) -> str:
    return httpserver.url_for(SECRET_PATH)


def test_not_configured_sends_nothing(httpserver):
    assert send_stage_notification(report(), env={}) is None
    assert send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": "  "}) is None
    assert httpserver.log == []


def test_message_carries_metrics_verdict_version_commit_and_run_link(httpserver, webhook, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_oneshot_request(SECRET_PATH, method="POST").respond_with_data("ok")
    sleeps = Sleeps()
    assert send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": webhook}, sleep=sleeps) is None
    httpserver.check_assertions()
    assert len(httpserver.log) == 1 and sleeps == []
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"
    payload = request.get_json()
    everything = json.dumps(payload)
    for needle in ("4.12", "4.31", "passed", "delivery-eta", ":7", "0123456789ab",
                   "https://github.com/acme/eta/actions/runs/99"):
        assert needle in everything
    assert "val_mae challenger 4.12, champion 4.31" in payload["text"]
    assert payload["blocks"][-1]["elements"][0]["text"] == "<https://github.com/acme/eta/actions/runs/99|View the run>"
    captured = capsys.readouterr()
    assert_no_secret(everything, captured.out, captured.err, our_logs(caplog))
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # the debug lines exist, scrubbed


def test_failed_stage_says_failed_and_should_not_promote(httpserver, webhook):
    httpserver.expect_oneshot_request(SECRET_PATH).respond_with_data("ok")
    assert send_stage_notification(report(passed=False), env={"MLGATES_SLACK_WEBHOOK": webhook}) is None
    payload = httpserver.log[0][0].get_json()
    assert "FAILED" in payload["text"] and "should_promote false" in payload["text"]


def test_run_link_and_commit_fall_back_to_github_env(httpserver, webhook):
    httpserver.expect_oneshot_request(SECRET_PATH).respond_with_data("ok")
    env = {"MLGATES_SLACK_WEBHOOK": webhook, "GITHUB_SERVER_URL": "https://ghe.example", "GITHUB_REPOSITORY": "o/r",
           "GITHUB_RUN_ID": "5", "GITHUB_SHA": "feedfacecafebeef"}
    assert send_stage_notification(report(run_url=None, commit=None), env=env) is None
    text = httpserver.log[0][0].get_json()["text"]
    assert "https://ghe.example/o/r/actions/runs/5" in text and "feedfacecafe" in text


def test_retries_server_errors_with_backoff_then_succeeds(httpserver, webhook):
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data("oops", status=500)
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data("oops", status=502)
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data("ok")
    sleeps = Sleeps()
    result = send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": webhook}, sleep=sleeps, backoff=0.5)
    assert result is None
    assert len(httpserver.log) == 3
    assert sleeps == [0.5, 1.0]
    bodies = {json.dumps(r.get_json(), sort_keys=True) for r, _ in httpserver.log}
    assert len(bodies) == 1  # the same message each time


def test_honours_retry_after_up_to_the_cap(httpserver, webhook):
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "7"}))
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "3600"}))
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data("ok")
    sleeps = Sleeps()
    assert send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": webhook}, sleep=sleeps,
                                   max_retry_after=30.0) is None
    assert sleeps == [7.0, 30.0]


def test_gives_up_after_bounded_attempts_with_a_scrubbed_warning(httpserver, webhook, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(SECRET_PATH).respond_with_data(f"upstream error at {SECRET_PATH}", status=503)
    sleeps = Sleeps()
    warning = send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": webhook}, sleep=sleeps, attempts=3)
    assert warning is not None
    assert "after 3 attempt(s)" in warning and "HTTP 503" in warning and "verdict is unchanged" in warning
    assert len(httpserver.log) == 3 and len(sleeps) == 2
    captured = capsys.readouterr()
    assert_no_secret(warning, captured.out, captured.err, our_logs(caplog))


def test_client_error_is_not_retried(httpserver, webhook):
    httpserver.expect_request(SECRET_PATH).respond_with_data(f"no_service {SECRET_PATH}", status=404)
    sleeps = Sleeps()
    warning = send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": webhook}, sleep=sleeps)
    assert warning is not None and "HTTP 404" in warning and "no_service" in warning
    assert len(httpserver.log) == 1 and sleeps == []
    assert_no_secret(warning)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_never_leaks_the_url(capsys, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{_closed_port()}{SECRET_PATH}"
    sleeps = Sleeps()
    warning = send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": url}, sleep=sleeps, timeout=2)
    assert warning is not None and "ConnectionError" in warning
    assert len(sleeps) == 2  # three attempts
    captured = capsys.readouterr()
    assert_no_secret(warning, captured.out, captured.err, our_logs(caplog))


def test_timeout_is_bounded_and_reported(httpserver, webhook):
    release = threading.Event()

    def stall(request):
        release.wait(5)
        return Response("late")

    httpserver.expect_request(SECRET_PATH).respond_with_handler(stall)
    try:
        warning = send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": webhook}, sleep=Sleeps(),
                                          attempts=1, timeout=0.2)
    finally:
        release.set()
        for _ in range(500):  # let the stalled handler finish so its log entry stays in this test
            if httpserver.log:
                break
            threading.Event().wait(0.01)
    assert warning is not None and "timed out after 0.2 s" in warning
    assert_no_secret(warning)


def test_notify_on_failure_only(httpserver, webhook):
    httpserver.expect_request(SECRET_PATH).respond_with_data("ok")
    env = {"MLGATES_SLACK_WEBHOOK": webhook, "MLGATES_SLACK_NOTIFY": "failure"}
    assert send_stage_notification(report(passed=True), env=env) is None
    assert httpserver.log == []
    assert send_stage_notification(report(passed=False), env=env) is None
    assert len(httpserver.log) == 1
    bad = send_stage_notification(report(), env={**env, "MLGATES_SLACK_NOTIFY": "sometimes"})
    assert bad is not None and "MLGATES_SLACK_NOTIFY" in bad


def test_a_webhook_that_is_not_a_url_is_refused_without_echoing_it():
    warning = send_stage_notification(report(), env={"MLGATES_SLACK_WEBHOOK": f"oops{SECRET_PATH}"})
    assert warning is not None and "not an http(s) URL" in warning
    assert_no_secret(warning)


def test_malformed_report_never_raises(httpserver, webhook):
    httpserver.expect_request(SECRET_PATH).respond_with_data("ok")
    warning = send_stage_notification({"verdicts": 5}, env={"MLGATES_SLACK_WEBHOOK": webhook})
    assert warning is not None and warning.startswith("Slack notification not sent: unexpected TypeError")
    assert_no_secret(warning)


def test_message_escapes_slack_control_characters():
    message = build_message(report(model_name="<!channel> & co"), env={})
    assert "<!channel>" not in json.dumps(message["blocks"])
    assert "&lt;!channel&gt; &amp; co" in json.dumps(message["blocks"])


@given(st.text(max_size=40), st.text(max_size=40))
def test_scrub_removes_every_fragment(prefix: str, suffix: str):
    url = "https://hooks.slack.com" + SECRET_PATH
    text = prefix + url + suffix + SECRET_PATH.split("/")[-1]
    assert_no_secret(scrub(text, slack._secrets_of(url)))


def test_module_imports_only_the_standard_library():
    code = ("import sys; import pytest_mlgates.report.slack; "
            "print(sorted(m for m in ('requests', 'urllib3', 'pandas', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
