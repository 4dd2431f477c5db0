"""The SageMaker adapter, driven through real boto3 over HTTP against moto's server.

One ``ThreadedMotoServer`` on 127.0.0.1 (port 0) per test process, reset
between tests (``POST /moto-api/reset``). The harness sits on moto's side of
the wire only:

- a WSGI middleware records every request (so tests assert on what boto3
  actually sent) and can answer chosen requests with AWS errors (access
  denied, throttling) before moto sees them;
- moto 5.2.5's gaps are filled with response handlers added to moto's
  ``SageMakerResponse``: ``StopTrainingJob`` and ``UpdateEndpoint`` (both 500
  in moto), and an endpoint that can be told to come up ``Failed``;
- a job's status, failure reason and final model are set the way SageMaker
  would: on moto's in-process backend object and by uploading model.tar.gz.

No test patches the adapter; no request leaves 127.0.0.1.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime
import io
import json
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_mlgates.records import (
    AccessDeniedError,
    AdapterError,
    ConflictError,
    DeadlineExceeded,
    DeployOptions,
    Faults,
    IntegrityError,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    ThrottledError,
    TrainingSpec,
    UnsupportedError,
)
from pytest_mlgates.adapters.sagemaker import SageMakerAdapter, job_name_for, resource_name
from pytest_mlgates.adapters.sagemaker.metadata import (
    ENCODED_MARKER,
    MAX_VALUE_CHARS,
    MetadataError,
    decode_properties,
    encode_properties,
    fits,
    summarize_tar,
)
from pytest_mlgates.config import ConfigError, Settings
from pytest_mlgates.contract import digest_dir
from pytest_mlgates.gates.champion import champion_metric_tag, compare

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "mlgates-test-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
IMAGE = f"683313688378.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SECRET = "dummy-secret-never-to-be-printed-7f3a"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


# -- moto's side of the wire ------------------------------------------------------
@dataclasses.dataclass
class Call:
    action: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclasses.dataclass
class Fault:
    kind: str
    match: Callable[[Call], bool]
    times: int | None
    hits: int = 0


_ERRORS = {
    "access_denied": (400, "AccessDeniedException",
                      "User: arn:aws:iam::123456789012:user/ci is not authorized to perform this action"),
    "throttled": (400, "ThrottlingException", "Rate exceeded"),
    "server_error": (500, "InternalFailure", "We encountered an internal error. Please try again."),
}
_S3_ERRORS = {"access_denied": (403, "AccessDenied", "Access Denied"),
              "throttled": (503, "SlowDown", "Please reduce your request rate."),
              "server_error": (500, "InternalError", "We encountered an internal error.")}


class Recorder:
    """WSGI middleware in front of moto: records requests, injects AWS errors."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.faults: list[Fault] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if path.startswith("/moto-api/"):  # the test's own control channel
            return self.app(environ, start_response)
        body = b""
        if target or path.startswith("/endpoints/"):  # JSON APIs; S3 bodies stream through untouched
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        call = Call(target.rsplit(".", 1)[-1] if target else f"{method} {path}", method, path, headers, body)
        with self.lock:
            self.calls.append(call)
            fault = next((f for f in self.faults if (f.times is None or f.hits < f.times) and f.match(call)), None)
            if fault is not None:
                fault.hits += 1
        if fault is None:
            return self.app(environ, start_response)
        if target:
            status, code, message = _ERRORS[fault.kind]
            payload = json.dumps({"__type": code, "message": message}).encode()
            content_type = "application/x-amz-json-1.1"
        else:
            status, code, message = _S3_ERRORS[fault.kind]
            payload = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            content_type = "application/xml"
        start_response(f"{status} Error", [("Content-Type", content_type), ("x-amzn-ErrorType", code),
                                           ("Content-Length", str(len(payload)))])
        return [payload]

    def actions(self, prefix: str = "") -> list[str]:
        with self.lock:
            return [c.action for c in self.calls if c.action.startswith(prefix)]

    def find(self, action: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.action == action]


