"""The promotion gate's rollout on Azure ML, end to end against the ARM fake.

`ML_PLATFORM=azureml pytest -m promotion_gate` as a user runs it (a child
pytest: the SDK's C extensions cannot be loaded twice in one process): the bake
load is locust posting to the adapter's ``http_target`` (the scoring URI with
the endpoint key), the fake routes each request by the live split at random by
weight, as Azure does, and names the deployment that answered in the
``azureml-model-deployment`` response header under Azure's name, which the
adapter's ``served_by`` rule maps back to ours ("v1" is too short for Azure and
is deployed as a shortened name). The tests compare the wire with the
rollout's per-deployment figures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml", reason="the azureml extra is part of the dev install (make install)")

from fakes.azureml_harness import AzureEnvironment, environment, shutdown  # noqa: E402
from pytest_mlgates.adapters.azureml import AzureMLAdapter, azure_name  # noqa: E402
from pytest_mlgates.config import Settings  # noqa: E402
from pytest_mlgates.records import TrainingSpec  # noqa: E402
from pytest_mlgates.release.ledger import record_stage, stage_outcome  # noqa: E402
from pytest_mlgates.release.rollout import JOURNAL  # noqa: E402
from rollout_projects import COMMIT, ENDPOINT, USERS, write_rollout_project  # noqa: E402

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def azure_env() -> Iterator[AzureEnvironment]:
    yield environment()
    shutdown()


def make_adapter(env: AzureEnvironment, root: Path) -> AzureMLAdapter:
    return AzureMLAdapter(Settings(platform="azureml", model_name="eta", root=str(root),
                                   platforms={"azureml": env.table()}))


def gated(env: AzureEnvironment, root: Path, champion: str | None) -> str:
    """A trained and registered version whose ledger holds the earlier stages, passed against ``champion``
    (what `pytest -m champion_gate`, then `-m "shadow_gate or load_gate"` record; test_azureml.py runs those)."""
    adapter = make_adapter(env, root)
    try:
        job = adapter.submit_training_job(TrainingSpec(
            model_name="eta", entry_point="src/train.py", data="data.csv", hyperparameters={}, commit=COMMIT,
            timeout_seconds=900))
        env.finish(job.name, {"val_mae": 10.0}, {"model.joblib": f"model {job.name}".encode()})
        done = adapter.wait_for_job(job.name, timeout=30, poll_interval=0.01)
        assert done.metrics is not None
        model = adapter.register_model("eta", job.name, done.metrics)
        record_stage(adapter, model, "champion_gate", True, COMMIT[:7], champion or "none")
        record_stage(adapter, model, "load_gate", True, COMMIT[:7])
        return model.version
    finally:
        adapter.close()


@pytest.fixture
def user_project(pytester: pytest.Pytester, azure_env: AzureEnvironment, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user project on Azure ML: version 1 is the champion; the rollout settings are short."""
    azure_env.reset()
    root = write_rollout_project(pytester, monkeypatch, "azureml", azure_env.table())
    champion = gated(azure_env, root, None)
    adapter = make_adapter(azure_env, root)
    try:
        adapter.promote("eta", champion, None)
    finally:
        adapter.close()
    return root


def promote_run(pytester: pytest.Pytester, version: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-m", "promotion_gate", "-p", "no:randomly", "-p", "no:cacheprovider",
                                         "-s", "--mlgates-model-version", version)


def splits(env: AzureEnvironment, since: int) -> list[dict[str, int]]:
    """The live traffic the endpoint was given by each PUT/PATCH since call number ``since``, as the wire carried
    it (Azure's deployment names; a deployment left out takes 0%)."""
    return [{k: int(v) for k, v in ((c.body or {}).get("properties") or {}).get("traffic", {}).items()}
            for c in env.arm.calls[since:] if c.method in ("PUT", "PATCH")
            and c.path.lower().endswith(f"/onlineendpoints/{ENDPOINT}") and "traffic" in (c.body or {}).get(
                "properties", {})]


def scores(env: AzureEnvironment, since_scores: int) -> list[dict[str, Any]]:
    return [s for s in env.arm.scores[since_scores:] if s["endpoint"] == ENDPOINT]


def figures(result: pytest.RunResult) -> list[dict[str, Any]]:
    line = next(x for x in result.outlines if "STEPS [" in x)
    return json.loads(line[line.index("STEPS ") + len("STEPS "):])


