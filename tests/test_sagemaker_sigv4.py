"""SigV4-signed load on SageMaker runtime: botocore's signer in every locust process, checked on the wire.

The server is ``fakes.sagemaker_runtime.RuntimeFake`` on 127.0.0.1: it recomputes
each request's signature with botocore from the secret it knows and answers
403 to anything unsigned or wrongly signed, as runtime.sagemaker does. The
first tests prove that check refuses what SageMaker refuses (and takes boto3's
own signed call), so the load tests after them can fail.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests
from fakes.sagemaker_runtime import RuntimeFake, verify_sigv4

from pytest_mlgates.adapters.sagemaker.signing import SigV4Signer
from pytest_mlgates.attribution import ServedBy
from pytest_mlgates.loadtest.runner import run_load
from pytest_mlgates.loadtest.signing import SECRET_ENV_PREFIX, restore_signer, signer_config

REGION = "eu-west-1"
KEY_ID = "AKIASIGV4TESTKEY0001"
SECRET = "sigv4-test-secret-never-printed-91c2"
PATH = "/endpoints/eta-prod/invocations"
BODIES = [{"instances": [{"x": float(i)}, {"x": float(i + 1)}]} for i in range(20)]


def _not_found(environ: dict, start_response: object) -> list[bytes]:
    start_response("404 Not Found", [("Content-Length", "0")])  # type: ignore[operator]
    return [b""]


@pytest.fixture(scope="module")
def runtime() -> Iterator[tuple[RuntimeFake, str]]:
    from werkzeug.serving import make_server

    fake = RuntimeFake(_not_found, {KEY_ID: SECRET}, REGION, lambda name: {"blue": 3.0, "green": 1.0})
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, fake, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def signer(secret: str = SECRET, region: str = REGION, token: str | None = None) -> SigV4Signer:
    return SigV4Signer(region, KEY_ID, secret, token)


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url + PATH, data=body, headers=headers, timeout=10)


def test_a_request_signed_by_the_signer_is_answered_and_attributed(runtime: tuple[RuntimeFake, str]) -> None:
    fake, url = runtime
    body = json.dumps(BODIES[0]).encode()
    headers = {"content-type": "application/json"}
    headers.update(signer().sign("POST", url + PATH, headers, body))
    answer = post(url, body, headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [0.0, 2.0]}
    assert answer.headers["X-Amzn-Invoked-Production-Variant"] in ("blue", "green")
    assert ServedBy(header="X-Amzn-Invoked-Production-Variant").deployment(answer.headers.get, answer.json) \
        == answer.headers["X-Amzn-Invoked-Production-Variant"]


@pytest.mark.parametrize("how, code", [
    ("unsigned", "MissingAuthenticationTokenException"),
    ("wrong secret", "InvalidSignatureException"),
    ("body changed after signing", "InvalidSignatureException"),
    ("signed for another region", "InvalidSignatureException"),
    ("signed header changed", "InvalidSignatureException"),
])
def test_what_sagemaker_refuses_is_refused_with_403(runtime: tuple[RuntimeFake, str], how: str, code: str) -> None:
    fake, url = runtime
    body = json.dumps(BODIES[1]).encode()
    headers = {"content-type": "application/json"}
    if how != "unsigned":
        made = signer(secret=SECRET + "x" if how == "wrong secret" else SECRET,
                      region="us-east-1" if how == "signed for another region" else REGION)
        headers.update(made.sign("POST", url + PATH, headers, body))
    if how == "body changed after signing":
        body = json.dumps(BODIES[2]).encode()
    if how == "signed header changed":
        headers["content-type"] = "text/csv"
    since = len(fake.invocations())
    answer = post(url, body, headers)
    assert answer.status_code == 403 and answer.headers["x-amzn-ErrorType"] == code, (answer.status_code, answer.text)
    seen = fake.invocations(since)
    assert [s.status for s in seen] == [403] and not seen[0].variant


def test_boto3s_own_signed_call_passes_the_check_and_a_wrong_secret_does_not(
        runtime: tuple[RuntimeFake, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is SigV4 as AWS defines it: boto3's invoke_endpoint (its signer, its headers) passes."""
    _, url = runtime
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def client(secret: str) -> object:
        return boto3.session.Session().client(
            "sagemaker-runtime", region_name=REGION, endpoint_url=url, aws_access_key_id=KEY_ID,
            aws_secret_access_key=secret, config=botocore.config.Config(retries={"total_max_attempts": 1}))

    answer = client(SECRET).invoke_endpoint(EndpointName="eta-prod", ContentType="application/json",  # type: ignore[attr-defined]
                                            Body=json.dumps(BODIES[3]).encode())
    assert json.loads(answer["Body"].read()) == {"predictions": [6.0, 8.0]}
    assert answer["InvokedProductionVariant"] in ("blue", "green")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client("not-" + SECRET).invoke_endpoint(EndpointName="eta-prod", ContentType="application/json",  # type: ignore[attr-defined]
                                                Body=b'{"instances": [[1]]}')
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_session_token_is_sent_and_signed() -> None:
    made = signer(token="session-token-xyz")
    headers = {"content-type": "application/json"}
    added = made.sign("POST", "http://127.0.0.1:1" + PATH, headers, b"{}")
    assert added["X-Amz-Security-Token"] == "session-token-xyz"
    assert "x-amz-security-token" in added["Authorization"].split("SignedHeaders=")[1]
    assert verify_sigv4("POST", "http://127.0.0.1:1" + PATH, {**headers, **added, "host": "127.0.0.1:1"}, b"{}",
                        {KEY_ID: SECRET}, REGION) == ""


