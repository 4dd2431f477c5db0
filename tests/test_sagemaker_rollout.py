"""The promotion gate's rollout on SageMaker, end to end against moto with a SigV4-checking runtime.

`ML_PLATFORM=sagemaker pytest -m promotion_gate` as a user runs it (a child pytest), through
boto3 against moto's server (test_sagemaker.py's harness). The bake load is
locust posting to the adapter's ``http_target`` (runtime's
``/endpoints/<name>/invocations``), each request signed by the adapter's
``request_signer`` (botocore's SigV4Auth, in the locust process). In front of
moto, ``fakes.sagemaker_runtime.RuntimeFake`` plays runtime.sagemaker: it
recomputes every signature from the test's secret and answers 403 to any that
is wrong, routes each request by the endpoint's live variant weights on moto's
backend, and names the variant in ``X-Amzn-Invoked-Production-Variant``,
which the adapter's ``served_by`` rule reads. The tests compare the wire with
the rollout's per-deployment figures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.sagemaker_runtime import RuntimeFake

from pytest_mlgates.release.ledger import record_stage, stage_outcome
from pytest_mlgates.release.rollout import JOURNAL
from rollout_projects import COMMIT, ENDPOINT, USERS, write_rollout_project
from test_sagemaker import REGION, SECRET, MotoHarness, aws_env, completed_job, make_adapter, moto  # noqa: F401
from test_sagemaker import sagemaker_table

pytest_plugins = ["pytester"]
KEY_ID = "AKIATESTINGDUMMY0000"  # aws_env's access key; SECRET is its secret


@pytest.fixture
def runtime(moto: MotoHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[RuntimeFake]:  # noqa: F811
    """runtime.sagemaker in front of moto (whose own invoke_endpoint ignores variants and signatures).

    Set up before ``pytester``, which drops at its teardown every module imported after it started: moto's
    server (and its SageMaker app, made on the first call) must be loaded before, or the next test's moto
    sees two copies of werkzeug's classes."""
    moto.client("sagemaker").list_endpoints()

    def weights(name: str) -> dict[str, float]:
        endpoint = moto.backend.endpoints.get(name)
        variants = endpoint.production_variants if endpoint is not None else []
        return {v["VariantName"]: float(v.get("CurrentWeight") or 0.0) for v in variants}

    fake = RuntimeFake(moto.recorder.app, {KEY_ID: SECRET}, REGION, weights)
    monkeypatch.setattr(moto.recorder, "app", fake)
    yield fake