def _install_moto_handlers() -> None:
    """Fill moto 5.2.5's gaps on moto's side: handlers SageMaker has and moto answers 500 for."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerResponse, "_mlgates_filled", False):
        return

    def stop_training_job(self: Any) -> Any:
        name = self._get_param("TrainingJobName")
        job = self.sagemaker_backend.training_jobs.get(name)
        if job is None:
            raise ValidationError(message=f"Could not find training job '{name}'.")
        if job.training_job_status != "InProgress":
            raise ValidationError(message=f"The training job {name} is {job.training_job_status}; "
                                          f"only InProgress jobs can be stopped.")
        now = utcnow()
        job.training_job_status = job.secondary_status = "Stopped"
        job.secondary_status_transitions.append(
            {"Status": "Stopped", "StartTime": now, "EndTime": now, "StatusMessage": "Training job stopped"})
        return EmptyResult()

    def update_endpoint(self: Any) -> Any:
        backend = self.sagemaker_backend
        name, config_name = self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint '{name}'.")
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            raise ValidationError(message=f"Could not find endpoint configuration '{config_name}'.")
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = utcnow()
        return ActionResult({"EndpointArn": endpoint.arn})

    original_create_endpoint = SageMakerResponse.create_endpoint

    def create_endpoint(self: Any) -> Any:
        result = original_create_endpoint(self)
        outcome = FAILING_ENDPOINTS.pop(self._get_param("EndpointName"), None)
        if outcome is not None:
            endpoint = self.sagemaker_backend.endpoints[self._get_param("EndpointName")]
            endpoint.endpoint_status, endpoint.failure_reason = "Failed", outcome
        return result

    SageMakerResponse.stop_training_job = stop_training_job
    SageMakerResponse.update_endpoint = update_endpoint
    SageMakerResponse.create_endpoint = create_endpoint
    SageMakerResponse._mlgates_filled = True


#: endpoint name -> FailureReason: the next create_endpoint of that name comes up Failed
FAILING_ENDPOINTS: dict[str, str] = {}


class MotoHarness:
    """moto's server plus the test's handles on moto's side of it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        _install_moto_handlers()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        wsgi = self.server._server
        assert wsgi is not None
        self.recorder = Recorder(wsgi.app)
        self._clients: dict[str, Any] = {}
        self._session: boto3.session.Session | None = None
        wsgi.app = self.recorder  # werkzeug's handler calls server.app per request

    def reset(self) -> None:
        with self.recorder.lock:
            self.recorder.faults.clear()
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        with self.recorder.lock:
            self.recorder.calls.clear()
        FAILING_ENDPOINTS.clear()

    def client(self, service: str) -> Any:
        """The test's own boto3 client (playing the platform's or a human's part)."""
        if service not in self._clients:
            self._clients[service] = boto3.session.Session().client(
                service, region_name=REGION, endpoint_url=self.url,
                aws_access_key_id="testing", aws_secret_access_key="testing",
                config=botocore.config.Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
        return self._clients[service]

    @property
    def session(self) -> boto3.session.Session:
        """One session for the adapters under test: loading botocore's service models once per process
        instead of once per adapter keeps the suite fast. Tests about credentials use a fresh one."""
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session

    @property
    def backend(self) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION]

    def fault(self, kind: str, match: Callable[[Call], bool] | None = None, times: int | None = None) -> Fault:
        fault = Fault(kind, match or (lambda c: True), times)
        with self.recorder.lock:
            self.recorder.faults.append(fault)
        return fault

    # -- playing SageMaker's part -----------------------------------------------
    def set_job(self, name: str, status: str, secondary: str, message: str = "",
                failure_reason: str | None = None) -> None:
        from moto.core.utils import utcnow

        job = self.backend.training_jobs[name]
        job.training_job_status, job.secondary_status = status, secondary
        now = utcnow()
        job.secondary_status_transitions.append(
            {"Status": secondary, "StartTime": now, "EndTime": now, "StatusMessage": message or secondary})
        if failure_reason is not None:
            job.failure_reason = failure_reason

    def upload_model(self, name: str, files: Mapping[str, bytes], metrics_text: str | None) -> str:
        uri = self.backend.training_jobs[name].model_artifacts["S3ModelArtifacts"]
        bucket, _, key = uri[5:].partition("/")
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=make_tar(files, metrics_text))
        return str(uri)


def make_tar(files: Mapping[str, bytes], metrics_text: str | None = None) -> bytes:
    """A model.tar.gz as SageMaker packs /opt/ml/model (members relative, no folder entry)."""
    buffer = io.BytesIO()
    members = dict(files)
    if metrics_text is not None:
        members["metrics.json"] = metrics_text.encode()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


_HARNESS: MotoHarness | None = None
_HARNESS_LOCK = threading.Lock()


def moto_harness() -> MotoHarness:
    """One moto server per test process (so one per xdist worker), stopped at exit."""
    global _HARNESS
    with _HARNESS_LOCK:
        if _HARNESS is None:
            _HARNESS = MotoHarness()
            atexit.register(_HARNESS.server.stop)
        return _HARNESS


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, no shared files, no metadata service, no proxy: nothing can reach AWS."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION",
                "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY",
                "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTINGDUMMY0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def moto(aws_env: None) -> Iterator[MotoHarness]:
    harness = moto_harness()
    harness.reset()
    harness.client("s3").create_bucket(Bucket=BUCKET)
    yield harness