def test_the_signer_never_shows_its_secrets_and_crosses_to_locust_only_in_the_environment() -> None:
    made = signer(token="tok-123")
    assert SECRET not in repr(made) and "tok-123" not in repr(made)
    entry, env = signer_config(made)
    assert SECRET not in json.dumps(entry) and "tok-123" not in json.dumps(entry)
    assert env == {SECRET_ENV_PREFIX + "ACCESS_KEY_ID": KEY_ID, SECRET_ENV_PREFIX + "SECRET_ACCESS_KEY": SECRET,
                   SECRET_ENV_PREFIX + "SESSION_TOKEN": "tok-123"}
    environ = {**env, "OTHER": "kept"}
    again = restore_signer(json.loads(json.dumps(entry)), environ)
    assert environ == {"OTHER": "kept"}  # taken out of the environment as it is read
    assert isinstance(again, SigV4Signer) and again.secrets() == made.secrets() and again.spec() == made.spec()
    with pytest.raises(ValueError, match="MLGATES_SIGNER_"):
        restore_signer(entry, {})


def _spy_python(tmp_path: Path) -> tuple[str, Path]:
    """An interpreter for run_load that, before starting locust, records whether the secret is in any file of
    the run's folder and whether it is in the process's environment, then runs the real Python."""
    report = tmp_path / "spy.json"
    spy = tmp_path / "spy-python"
    spy.write_text(
        f"#!{sys.executable}\n"
        "import json, os, pathlib, sys\n"
        f"secret = {SECRET!r}\n"
        "files = [p.name for p in pathlib.Path.cwd().rglob('*') if p.is_file() and secret in p.read_text(errors='replace')]\n"
        f"pathlib.Path({str(report)!r}).write_text(json.dumps({{'files': files, 'argv': secret in ' '.join(sys.argv),\n"
        f"    'env': [k for k, v in os.environ.items() if v == secret]}}))\n"
        "os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n")
    spy.chmod(spy.stat().st_mode | stat.S_IXUSR)
    return str(spy), report


def test_locust_signs_every_request_in_every_process(runtime: tuple[RuntimeFake, str], tmp_path: Path) -> None:
    fake, url = runtime
    python, report = _spy_python(tmp_path)
    since = len(fake.invocations())
    result = run_load(url, BODIES, users=4, spawn_rate=100, duration=20, max_requests=120, rps=60, path=PATH,
                      headers={"Accept": "application/json"}, processes=2, signer=signer(), python=python,
                      served_by=ServedBy(header="X-Amzn-Invoked-Production-Variant"))
    assert result.requests == 120 and result.failures == 0, (result.errors, result.output)
    seen = fake.invocations(since)
    assert len(seen) >= 120 and all(s.status == 200 for s in seen), {s.refusal for s in seen}
    signatures = [s.headers["authorization"].rsplit("Signature=", 1)[1] for s in seen]
    # each request its own signature, over its body and the second it was sent: one per (date, body), no two
    # distinct requests share one; spread over seconds (rps), a body sent again was signed again
    assert len(set(signatures)) == len({(s.headers["x-amz-date"], s.body) for s in seen}) > len(BODIES)
    # the rollout attributes by the variant header: both variants answered, in about the weights' ratio
    assert set(result.deployments) == {"blue", "green"}
    assert result.deployments.count("blue") > result.deployments.count("green")
    assert SECRET not in result.output
    spied = json.loads(report.read_text())
    assert spied == {"files": [], "argv": False, "env": [SECRET_ENV_PREFIX + "SECRET_ACCESS_KEY"]}


def test_locust_without_the_signer_is_refused_every_time(runtime: tuple[RuntimeFake, str]) -> None:
    """Fail closed: the same load unsigned is all 403s, counted as errors."""
    _, url = runtime
    result = run_load(url, BODIES, users=2, spawn_rate=100, duration=20, max_requests=20, path=PATH, processes=1)
    assert result.requests == 20 and result.failures == 20
    assert set(result.statuses) == {403}, result.errors


def test_locust_signing_with_a_wrong_secret_is_refused_every_time(runtime: tuple[RuntimeFake, str]) -> None:
    _, url = runtime
    result = run_load(url, BODIES, users=2, spawn_rate=100, duration=20, max_requests=20, path=PATH, processes=1,
                      signer=signer(secret="wrong-" + SECRET))
    assert result.failures == 20 and set(result.statuses) == {403}, result.errors


def test_the_parents_signer_variables_never_leak_into_an_unsigned_run(
        runtime: tuple[RuntimeFake, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables of the MLGATES_SIGNER_ family in the caller's environment are not a signer."""
    _, url = runtime
    for name, value in signer_config(signer())[1].items():
        monkeypatch.setenv(name, value)
    result = run_load(url, BODIES, users=1, spawn_rate=100, duration=20, max_requests=5, path=PATH, processes=1)
    assert set(result.statuses) == {403}
    assert os.environ[SECRET_ENV_PREFIX + "SECRET_ACCESS_KEY"] == SECRET  # the caller's own are untouched
