"""The promotion gate's rollout on Vertex AI, end to end against the Vertex REST fake.

`ML_PLATFORM=vertex pytest -m promotion_gate` as a user runs it: the bake load
is locust posting to the adapter's ``http_target`` (the REST ``:predict`` method
with a bearer token), and each answer is attributed by the adapter's
``served_by`` rule: Vertex names the deployed model only in the body
(``deployedModelId``), which the adapter maps to our deployment name. The fake
records what went over the wire both ways; the tests compare the rollout's
per-deployment figures with it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Loaded before the in-process pytester runs, which drop what a run imported: aiplatform's protos (and
# numpy's extensions) cannot be loaded twice in one process.
import pandas  # noqa: F401
import pytest
import scipy.stats  # noqa: F401
from fakes.vertex_api import TOKEN, RpcError
from vertex_harness import VertexHarness, training_spec
from vertex_harness import gcp_env, gcs_emulator, vertex, vertex_fake  # noqa: F401

from pytest_mlgates.adapters.vertex import VertexAdapter  # noqa: F401
from pytest_mlgates.release.ledger import record_stage, stage_outcome
from pytest_mlgates.release.rollout import JOURNAL
from rollout_projects import COMMIT, USERS, write_rollout_project



@pytest.fixture
def user_project(pytester: pytest.Pytester, vertex: VertexHarness, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """A user project on Vertex: version 1 is the champion; the rollout settings are short."""
    root = write_rollout_project(pytester, monkeypatch, "vertex", vertex.table())
    champion = gated(vertex, root, None)
    vertex.adapter(root).promote("eta", champion, None, tags={})
    return root


def gated(vertex: VertexHarness, root: Path, champion: str | None) -> str:  # noqa: F811
    """A trained and registered version whose ledger holds the earlier stages, passed against ``champion``
    (what `pytest -m champion_gate`, then `-m "shadow_gate or load_gate"` record; test_vertex.py runs those)."""
    adapter = vertex.adapter(root)
    job = adapter.submit_training_job(training_spec(data="data.csv", commit=COMMIT))
    vertex.finish(job.name, {"val_mae": 10.0})
    model = adapter.register_model("eta", job.name, adapter.job_metrics(job.name))
    record_stage(adapter, model, "champion_gate", True, COMMIT[:7], champion or "none")
    record_stage(adapter, model, "load_gate", True, COMMIT[:7])
    return model.version


def promote_run(pytester: pytest.Pytester, version: str) -> pytest.RunResult:
    return pytester.runpytest("-m", "promotion_gate", "-p", "no:randomly", "-s", "--mlgates-model-version", version)


def deployed_ids(vertex: VertexHarness) -> dict[str, str]:  # noqa: F811
    """Our deployment name -> Vertex's deployed-model id, from every deployModel and its answer (an operation
    the fake completes at once)."""
    return {call.body["deployedModel"]["displayName"]: call.answer["response"]["deployedModel"]["id"]
            for call in vertex.fake.requests("POST", r"^endpoints/eta-prod:deployModel$")}


def splits(vertex: VertexHarness, since: int) -> list[dict[str, int]]:  # noqa: F811
    """The traffic splits sent by endpoint updates since call number ``since``, as the wire carried them."""
    return [{k: int(v) for k, v in c.body["trafficSplit"].items()} for c in vertex.fake.calls[since:]
            if c.method == "PATCH" and c.path == "endpoints/eta-prod"]


def predicts(vertex: VertexHarness, since: int) -> list[Any]:  # noqa: F811
    return [c for c in vertex.fake.calls[since:] if c.method == "POST" and c.path == "endpoints/eta-prod:predict"]


def figures(result: pytest.RunResult) -> list[dict[str, Any]]:
    line = next(x for x in result.outlines if "STEPS [" in x)
    return json.loads(line[line.index("STEPS ") + len("STEPS "):])


def test_a_good_candidate_is_promoted_through_10_50_100_on_vertex(
    pytester: pytest.Pytester, vertex: VertexHarness, user_project: Path  # noqa: F811
) -> None:
    candidate = gated(vertex, user_project, "1")
    since = len(vertex.fake.calls)
    result = promote_run(pytester, candidate)
    result.assert_outcomes(passed=1)
    ids = deployed_ids(vertex)
    champ, cand = ids["v1"], ids[f"v{candidate}"]
    # the champion was deployed alone, the candidate beside it at 0%, then the three steps, on the wire
    assert splits(vertex, since) == [{champ: 90, cand: 10}, {champ: 50, cand: 50}, {champ: 0, cand: 100}]
    undeploys = [c.body["deployedModelId"] for c in vertex.fake.requests("POST", r"^endpoints/eta-prod:undeployModel$")]
    assert undeploys == [champ]  # the old champion went once it had no traffic
    adapter = vertex.adapter(user_project)
    assert adapter.get_endpoint("eta-prod").traffic == {f"v{candidate}": 100}
    assert adapter.get_champion("eta").version == candidate
    assert stage_outcome(adapter.get_model_version("eta", candidate), "promotion_gate") == "passed"

    calls = predicts(vertex, since)
    assert calls and all(c.headers["authorization"] == f"Bearer {TOKEN}" for c in calls)  # http_target's door
    assert all(c.status == 200 and c.answer["deployedModelId"] in (champ, cand) for c in calls)
    served = {dm: sum(c.answer["deployedModelId"] == dm for c in calls) for dm in (champ, cand)}
    steps = figures(result)
    assert [s["percent"] for s in steps] == [10, 50, 100]
    # the rollout's per-deployment figures are the answers' deployedModelId, mapped to our names: every
    # request it counted went over the wire, and at most the requests in flight when a round stopped are not
    counted = {cand: sum(s["candidate"]["requests"] for s in steps),
               champ: sum((s["champion"] or {"requests": 0})["requests"] for s in steps)}
    for dm in (champ, cand):
        assert served[dm] - USERS * len(steps) <= counted[dm] <= served[dm], (dm, served, counted)
    ten, fifty, full = steps
    assert 0 < ten["candidate"]["requests"] < ten["champion"]["requests"]  # 10% of the traffic
    assert fifty["candidate"]["requests"] > 0 and fifty["champion"]["requests"] > 0
    assert (full["champion"] or {"requests": 0})["requests"] == 0 and full["candidate"]["failures"] == 0


def test_a_candidate_failing_at_10_percent_is_rolled_back_to_the_champion_on_vertex(
    pytester: pytest.Pytester, vertex: VertexHarness, user_project: Path  # noqa: F811
) -> None:
    candidate = gated(vertex, user_project, "1")
    good = vertex.fake.predictor

    def model_server(version: dict[str, Any], rows: list[Any]) -> list[Any]:
        if version["versionId"] == candidate:  # the candidate's container crashes on every request
            raise RpcError("INTERNAL", "Prediction failed: the model server exited")
        return good(version, rows)

    vertex.fake.predictor = model_server
    since = len(vertex.fake.calls)
    result = promote_run(pytester, candidate)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"rollout of eta:{candidate} FAILED at the 10% step and was rolled back to eta:1" in out, out
    # the errors named no deployment, so they counted against the candidate: all of its requests failed
    assert re.search(r"10%: candidate (\d+) req, 100\.00% errors", out), out
    ids = deployed_ids(vertex)
    champ, cand = ids["v1"], ids[f"v{candidate}"]
    assert splits(vertex, since) == [{champ: 90, cand: 10}, {champ: 100, cand: 0}]  # back at once, never to 50%
    undeploys = [c.body["deployedModelId"] for c in vertex.fake.requests("POST", r"^endpoints/eta-prod:undeployModel$")]
    assert undeploys == [cand]
    adapter = vertex.adapter(user_project)
    assert adapter.get_endpoint("eta-prod").traffic == {"v1": 100}
    assert adapter.get_champion("eta").version == "1"
    entry = adapter.get_model_version("eta", candidate)
    assert stage_outcome(entry, "promotion_gate") == "failed"
    assert entry.tags[JOURNAL + "state"] == "rolled_back" and entry.tags[JOURNAL + "step"] == "10"
    calls = predicts(vertex, since)
    failed = [c for c in calls if c.status == 500]
    assert failed and all("deployedModelId" not in c.answer for c in failed)  # an error names nobody
    assert all(c.answer["deployedModelId"] == champ for c in calls if c.status == 200)