def test_a_good_candidate_is_promoted_through_10_50_100_on_azure_ml(
    pytester: pytest.Pytester, azure_env: AzureEnvironment, user_project: Path
) -> None:
    candidate = gated(azure_env, user_project, "1")
    since, since_scores = len(azure_env.arm.calls), len(azure_env.arm.scores)
    result = promote_run(pytester, candidate)
    result.assert_outcomes(passed=1)
    champ, cand = azure_name("v1"), azure_name(f"v{candidate}")
    assert champ != "v1"  # too short for Azure: the header names the shortened deployment
    # the champion deployed alone at 100%, then the three steps, on the wire
    assert splits(azure_env, since)[-3:] == [{champ: 90, cand: 10}, {champ: 50, cand: 50}, {cand: 100}]
    assert {champ: 100} in splits(azure_env, since)[:-3]
    deleted = [c.path.rsplit("/", 1)[-1].lower() for c in azure_env.arm.calls[since:]
               if c.method == "DELETE" and "/deployments/" in c.path.lower()]
    assert deleted == [champ]  # the old champion went once it had no traffic
    adapter = make_adapter(azure_env, user_project)
    try:
        assert adapter.get_endpoint(ENDPOINT).traffic == {f"v{candidate}": 100}
        assert adapter.get_champion("eta").version == candidate
        assert stage_outcome(adapter.get_model_version("eta", candidate), "promotion_gate") == "passed"
    finally:
        adapter.close()

    served_calls = scores(azure_env, since_scores)
    assert served_calls and all(s["status"] == 200 and s["deployment"] in (champ, cand) for s in served_calls)
    served = {ours: sum(s["deployment"] == dep for s in served_calls) for ours, dep in (("champ", champ),
                                                                                       ("cand", cand))}
    steps = figures(result)
    assert [s["percent"] for s in steps] == [10, 50, 100]
    # the rollout's per-deployment figures are the answers' header, mapped to our names: every request it
    # counted went over the wire, and at most the requests in flight when a round stopped are not
    counted = {"cand": sum(s["candidate"]["requests"] for s in steps),
               "champ": sum((s["champion"] or {"requests": 0})["requests"] for s in steps)}
    for who in ("champ", "cand"):
        assert served[who] - USERS * len(steps) <= counted[who] <= served[who], (who, served, counted)
    ten, fifty, full = steps
    assert 0 < ten["candidate"]["requests"] < ten["champion"]["requests"]  # 10% of the traffic, drawn at random
    assert fifty["candidate"]["requests"] > 0 and fifty["champion"]["requests"] > 0
    assert (full["champion"] or {"requests": 0})["requests"] == 0 and full["candidate"]["failures"] == 0


def test_a_candidate_failing_at_10_percent_is_rolled_back_to_the_champion_on_azure_ml(
    pytester: pytest.Pytester, azure_env: AzureEnvironment, user_project: Path
) -> None:
    candidate = gated(azure_env, user_project, "1")
    champ, cand = azure_name("v1"), azure_name(f"v{candidate}")
    azure_env.arm.failing_deployments[cand] = "the scoring script raised: model server exited"
    since, since_scores = len(azure_env.arm.calls), len(azure_env.arm.scores)
    result = promote_run(pytester, candidate)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"rollout of eta:{candidate} FAILED at the 10% step and was rolled back to eta:1" in out, out
    # Azure names the failing deployment in the header of its 500s: they count against the candidate only
    assert re.search(r"10%: candidate (\d+) req, 100\.00% errors", out), out
    assert splits(azure_env, since)[-2:] == [{champ: 90, cand: 10}, {champ: 100}]  # back at once, never 50%
    deleted = [c.path.rsplit("/", 1)[-1].lower() for c in azure_env.arm.calls[since:]
               if c.method == "DELETE" and "/deployments/" in c.path.lower()]
    assert deleted == [cand]
    adapter = make_adapter(azure_env, user_project)
    try:
        assert adapter.get_endpoint(ENDPOINT).traffic == {"v1": 100}
        assert adapter.get_champion("eta").version == "1"
        entry = adapter.get_model_version("eta", candidate)
        assert stage_outcome(entry, "promotion_gate") == "failed"
        assert entry.tags[JOURNAL + "state"] == "rolled_back" and entry.tags[JOURNAL + "step"] == "10"
    finally:
        adapter.close()
    served_calls = scores(azure_env, since_scores)
    failed = [s for s in served_calls if s["status"] == 500]
    assert failed and all(s["deployment"] == cand for s in failed)
    assert all(s["deployment"] == champ for s in served_calls if s["status"] == 200)