@pytest.fixture
def user_project(moto: MotoHarness, runtime: RuntimeFake, pytester: pytest.Pytester,  # noqa: F811
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user project on SageMaker: version 1 is the champion; the rollout settings are short."""
    root = write_rollout_project(pytester, monkeypatch, "sagemaker", sagemaker_table(moto))
    champion = gated(moto, root, None)
    adapter = make_adapter(moto, root)
    adapter.promote("eta", champion, None, tags={})
    adapter.close()
    return root


def gated(moto: MotoHarness, root: Path, champion: str | None) -> str:  # noqa: F811
    """A trained and registered version whose ledger holds the earlier stages, passed against ``champion``."""
    adapter = make_adapter(moto, root)
    try:
        job = completed_job(adapter, moto)
        model = adapter.register_model("eta", job, adapter.job_metrics(job))
        record_stage(adapter, model, "champion_gate", True, COMMIT[:7], champion or "none")
        record_stage(adapter, model, "load_gate", True, COMMIT[:7])
        return model.version
    finally:
        adapter.close()


def promote_run(pytester: pytest.Pytester, version: str) -> pytest.RunResult:
    """A child pytest, as CI runs it (an in-process run would drop the modules moto's server loads meanwhile);
    it reaches moto and the runtime fake over HTTP with aws_env's credentials."""
    return pytester.runpytest_subprocess("-m", "promotion_gate", "-p", "no:randomly", "-s", "--mlgates-model-version", version)


def weight_updates(moto: MotoHarness, since: int) -> list[dict[str, float]]:  # noqa: F811
    """The variant weights each UpdateEndpointWeightsAndCapacities asked for since call ``since``, as sent."""
    calls = [c for c in moto.recorder.calls[since:] if c.action == "UpdateEndpointWeightsAndCapacities"]
    return [{v["VariantName"]: float(v["DesiredWeight"]) for v in c.json()["DesiredWeightsAndCapacities"]}
            for c in calls]


def figures(result: pytest.RunResult) -> list[dict[str, Any]]:
    line = next(x for x in result.outlines if "STEPS [" in x)
    return json.loads(line[line.index("STEPS ") + len("STEPS "):])


def test_a_good_candidate_is_promoted_through_10_50_100_on_sagemaker_under_signed_load(
    moto: MotoHarness, runtime: RuntimeFake, pytester: pytest.Pytester, user_project: Path  # noqa: F811
) -> None:
    candidate = gated(moto, user_project, "1")
    since, seen = len(moto.recorder.calls), len(runtime.invocations())
    result = promote_run(pytester, candidate)
    result.assert_outcomes(passed=1)
    assert SECRET not in result.stdout.str() + result.stderr.str()
    adapter = make_adapter(moto, user_project)
    assert adapter.get_endpoint(ENDPOINT).traffic == {f"v{candidate}": 100}
    assert adapter.get_champion("eta").version == candidate
    assert stage_outcome(adapter.get_model_version("eta", candidate), "promotion_gate") == "passed"
    shares = [{k: round(100 * v / sum(u.values())) for k, v in u.items() if v} for u in weight_updates(moto, since)]
    assert {"v1": 90, f"v{candidate}": 10} in shares and {"v1": 50, f"v{candidate}": 50} in shares

    calls = runtime.invocations(seen)
    load = [c for c in calls if c.headers.get("user-agent", "").startswith("python/gevent-http-client")]
    assert load, "no bake load reached runtime"
    # every bake request went through the signing target and passed the signature check
    assert all(c.status == 200 and c.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
               for c in load), {c.refusal for c in load}
    served = {v: sum(c.variant == v for c in load) for v in ("v1", f"v{candidate}")}
    steps = figures(result)
    assert [s["percent"] for s in steps] == [10, 50, 100]
    # the rollout's per-deployment figures are the X-Amzn-Invoked-Production-Variant of the answers: every
    # request it counted went over the wire, and at most the requests in flight when a round stopped are not
    counted = {f"v{candidate}": sum(s["candidate"]["requests"] for s in steps),
               "v1": sum((s["champion"] or {"requests": 0})["requests"] for s in steps)}
    for variant, n in served.items():
        assert n - USERS * len(steps) <= counted[variant] <= n, (variant, served, counted)
    ten, fifty, full = steps
    assert 0 < ten["candidate"]["requests"] < ten["champion"]["requests"]  # 10% of the traffic
    assert fifty["candidate"]["requests"] > 0 and fifty["champion"]["requests"] > 0
    assert (full["champion"] or {"requests": 0})["requests"] == 0 and full["candidate"]["failures"] == 0


def test_a_candidate_failing_at_10_percent_is_rolled_back_to_the_champion_on_sagemaker(
    moto: MotoHarness, runtime: RuntimeFake, pytester: pytest.Pytester, user_project: Path  # noqa: F811
) -> None:
    candidate = gated(moto, user_project, "1")
    good = runtime.predictor

    def model_server(variant: str, rows: list[Any]) -> list[Any]:
        if variant == f"v{candidate}":  # the candidate's container fails every request
            raise RuntimeError("the model server exited")
        return good(variant, rows)

    runtime.predictor = model_server
    seen = len(runtime.invocations())
    result = promote_run(pytester, candidate)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"rollout of eta:{candidate} FAILED at the 10% step and was rolled back to eta:1" in out, out
    # the errors named no variant, so they counted against the candidate: all of its requests failed
    assert re.search(r"10%: candidate (\d+) req, 100\.00% errors", out), out
    adapter = make_adapter(moto, user_project)
    assert adapter.get_endpoint(ENDPOINT).traffic == {"v1": 100}
    assert adapter.get_champion("eta").version == "1"
    entry = adapter.get_model_version("eta", candidate)
    assert stage_outcome(entry, "promotion_gate") == "failed"
    assert entry.tags[JOURNAL + "state"] == "rolled_back" and entry.tags[JOURNAL + "step"] == "10"
    load = [c for c in runtime.invocations(seen) if c.headers.get("user-agent", "").startswith("python/gevent")]
    assert [c for c in load if c.status == 424] and all(not c.refusal.startswith("Invalid") for c in load)
    assert all(c.variant == "v1" for c in load if c.status == 200)


def test_bake_load_that_sagemaker_refuses_fails_closed_and_rolls_back(
    moto: MotoHarness, runtime: RuntimeFake, pytester: pytest.Pytester, user_project: Path,  # noqa: F811
) -> None:
    """If the load reached runtime with a signature SageMaker refuses, the rollout fails closed: the 403s
    name no variant and count against the candidate, which is rolled back (nothing promoted unverified)."""
    candidate = gated(moto, user_project, "1")
    runtime.keys = {KEY_ID: "not-the-" + SECRET}  # runtime now knows another secret for the key: every signature fails
    seen = len(runtime.invocations())
    result = promote_run(pytester, candidate)
    result.assert_outcomes(failed=1)
    assert "rolled back to eta:1" in result.stdout.str()
    load = [c for c in runtime.invocations(seen) if c.headers.get("user-agent", "").startswith("python/gevent")]
    assert load and {c.status for c in load} == {403}
    adapter = make_adapter(moto, user_project)
    assert adapter.get_champion("eta").version == "1" and adapter.get_endpoint(ENDPOINT).traffic == {"v1": 100}
