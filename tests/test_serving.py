"""The model server's HTTP contract, over real HTTP to a real server process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pytest_mlgates.contract import digest_dir
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model

ROOT = Path(__file__).resolve().parents[1]


def _start(args: list[str], folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    ready = folder / f"ready-{len(list(folder.glob('ready-*')))}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "pytest_mlgates.serving", *args, "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, ready


def _wait_ready(proc: subprocess.Popen[bytes], ready: Path) -> str:
    deadline = time.monotonic() + 60
    while not ready.is_file():
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stdout.read().decode()}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "server did not start within 60 s"
        time.sleep(0.05)
    return json.loads(ready.read_text())["url"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_demo_model(tmp_path_factory.mktemp("model") / "m", seed=1)


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("server")
    proc, ready = _start(["model", "--model-dir", str(model_dir), "--sha256", digest_dir(model_dir),
                          "--model-id", "eta:1", "--max-body-bytes", "6000", "--max-instances", "50",
                          "--seed", "0"], folder)
    try:
        yield _wait_ready(proc, ready)
    finally:
        _stop(proc)


def _rows(n: int = 5, seed: int = 7) -> list[dict]:
    return json.loads(demo_rows(n, seed).drop(columns=[TARGET]).to_json(orient="records"))


def _post(url: str, body: object, **kw: object) -> requests.Response:
    return requests.post(url + "/invocations", json=body, timeout=10, **kw)  # type: ignore[arg-type]


def test_ping_names_the_verified_model(server: str, model_dir: Path) -> None:
    answer = requests.get(server + "/ping", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "healthy", "model": "eta:1", "sha256": digest_dir(model_dir)}


def test_predictions_match_the_model_one_per_row_in_order(server: str, model_dir: Path) -> None:
    import joblib

    frame = demo_rows(40, seed=3).drop(columns=[TARGET])
    expected = joblib.load(model_dir / "model.joblib").predict(frame)
    answer = _post(server, {"instances": json.loads(frame.to_json(orient="records"))})
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    assert len(got) == 40
    assert got == pytest.approx(list(expected), rel=1e-9)


def test_schema_is_inferred_from_the_fitted_pipeline(server: str) -> None:
    info = requests.get(server + "/mlgates/info", timeout=10).json()
    assert info["schema"] == {"distance_km": "number", "items": "number", "hour": "number", "zone": "string"}


@pytest.mark.parametrize(
    ("raw", "status", "code", "words"),
    [
        (b'{"instances": [', 400, "BadRequest", "not valid JSON"),
        (b'[1, 2]', 400, "BadRequest", '{"instances"'),
        (b'{"rows": []}', 400, "BadRequest", '{"instances"'),
        (b'{"instances": []}', 400, "BadRequest", "non-empty list"),
        (b'{"instances": [[1, 2, 3, "x"]]}', 400, "BadRequest", "instance 0 is a list"),
    ],
)
def test_malformed_bodies_are_400_with_a_json_error(server: str, raw: bytes, status: int, code: str,
                                                    words: str) -> None:
    answer = requests.post(server + "/invocations", data=raw, headers={"content-type": "application/json"},
                           timeout=10)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == code
    assert words in error["message"]


def test_wrong_feature_names_are_422_naming_them(server: str) -> None:
    row = _rows(1)[0]
    del row["hour"]
    row["colour"] = "red"
    answer = _post(server, {"instances": [_rows(1)[0], row]})
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert "instance 1" in message and "missing feature(s) hour" in message and "unknown feature(s) colour" in message
    assert "distance_km, items, hour, zone" in message


@pytest.mark.parametrize(("feature", "value", "kind"), [("distance_km", "far", "number"), ("zone", 3, "string"),
                                                         ("items", True, "number"), ("hour", [1], "number")])
def test_wrong_feature_types_are_422(server: str, feature: str, value: object, kind: str) -> None:
    row = {**_rows(1)[0], feature: value}
    answer = _post(server, {"instances": [row]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "InvalidFeatureType"
    assert f"feature {feature!r} must be a {kind}" in error["message"]


def test_oversize_payloads_are_413(server: str) -> None:
    padded = json.dumps({"instances": _rows(3)}) + " " * 7000
    too_big = requests.post(server + "/invocations", data=padded, headers={"content-type": "application/json"},
                            timeout=10)
    assert too_big.status_code == 413
    assert "6000-byte limit" in too_big.json()["error"]["message"]
    too_many = _post(server, {"instances": _rows(51)})
    assert too_many.status_code == 413
    assert "at most 50" in too_many.json()["error"]["message"]
    assert _post(server, {"instances": _rows(50)}).status_code == 200


def test_chunked_oversize_body_is_413(server: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ['
        for _ in range(400):
            yield json.dumps(_rows(1)[0]).encode() + b","
        yield b"{}]}"

    answer = requests.post(server + "/invocations", data=chunks(), headers={"content-type": "application/json"},
                           timeout=10)
    assert answer.status_code == 413


def test_wrong_content_type_route_and_method_are_json_4xx(server: str) -> None:
    csv = requests.post(server + "/invocations", data=b"1,2,3", headers={"content-type": "text/csv"}, timeout=10)
    assert csv.status_code == 415 and "application/json" in csv.json()["error"]["message"]
    missing = requests.get(server + "/predict", timeout=10)
    assert missing.status_code == 404 and "POST /invocations" in missing.json()["error"]["message"]
    wrong = requests.get(server + "/invocations", timeout=10)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "MethodNotAllowed"


def test_null_feature_reaches_the_model_and_its_refusal_is_4xx(server: str) -> None:
    row = {**_rows(1)[0], "distance_km": None}
    answer = _post(server, {"instances": [row]})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "ModelRejectedInput"


def test_faults_change_live_and_are_reported_as_5xx(server: str) -> None:
    body = {"instances": _rows(1)}
    try:
        changed = requests.post(server + "/mlgates/faults", json={"error_rate": 1.0}, timeout=10)
        assert changed.json()["error_rate"] == 1.0
        failing = _post(server, body)
        assert failing.status_code == 500
        assert failing.json()["error"]["code"] == "InjectedFault"
        bad = requests.post(server + "/mlgates/faults", json={"error_rate": 2}, timeout=10)
        assert bad.status_code == 400 and "within [0, 1]" in bad.json()["error"]["message"]
        unknown = requests.post(server + "/mlgates/faults", json={"speed": 1}, timeout=10)
        assert unknown.status_code == 400 and "unknown fault" in unknown.json()["error"]["message"]
    finally:
        requests.post(server + "/mlgates/faults", json={"error_rate": 0.0, "latency_ms": 0.0}, timeout=10)
    assert _post(server, body).status_code == 200


def test_server_side_latencies_are_recorded_per_request(server: str) -> None:
    requests.get(server + "/mlgates/latencies?reset=1", timeout=10)
    for _ in range(7):
        _post(server, {"instances": _rows(2)})
    _post(server, {"instances": []})
    recorded = requests.get(server + "/mlgates/latencies", timeout=10).json()["latencies"]
    assert [status for _, _, status in recorded] == [200] * 7 + [400]
    assert all(ms > 0 for _, ms, _ in recorded)


def test_classifier_labels_come_back_as_strings(tmp_path: Path) -> None:
    folder = train_demo_model(tmp_path / "clf", task="classification")
    proc, ready = _start(["model", "--model-dir", str(folder)], tmp_path)
    try:
        url = _wait_ready(proc, ready)
        answer = _post(url, {"instances": _rows(6)})
        assert answer.status_code == 200
        assert set(answer.json()["predictions"]) <= {"late", "on_time"}
    finally:
        _stop(proc)


def test_refuses_to_serve_an_artifact_whose_digest_changed(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    registered = digest_dir(copy)
    (copy / "metrics.json").write_text('{"val_mae": 0.0}')
    proc, ready = _start(["model", "--model-dir", str(copy), "--sha256", registered], tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert not ready.exists()
    assert "was registered" in out.decode() and registered in out.decode()


def test_env_fault_defaults_and_exit_when_the_watched_process_is_gone(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATES_SERVING_ERROR_RATE", "1")
    monkeypatch.setenv("MLGATES_SERVING_LATENCY_MS", "5")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    proc, ready = _start(["model", "--model-dir", str(model_dir), "--watch-pid", str(sleeper.pid)], tmp_path)
    try:
        url = _wait_ready(proc, ready)
        assert requests.get(url + "/mlgates/faults", timeout=10).json() == {
            "latency_ms": 5.0, "latency_fraction": 1.0, "error_rate": 1.0}
        assert _post(url, {"instances": _rows(1)}).status_code == 500
        sleeper.kill()
        sleeper.wait()
        assert proc.wait(timeout=30) is not None  # bounded wait for the exit, not a speed claim
    finally:
        sleeper.kill()
        _stop(proc)