class SleepLog:
    """A sleep that only records and moves its own clock: back-off and polling cost no wall time."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def sagemaker_table(moto: MotoHarness, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "region": REGION, "role_arn": ROLE, "s3_prefix": f"s3://{BUCKET}/mlgates", "image_uri": IMAGE,
        "endpoint_url": moto.url, "max_attempts": 3, "retry_base_seconds": 0.001,
        "endpoint_poll_seconds": 0.01, "lock_timeout_seconds": 10.0,
    }
    table.update(overrides)
    return {k: v for k, v in table.items() if v is not None}


def make_adapter(moto: MotoHarness, root: Path, sleep: Callable[[float], None] | None = None,
                 fresh_session: bool = False, **overrides: Any) -> SageMakerAdapter:
    settings = Settings(platform="sagemaker", model_name="eta", platforms={"sagemaker": sagemaker_table(moto, **overrides)},
                        root=str(root))
    sleep = sleep or SleepLog()
    clock = sleep.clock if isinstance(sleep, SleepLog) else time.monotonic
    return SageMakerAdapter(settings, sleep=sleep, clock=clock, session=None if fresh_session else moto.session)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "train.py").write_text("print('training')\n")
    (root / "src" / "features.py").write_text("X = 1\n")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    (root / "data.csv").write_text("x,y\n1,2\n3,4\n")
    return root


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def adapter(moto: MotoHarness, project: Path, sleeps: SleepLog) -> Iterator[SageMakerAdapter]:
    adapter = make_adapter(moto, project, sleeps)
    yield adapter
    adapter.close()


def spec(**overrides: Any) -> TrainingSpec:
    values: dict[str, Any] = dict(model_name="eta", entry_point="src/train.py", data="data.csv",
                                  hyperparameters={"max_depth": 6, "criterion": "squared_error", "early": True},
                                  commit=COMMIT, timeout_seconds=1800)
    values.update(overrides)
    return TrainingSpec(**values)


def completed_job(adapter: SageMakerAdapter, moto: MotoHarness, metrics: Mapping[str, Any] | None = None,
                  files: Mapping[str, bytes] | None = None) -> str:
    job = adapter.submit_training_job(spec())
    moto.upload_model(job.name, files or {"model.joblib": job.name.encode()},
                      json.dumps(dict(metrics or {"val_mae": 10.0})))
    moto.set_job(job.name, "Completed", "Completed")
    return job.name


def registered(adapter: SageMakerAdapter, moto: MotoHarness, metrics: Mapping[str, Any] | None = None,
               files: Mapping[str, bytes] | None = None, tags: Mapping[str, str] | None = None) -> ModelVersion:
    name = completed_job(adapter, moto, metrics, files)
    return adapter.register_model("eta", name, adapter.job_metrics(name), tags)


# -- configuration -----------------------------------------------------------------
class TestSettings:
    def base(self) -> dict[str, Any]:
        return {"region": REGION, "role_arn": ROLE, "s3_prefix": f"s3://{BUCKET}/p"}

    def build(self, table: dict[str, Any]) -> SageMakerAdapter:
        return SageMakerAdapter(Settings(platform="sagemaker", platforms={"sagemaker": table}))

    @pytest.mark.parametrize("key", ["region", "role_arn", "s3_prefix"])
    def test_a_missing_required_key_is_named(self, aws_env: None, key: str) -> None:
        table = self.base()
        del table[key]
        with pytest.raises(ConfigError, match=rf"\[tool\.mlgates\.sagemaker\] {key} is required"):
            self.build(table)

    def test_region_falls_back_to_the_aws_environment(self, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        table = self.base()
        del table["region"]
        assert self.build(table).config.region == "eu-west-1"
        monkeypatch.setenv("AWS_REGION", "eu-central-1")
        assert self.build(table).config.region == "eu-central-1"

    def test_unknown_keys_are_errors_listing_the_valid_ones(self, aws_env: None) -> None:
        with pytest.raises(ConfigError) as info:
            self.build({**self.base(), "instance_typo": "ml.m5.large", "aws_secret_access_key": "x"})
        message = str(info.value)
        assert "aws_secret_access_key, instance_typo" in message
        assert "instance_type" in message and "default chain" in message

    @pytest.mark.parametrize(
        ("key", "value", "expect"),
        [
            ("role_arn", "SageMakerRole", "IAM role ARN"),
            ("region", "Europe", "AWS region"),
            ("s3_prefix", "my-bucket/prefix", "s3://<bucket>"),
            ("instance_type", "m5.large", "instance type"),
            ("instance_count", 0, "at least 1"),
            ("instance_count", "2", "of type int"),
            ("script_mode", "yes", "of type bool"),
            ("lock_ttl_seconds", -1, "positive"),
            ("tags", {"team": 1}, "table of strings"),
            ("tags", {"aws:reserved": "x"}, "invalid AWS tag"),
            ("model_package_group", "my_group", "letters, digits and hyphens"),
            ("endpoint_url", "127.0.0.1:5000", "http"),
        ],
    )
    def test_bad_values_name_the_key(self, aws_env: None, key: str, value: Any, expect: str) -> None:
        with pytest.raises(ConfigError) as info:
            self.build({**self.base(), key: value})
        assert f"[tool.mlgates.sagemaker] {key}" in str(info.value)
        assert expect in str(info.value)

    def test_the_registry_finds_the_adapter_lazily(self, aws_env: None) -> None:
        from pytest_mlgates.adapters import get_adapter

        adapter = get_adapter("sagemaker", Settings(platform="sagemaker", platforms={"sagemaker": self.base()}))
        assert isinstance(adapter, SageMakerAdapter) and adapter.name == "sagemaker"

    def test_credentials_are_never_shown(self, moto: MotoHarness, project: Path) -> None:
        adapter = make_adapter(moto, project, fresh_session=True)
        moto.fault("access_denied")
        with pytest.raises(AccessDeniedError) as info:
            adapter.get_job("any")
        assert SECRET not in repr(adapter) and SECRET not in str(info.value)
        assert "AKIATESTINGDUMMY0000" not in str(info.value)

    def test_missing_credentials_say_where_they_come_from(
        self, moto: MotoHarness, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        adapter = make_adapter(moto, project, fresh_session=True)
        sent = len(moto.recorder.calls)
        with pytest.raises(AccessDeniedError, match="default chain"):
            adapter.get_job("any")
        assert len(moto.recorder.calls) == sent  # refused before anything was sent


def test_the_plugin_package_does_not_import_boto3(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, pytest_mlgates, pytest_mlgates.adapters, pytest_mlgates.adapters.sagemaker.settings, "
            "pytest_mlgates.adapters.sagemaker.metadata; print('boto3' in sys.modules, 'botocore' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["False", "False"]


# -- names -----------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(model=st.text(min_size=0, max_size=120), commit=st.one_of(st.none(), st.text(max_size=50)))
def test_job_names_are_always_valid_sagemaker_names(model: str, commit: str | None) -> None:
    name = job_name_for(model, commit)
    assert SAGEMAKER_NAME.match(name) and len(name) <= 63


def test_job_names_carry_the_model_the_time_and_the_commit() -> None:
    name = job_name_for("delivery_eta", COMMIT, now=1714566600.0)
    assert re.fullmatch(r"delivery-eta-20240501-123000-0123456-[0-9a-f]{4}", name)


@given(parts=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=4))
def test_resource_names_are_valid_sagemaker_names(parts: list[str]) -> None:
    name = resource_name(*parts)
    assert SAGEMAKER_NAME.match(name) and len(name) <= 63


# -- metadata codec ----------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tags=st.dictionaries(
    st.text(alphabet=st.characters(categories=["L", "N"], include_characters="_.:/=+-@ "), min_size=1,
            max_size=40).filter(lambda k: not k.startswith("mlgates.sm.")),
    st.text(max_size=150).filter(lambda v: len(v.encode()) <= 180), max_size=20))
def test_any_tag_value_round_trips_through_legal_metadata(tags: dict[str, str]) -> None:
    props = encode_properties({}, {"val_mae": 1.5}, tags)
    for key, value in props.items():
        assert fits(key, 128) and fits(value, MAX_VALUE_CHARS), (key, value)
    decoded = decode_properties(props)
    assert decoded.tags == tags and decoded.metrics == {"val_mae": 1.5}


def test_metadata_limits_are_explained() -> None:
    with pytest.raises(MetadataError, match="at most 50 metadata entries"):
        encode_properties({}, {f"m{i}": 1.0 for i in range(30)}, {f"t{i}": "v" for i in range(30)})
    with pytest.raises(MetadataError, match="too long"):
        encode_properties({}, {}, {"note": "x" * 300})
    with pytest.raises(MetadataError, match="reserves"):
        encode_properties({}, {}, {"mlgates.sm.champion": "true"})
    with pytest.raises(MetadataError, match="rename"):
        encode_properties({}, {"f1,macro": 0.5}, {})
    assert encode_properties({}, {}, {"x": ENCODED_MARKER + "abc"})["x"] != ENCODED_MARKER + "abc"


def test_the_tar_digest_is_the_folder_digest(tmp_path: Path) -> None:
    files = {"model.joblib": b"weights", "a-b/x.txt": b"1", "a/b.txt": b"2", "a/c/d.bin": b"\0\1"}
    folder = tmp_path / "model"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "metrics.json").write_text('{"val_mae": 1}')
    summary = summarize_tar(io.BytesIO(make_tar({f"./{k}": v for k, v in files.items()}, '{"val_mae": 1}')))
    assert summary.sha256 == digest_dir(folder)
    assert summary.metrics_text == '{"val_mae": 1}'


# -- training ----------------------------------------------------------------------
class TestTraining:
    def test_script_mode_maps_the_training_contract_onto_a_job(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        job = adapter.submit_training_job(spec(entry_point="src/train.py"))
        assert job.status is JobStatus.PENDING and COMMIT[:7] in job.name and SAGEMAKER_NAME.match(job.name)
        (call,) = moto.recorder.find("CreateTrainingJob")
        sent = call.json()
        hp = sent["HyperParameters"]
        decoded = {k: json.loads(v) for k, v in hp.items()}
        assert decoded["sagemaker_program"] == "train.py"
        assert decoded["data"] == "/opt/ml/input/data/train/data.csv"
        assert decoded["model-dir"] == "/opt/ml/model"
        # each value a JSON string of its canonical text: the toolkit's str() of it is that text
        assert (decoded["max_depth"], decoded["criterion"], decoded["early"]) == ("6", "squared_error", "true")
        assert sent["AlgorithmSpecification"]["TrainingImage"] == IMAGE
        assert sent["RoleArn"] == ROLE
        assert sent["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}
        assert sent["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
        assert sent["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/mlgates/jobs"
        assert {"Key": "mlgates:commit", "Value": COMMIT} in sent["Tags"]
        data_uri = sent["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
        s3 = moto.client("s3")
        bucket, _, key = data_uri[5:].partition("/")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x,y\n1,2\n3,4\n"
        bucket, _, key = decoded["sagemaker_submit_directory"][5:].partition("/")
        with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
            assert tar.getnames() == ["train.py"]
        assert job.artifact_uri == f"s3://{BUCKET}/mlgates/jobs/{job.name}/output/model.tar.gz"

    def test_source_dir_is_uploaded_without_caches_and_data_only_once(
        self, moto: MotoHarness, project: Path
    ) -> None:
        adapter = make_adapter(moto, project, source_dir="src")
        first = adapter.submit_training_job(spec())
        adapter.submit_training_job(spec())
        calls = moto.recorder.find("CreateTrainingJob")
        hp = {k: json.loads(v) for k, v in calls[0].json()["HyperParameters"].items()}
        assert hp["sagemaker_program"] == "train.py"
        bucket, _, key = hp["sagemaker_submit_directory"][5:].partition("/")
        archive = moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            assert sorted(tar.getnames()) == ["features.py", "train.py"]
        data_puts = [c for c in moto.recorder.calls if c.method == "PUT" and "/data/" in c.path]
        assert len(data_puts) == 1  # content-addressed: the second job reused the upload
        assert first.name in calls[0].json()["TrainingJobName"]

    def test_container_mode_runs_the_entry_point_inside_the_image(
        self, moto: MotoHarness, project: Path
    ) -> None:
        adapter = make_adapter(moto, project, script_mode=False, container_python="/usr/bin/python3")
        adapter.submit_training_job(spec(entry_point="/opt/program/train.py", data="s3://other-bucket/eta/"))
        sent = moto.recorder.find("CreateTrainingJob")[0].json()
        algo = sent["AlgorithmSpecification"]
        assert algo["ContainerEntrypoint"] == ["/usr/bin/python3", "/opt/program/train.py"]
        assert algo["ContainerArguments"] == ["--data", "/opt/ml/input/data/train", "--model-dir", "/opt/ml/model",
                                              "--criterion", "squared_error", "--early", "true", "--max_depth", "6"]
        assert "HyperParameters" not in sent
        assert sent["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://other-bucket/eta/"

    @pytest.mark.parametrize(
        ("overrides", "expect"),
        [
            ({"entry_point": "missing.py"}, "entry point"),
            ({"data": "nowhere.csv"}, "training data"),
            ({"data": ""}, "no training data"),
        ],
    )
    def test_bad_training_input_is_explained_before_anything_runs(
        self, adapter: SageMakerAdapter, moto: MotoHarness, overrides: dict[str, Any], expect: str
    ) -> None:
        with pytest.raises(JobFailedError, match=expect):
            adapter.submit_training_job(spec(**overrides))
        assert moto.recorder.find("CreateTrainingJob") == []

    def test_image_uri_is_required_to_train(self, moto: MotoHarness, project: Path) -> None:
        adapter = make_adapter(moto, project, image_uri=None)
        with pytest.raises(JobFailedError, match="image_uri is required"):
            adapter.submit_training_job(spec())

    @pytest.mark.parametrize(
        ("status", "secondary", "expect", "message"),
        [
            ("InProgress", "Starting", JobStatus.PENDING, "Starting: Preparing the instances for training"),
            ("InProgress", "Training", JobStatus.RUNNING, "Training: epoch 3"),
            ("Stopping", "Stopping", JobStatus.RUNNING, "Stopping: epoch 3"),
            ("Stopped", "Stopped", JobStatus.CANCELLED, "Stopped: stopped by user"),
            ("Stopped", "MaxRuntimeExceeded", JobStatus.FAILED, "MaxRuntimeExceeded"),
            ("Failed", "Failed", JobStatus.FAILED, "AlgorithmError: ExecuteUserScriptError"),
        ],
    )
    def test_status_mapping(
        self, adapter: SageMakerAdapter, moto: MotoHarness, status: str, secondary: str, expect: JobStatus,
        message: str,
    ) -> None:
        name = adapter.submit_training_job(spec()).name
        detail = message.split(": ", 1)[-1] if status != "Failed" else "x"
        if secondary == "Starting":
            detail = "Preparing the instances for training"
        moto.set_job(name, status, secondary, detail,
                     failure_reason="AlgorithmError: ExecuteUserScriptError" if status == "Failed" else None)
        job = adapter.get_job(name)
        assert job.status is expect
        assert message in job.message

    def test_deadline_stops_the_job_without_sleeping_for_real(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        name = adapter.submit_training_job(spec()).name
        moto.set_job(name, "InProgress", "Training", "Training image download completed. Training in progress.")
        now = [1000.0]
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            now[0] += seconds

        with pytest.raises(DeadlineExceeded) as info:
            adapter.wait_for_job(name, timeout=3600, poll_interval=60, clock=lambda: now[0], sleep=sleep)
        assert name in str(info.value)
        assert "Training image download completed" in str(info.value)
        assert len(slept) == 60 and sum(slept) == 3600
        assert len(moto.recorder.find("DescribeTrainingJob")) >= 61
        (stop,) = moto.recorder.find("StopTrainingJob")
        assert stop.json() == {"TrainingJobName": name}
        assert moto.backend.training_jobs[name].training_job_status == "Stopped"

    def test_a_platform_failure_carries_the_failure_reason_and_the_log(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        name = adapter.submit_training_job(spec()).name
        logs = moto.client("logs")
        logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
        logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=f"{name}/algo-1-1714566600")
        logs.put_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=f"{name}/algo-1-1714566600",
                            logEvents=[{"timestamp": int(time.time() * 1000) + i, "message": f"line {i}"}
                                       for i in range(50)])
        moto.set_job(name, "Failed", "Failed", failure_reason="AlgorithmError: ExecuteUserScriptError: exit code 1")
        with pytest.raises(JobFailedError) as info:
            adapter.wait_for_job(name, timeout=60, poll_interval=0.01)
        text = str(info.value)
        assert "ExecuteUserScriptError: exit code 1" in text
        assert "line 49" in text and "line 9" not in text.split("log tail")[1]

    def test_missing_logs_do_not_hide_the_failure(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        name = adapter.submit_training_job(spec()).name
        moto.set_job(name, "Failed", "Failed", failure_reason="ResourceLimitExceeded")
        with pytest.raises(JobFailedError, match="ResourceLimitExceeded") as info:
            adapter.wait_for_job(name, timeout=60, poll_interval=0.01)
        assert "no CloudWatch log" in str(info.value)

    @pytest.mark.parametrize(
        ("files", "metrics_text", "expect"),
        [
            ({"model.joblib": b"m"}, None, "has no metrics.json"),
            ({"model.joblib": b"m"}, '{"val_mae": "12,3"}', "must be a number"),
        ],
    )
    def test_a_completed_job_that_broke_the_contract_fails(
        self, adapter: SageMakerAdapter, moto: MotoHarness, files: dict[str, bytes], metrics_text: str | None,
        expect: str,
    ) -> None:
        name = adapter.submit_training_job(spec()).name
        moto.upload_model(name, files, metrics_text)
        moto.set_job(name, "Completed", "Completed")
        with pytest.raises(JobFailedError, match=expect):
            adapter.wait_for_job(name, timeout=60, poll_interval=0.01)

    def test_a_completed_job_without_its_artifact_fails(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        name = adapter.submit_training_job(spec()).name
        with pytest.raises(JobFailedError, match="missing from S3"):
            adapter.job_metrics(name)

    def test_a_corrupt_artifact_fails(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        name = adapter.submit_training_job(spec()).name
        uri = moto.backend.training_jobs[name].model_artifacts["S3ModelArtifacts"]
        moto.client("s3").put_object(Bucket=BUCKET, Key=uri.split(BUCKET + "/", 1)[1], Body=b"not a tarball")
        with pytest.raises(JobFailedError, match="not a readable .tar.gz"):
            adapter.job_metrics(name)

    def test_cancel_of_a_job_that_finished_meanwhile_is_quiet(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        name = completed_job(adapter, moto)
        adapter.cancel_job(name)
        assert moto.recorder.find("StopTrainingJob") == []


# -- registry ----------------------------------------------------------------------
class TestRegistry:
    def test_a_version_is_a_model_package_with_metadata_and_model_metrics(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        files = {"model.joblib": b"weights", "extra/vocab.txt": b"a b c"}
        version = registered(adapter, moto, {"val_mae": 4.25, "validation_fingerprint": "sha256:0f"}, files,
                             tags={"team": "eta"})
        (call,) = moto.recorder.find("CreateModelPackage")
        sent = call.json()
        assert sent["ModelPackageGroupName"] == "eta"
        assert sent["ModelApprovalStatus"] == "PendingManualApproval"
        container = sent["InferenceSpecification"]["Containers"][0]
        assert container == {"Image": IMAGE, "ModelDataUrl": version.artifact_uri}
        props = sent["CustomerMetadataProperties"]
        assert props["mlgates.sm.metric.val_mae"] == "4.25" and props["team"] == "eta"
        assert props["mlgates.sm.sha256"] == version.sha256
        assert sent["MetadataProperties"]["CommitId"] == COMMIT
        stats_uri = sent["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
        bucket, _, key = stats_uri[5:].partition("/")
        assert json.loads(moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()) == version.metrics
        assert version.version == "1"
        assert version.tags == {"team": "eta", "mlgates.job": version.tags["mlgates.job"]}

    def test_fetch_model_verifies_the_digest(
        self, adapter: SageMakerAdapter, moto: MotoHarness, tmp_path: Path
    ) -> None:
        version = registered(adapter, moto, files={"model.joblib": b"weights"})
        folder = adapter.fetch_model(version, tmp_path / "a")
        assert (folder / "model.joblib").read_bytes() == b"weights"
        assert digest_dir(folder) == version.sha256
        bucket, _, key = version.artifact_uri[5:].partition("/")
        moto.client("s3").put_object(Bucket=bucket, Key=key, Body=make_tar({"model.joblib": b"tampered"}, "{}"))
        with pytest.raises(IntegrityError, match="changed after registration"):
            adapter.fetch_model(version, tmp_path / "b")

    def test_verify_artifact_refuses_a_changed_artifact(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        version = registered(adapter, moto, files={"model.joblib": b"weights"})
        adapter.verify_artifact(version)
        bucket, _, key = version.artifact_uri[5:].partition("/")
        moto.client("s3").put_object(Bucket=bucket, Key=key, Body=make_tar({"model.joblib": b"tampered"}, "{}"))
        with pytest.raises(IntegrityError, match="changed after registration"):
            adapter.verify_artifact(version)

    def test_fetch_job_artifact_unpacks_the_model_for_the_registration_proof(
        self, adapter: SageMakerAdapter, moto: MotoHarness, tmp_path: Path
    ) -> None:
        name = completed_job(adapter, moto, files={"model.joblib": b"weights", "sub/vocab.txt": b"a b"})
        folder = adapter.fetch_job_artifact(name, tmp_path)
        assert (folder / "model.joblib").read_bytes() == b"weights" and (folder / "sub" / "vocab.txt").is_file()

    def test_registering_an_unfinished_job_is_refused(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        name = adapter.submit_training_job(spec()).name
        moto.set_job(name, "InProgress", "Training")
        with pytest.raises(JobFailedError, match="has no model"):
            adapter.register_model("eta", name, {"val_mae": 1.0})
        assert moto.recorder.find("CreateModelPackage") == []

    def test_updates_resend_the_whole_metadata_and_approval(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        version = registered(adapter, moto, tags={"a": "1"})
        adapter.set_tags("eta", version.version, {"b": "2"})
        sent = moto.recorder.find("UpdateModelPackage")[-1].json()
        assert sent["ModelApprovalStatus"] == "PendingManualApproval"
        assert sent["CustomerMetadataProperties"]["a"] == "1" and sent["CustomerMetadataProperties"]["b"] == "2"
        assert "mlgates.sm.metric.val_mae" in sent["CustomerMetadataProperties"]

    def test_champion_needs_approval_and_the_mark(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        first = registered(adapter, moto)
        second = registered(adapter, moto)
        sm = moto.client("sagemaker")
        arns = {s["ModelPackageVersion"]: s["ModelPackageArn"] for s in sm.list_model_packages(
            ModelPackageGroupName="eta")["ModelPackageSummaryList"]}
        # approved by hand in the console, never promoted through mlgates: not a champion
        described = sm.describe_model_package(ModelPackageName=arns[2])
        sm.update_model_package(ModelPackageArn=arns[2], ModelApprovalStatus="Approved",
                                CustomerMetadataProperties=described["CustomerMetadataProperties"])
        assert adapter.get_champion("eta") is None
        adapter.promote("eta", first.version, None)
        sent = moto.recorder.find("UpdateModelPackage")[-1].json()
        assert sent["ModelApprovalStatus"] == "Approved"
        assert sent["CustomerMetadataProperties"]["mlgates.sm.champion"] == "true"
        champion = adapter.get_champion("eta")
        assert champion is not None and champion.version == first.version
        # a human rejects the champion in the console: there is no champion any more
        described = sm.describe_model_package(ModelPackageName=arns[1])
        sm.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Rejected",
                                CustomerMetadataProperties=described["CustomerMetadataProperties"])
        assert adapter.get_champion("eta") is None
        assert second.version == "2"

    def test_the_newest_generation_wins_after_a_crash_between_writes(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        first, second = registered(adapter, moto), registered(adapter, moto)
        adapter.promote("eta", first.version, None)
        # a run died after marking `second` but before unmarking `first`
        sm = moto.client("sagemaker")
        arn = sm.list_model_packages(ModelPackageGroupName="eta")["ModelPackageSummaryList"][1]["ModelPackageArn"]
        props = sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", CustomerMetadataProperties={
            **props, "mlgates.sm.champion": "true", "mlgates.sm.generation": "2"})
        champion = adapter.get_champion("eta")
        assert champion is not None and champion.version == second.version
        adapter.promote("eta", first.version, second.version)  # and the registry heals on the next promotion
        assert [v.is_champion for v in adapter.list_model_versions("eta")] == [True, False]

    def test_a_non_numeric_champion_metric_fails_the_gate_closed(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        champion = registered(adapter, moto, {"val_mae": 5.0})
        adapter.promote("eta", champion.version, None, tags={champion_metric_tag("val_mae"): "5.0"})
        # someone edits the stored metric in the console into something that is not a number
        sm = moto.client("sagemaker")
        arn = sm.list_model_packages(ModelPackageGroupName="eta")["ModelPackageSummaryList"][0]["ModelPackageArn"]
        props = sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", CustomerMetadataProperties={
            **props, champion_metric_tag("val_mae"): "five"})
        challenger = registered(adapter, moto, {"val_mae": 4.0})
        verdict = compare(challenger, adapter.get_champion("eta"), metric="val_mae", greater_is_better=False,
                          tolerance=0.05)
        assert not verdict.passed and "'five', not a number" in verdict.message

    def test_promotion_waits_for_a_held_lock_then_rechecks(
        self, moto: MotoHarness, project: Path
    ) -> None:
        sleeps = SleepLog()
        adapter = make_adapter(moto, project, sleeps, lock_timeout_seconds=0.3)
        version = registered(adapter, moto)
        key = "mlgates/registry/eta/registry.lock"
        moto.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(
            {"owner": "other", "at": datetime.datetime.now().timestamp(), "pid": 4242, "host": "ci-7"}).encode())
        with pytest.raises(ConflictError, match="pid 4242 on ci-7"):
            adapter.promote("eta", version.version, None)
        assert adapter.get_champion("eta") is None
        assert 0.29 <= sum(sleeps.calls) < 0.6, "the promotion should have waited for the lock, and no longer"

    def test_a_stale_lock_from_a_crashed_run_is_taken_over(self, moto: MotoHarness, project: Path) -> None:
        adapter = make_adapter(moto, project, lock_ttl_seconds=60)
        version = registered(adapter, moto)
        key = "mlgates/registry/eta/registry.lock"
        s3 = moto.client("s3")
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"owner": "dead", "at": 0, "pid": 1}).encode())
        assert adapter.promote("eta", version.version, None).is_champion
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=BUCKET, Key=key)  # released after use
        puts = [c for c in moto.recorder.calls if c.method == "PUT" and c.path.endswith("registry.lock")]
        # ours: a create-if-absent that found the dead run's lock, then a take-over of exactly that version
        assert [("if-none-match" in c.headers, "if-match" in c.headers) for c in puts[1:]] == [(True, False),
                                                                                               (False, True)]

    def test_a_version_that_is_not_a_number_is_not_found(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        registered(adapter, moto)
        with pytest.raises(NotFoundError, match="version number"):
            adapter.get_model_version("eta", "latest")
        with pytest.raises(NotFoundError, match="no version '7'"):
            adapter.get_model_version("eta", "7")

    def test_the_model_package_group_can_be_named(self, moto: MotoHarness, project: Path) -> None:
        adapter = make_adapter(moto, project, model_package_group="eta-prod-models")
        version = registered(adapter, moto)
        assert moto.recorder.find("CreateModelPackage")[0].json()["ModelPackageGroupName"] == "eta-prod-models"
        assert adapter.get_model_version("eta", version.version).version == version.version


# -- errors and retries ------------------------------------------------------------
class TestErrors:
    def test_throttling_backs_off_and_gives_up_after_max_attempts(
        self, adapter: SageMakerAdapter, moto: MotoHarness, sleeps: SleepLog
    ) -> None:
        fault = moto.fault("throttled")
        with pytest.raises(ThrottledError, match="3 times") as info:
            adapter.get_job("any-job")
        assert fault.hits == 3 and len(sleeps.calls) == 2
        assert sleeps.calls[1] > sleeps.calls[0] / 2  # exponential ceiling with jitter in its upper half
        assert "max_attempts" in str(info.value)

    def test_a_throttled_create_is_retried_but_a_failed_one_is_not(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        fault = moto.fault("throttled", lambda c: c.action == "CreateTrainingJob", times=1)
        adapter.submit_training_job(spec())
        assert fault.hits == 1 and len(moto.recorder.find("CreateTrainingJob")) == 2
        moto.fault("server_error", lambda c: c.action == "CreateTrainingJob")
        with pytest.raises(AdapterError, match="InternalFailure"):
            adapter.submit_training_job(spec())
        assert len(moto.recorder.find("CreateTrainingJob")) == 3  # a 5xx on a create is not repeated

    def test_a_server_error_on_a_read_is_retried(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        name = adapter.submit_training_job(spec()).name
        moto.fault("server_error", lambda c: c.action == "DescribeTrainingJob", times=2)
        assert adapter.get_job(name).name == name

    def test_access_denied_on_s3_is_mapped_too(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        fault = moto.fault("access_denied", lambda c: c.method == "PUT")
        with pytest.raises(AccessDeniedError, match="iam:PassRole|permission"):
            adapter.submit_training_job(spec())
        assert fault.hits == 1

    def test_a_missing_bucket_is_a_configuration_error(self, moto: MotoHarness, project: Path) -> None:
        adapter = make_adapter(moto, project, s3_prefix="s3://no-such-bucket-here/x")
        with pytest.raises(AdapterError, match="s3_prefix"):
            adapter.submit_training_job(spec())

    def test_an_unreachable_endpoint_is_explained(self, aws_env: None, project: Path) -> None:
        import socket

        with socket.socket() as sock:  # a port nothing listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = Settings(platform="sagemaker", platforms={"sagemaker": {
            "region": REGION, "role_arn": ROLE, "s3_prefix": f"s3://{BUCKET}/x",
            "endpoint_url": f"http://127.0.0.1:{port}", "max_attempts": 2, "retry_base_seconds": 0.0}}, root=str(project))
        with pytest.raises(AdapterError, match="could not reach AWS"):
            SageMakerAdapter(settings, sleep=SleepLog()).get_job("x")


# -- endpoints -----------------------------------------------------------------------
class TestEndpoints:
    def test_deploy_creates_model_config_and_endpoint_from_the_package(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        version = registered(adapter, moto)
        endpoint = adapter.deploy_to_endpoint("eta-staging", version, "blue", DeployOptions(instance_type="ml.m5.xlarge"))
        assert endpoint.traffic == {"blue": 100}
        assert endpoint.url == f"{moto.url}/endpoints/eta-staging/invocations"
        model = moto.recorder.find("CreateModel")[0].json()
        assert model["PrimaryContainer"]["ModelDataUrl"] == version.artifact_uri
        assert model["PrimaryContainer"]["Image"] == IMAGE and model["ExecutionRoleArn"] == ROLE
        assert model["PrimaryContainer"]["Environment"]["MLGATES_SHA256"] == version.sha256
        (variant,) = moto.recorder.find("CreateEndpointConfig")[0].json()["ProductionVariants"]
        assert (variant["VariantName"], variant["InstanceType"], variant["InitialVariantWeight"]) == (
            "blue", "ml.m5.xlarge", 100.0)

    def test_a_second_deployment_updates_the_endpoint_and_cleans_up(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        blue, green = registered(adapter, moto), registered(adapter, moto)
        adapter.deploy_to_endpoint("eta-staging", blue, "blue")
        first_config = moto.backend.endpoints["eta-staging"].endpoint_config_name
        adapter.set_traffic("eta-staging", {"blue": 100})
        endpoint = adapter.deploy_to_endpoint("eta-staging", green, "green")
        assert endpoint.traffic == {"blue": 100, "green": 0}
        (update,) = moto.recorder.find("UpdateEndpoint")
        assert update.json()["EndpointConfigName"] != first_config
        assert first_config not in moto.backend.endpoint_configs  # the replaced config was deleted
        weights = moto.recorder.find("UpdateEndpointWeightsAndCapacities")
        adapter.set_traffic("eta-staging", {"blue": 90, "green": 10})
        sent = moto.recorder.find("UpdateEndpointWeightsAndCapacities")[len(weights)].json()
        assert sent["DesiredWeightsAndCapacities"] == [{"VariantName": "blue", "DesiredWeight": 90.0},
                                                       {"VariantName": "green", "DesiredWeight": 10.0}]
        # redeploying green replaces its model, keeps its share, deletes the old model
        old_models = set(moto.backend._models)
        assert adapter.deploy_to_endpoint("eta-staging", blue, "green").traffic == {"blue": 90, "green": 10}
        assert len(set(moto.backend._models) - old_models) == 1 and len(moto.backend._models) == 2

    def test_deploy_can_set_the_split_in_the_same_step(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        blue, green = registered(adapter, moto), registered(adapter, moto)
        adapter.deploy_to_endpoint("eta-staging", blue, "blue")
        endpoint = adapter.deploy_to_endpoint("eta-staging", green, "green", DeployOptions(traffic={"blue": 80, "green": 20}))
        assert endpoint.traffic == {"blue": 80, "green": 20}
        with pytest.raises(UnsupportedError, match="cannot inject faults .*latency_ms"):
            adapter.deploy_to_endpoint("eta-staging", green, "green", DeployOptions(faults=Faults(latency_ms=5)))

    def test_invoke_pins_the_variant(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        version = registered(adapter, moto)
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
        requests.post(f"{moto.url}/moto-api/static/sagemaker/endpoint-results", json={
            "account_id": ACCOUNT, "region": REGION,
            "results": [{"Body": json.dumps({"predictions": [12.5]}), "ContentType": "application/json",
                         "InvokedProductionVariant": "blue"}]}, timeout=10).raise_for_status()
        answer = adapter.invoke_endpoint("eta-staging", {"instances": [{"distance_km": 3.2}]}, deployment="blue")
        assert answer == {"predictions": [12.5]}
        (call,) = [c for c in moto.recorder.calls if c.path == "/endpoints/eta-staging/invocations"]
        assert call.headers["x-amzn-sagemaker-target-variant"] == "blue"
        assert json.loads(call.body) == {"instances": [{"distance_km": 3.2}]}

    def test_the_declared_rule_reads_the_variant_header_the_runtime_answers_with(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        import boto3

        version = registered(adapter, moto)
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
        requests.post(f"{moto.url}/moto-api/static/sagemaker/endpoint-results", json={
            "account_id": ACCOUNT, "region": REGION,
            "results": [{"Body": json.dumps({"predictions": [1.0]}), "ContentType": "application/json",
                         "InvokedProductionVariant": "blue"}]}, timeout=10).raise_for_status()
        runtime = boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=moto.url)
        answer = runtime.invoke_endpoint(EndpointName="eta-staging", Body=b'{"instances": [{}]}',
                                         ContentType="application/json")
        headers = answer["ResponseMetadata"]["HTTPHeaders"]  # the raw response headers, as locust sees them
        rule = adapter.served_by("eta-staging")
        assert rule.deployment(headers.get, dict) == "blue" and not rule.body_field, headers

    def test_an_endpoint_that_fails_to_start_is_reported_and_removed(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        version = registered(adapter, moto)
        FAILING_ENDPOINTS["eta-staging"] = "The primary container for production variant blue did not pass the ping"
        with pytest.raises(AdapterError, match="did not pass the ping") as info:
            adapter.deploy_to_endpoint("eta-staging", version, "blue")
        assert "/ping" in str(info.value)
        assert "eta-staging" not in moto.backend.endpoints
        assert moto.backend.endpoint_configs == {} and moto.backend._models == {}

    def test_delete_removes_everything_the_run_created(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        version = registered(adapter, moto)
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
        adapter.deploy_to_endpoint("eta-staging", version, "green")
        adapter.delete_endpoint("eta-staging")
        backend = moto.backend
        assert backend.endpoints == {} and backend.endpoint_configs == {} and backend._models == {}

    def test_removing_a_deployment_swaps_the_config_and_deletes_its_model(
        self, adapter: SageMakerAdapter, moto: MotoHarness
    ) -> None:
        version = registered(adapter, moto)
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
        adapter.deploy_to_endpoint("eta-staging", version, "green")
        adapter.set_traffic("eta-staging", {"blue": 0, "green": 100})
        assert adapter.delete_deployment("eta-staging", "blue").traffic == {"green": 100}
        backend = moto.backend
        (config,) = backend.endpoint_configs.values()
        assert [v["VariantName"] for v in config.production_variants] == ["green"]
        assert list(backend._models) == [config.production_variants[0]["ModelName"]]
        with pytest.raises(ValueError, match="only deployment"):
            adapter.delete_deployment("eta-staging", "green")

    def test_mirroring_is_refused_with_the_alternative(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        version = registered(adapter, moto)
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
        with pytest.raises(UnsupportedError, match="cannot mirror traffic; the shadow test sends the same rows"):
            adapter.set_traffic("eta-staging", {"blue": 100}, mirror={"blue": 10})

    def test_endpoints_that_mlgates_deployed_are_listed(self, adapter: SageMakerAdapter, moto: MotoHarness) -> None:
        version = registered(adapter, moto)
        assert adapter.list_endpoints() == []
        adapter.deploy_to_endpoint("eta-staging", version, "blue")
        other = moto.session.client("sagemaker", endpoint_url=moto.url, region_name=REGION)
        other.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img"})
        other.create_endpoint_config(EndpointConfigName="not-ours", ProductionVariants=[{
            "VariantName": "x", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
        other.create_endpoint(EndpointName="not-ours", EndpointConfigName="not-ours")
        (listed,) = adapter.list_endpoints()
        assert listed.name == "eta-staging" and listed.traffic == {"blue": 100}
