"""Stage 4 reliability: the progressive rollout against real local endpoints, real locust load and SQLite.

Every rollout here deploys real model-server and router processes on
127.0.0.1 (detached, as production ones are), drives real locust load through
the router at each step and journals on a real SQLite registry. Faults are
injected into the candidate's live server (``set_faults``) or its deploy
options; processes are killed for real. After each test every endpoint is
deleted and no process of its state folder may be left.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_mlgates.records import ConflictError, DeployOptions, Faults, ModelVersion
from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import RolloutSettings, Settings, TrainingSettings
from pytest_mlgates.fixtures.production import locust_driver
from pytest_mlgates.release.ledger import record_stage, stage_outcome
from pytest_mlgates.loadtest.runner import bodies_from_rows, run_load
from pytest_mlgates.release.promotion import PromotionRefused, promote_version, required_stages
from pytest_mlgates.release.rollout import JOURNAL, Rollout, StepLoad, repair_interrupted
from pytest_mlgates.serving.demo import TARGET, demo_rows, train_demo_model
from conftest import processes_mentioning, process_running as alive

ROOT = Path(__file__).resolve().parents[1]
ENDPOINT = "eta-prod"
BODIES = bodies_from_rows(demo_rows(120, seed=5).drop(columns=[TARGET]))
FAST = {"steps": [10, 50, 100], "bake_seconds": 1.5, "users": 3, "p99_ms": 1000.0, "max_error_rate": 0.01,
        "endpoint": ENDPOINT}
PYPROJECT = f"""
[tool.mlgates]
model_name = "eta"

[tool.mlgates.training]
data = "rows.csv"
target = "{TARGET}"

[tool.mlgates.rollout]
steps = [10, 50, 100]
bake_seconds = 1.5
users = 3
p99_ms = 1000
endpoint = "{ENDPOINT}"
"""


# -- helpers ----------------------------------------------------------------------------------------------





def make_settings(root: Path, **rollout: Any) -> Settings:
    """Settings of a project at ``root`` with a fast rollout (overridable per test)."""
    return Settings(model_name="eta", root=str(root), state_dir=str(root / ".mlgates"),
                    training=TrainingSettings(data="rows.csv", target=TARGET),
                    rollout=RolloutSettings(**{**FAST, **rollout}))


def register(platform: LocalAdapter, model_dir: Path, val_mae: float = 2.0, gates: bool = True,
             champion: str = "none") -> ModelVersion:
    """Register a model; with ``gates``, record passing champion and load gates against ``champion``."""
    model = platform.registry.register("eta", model_dir, {"val_mae": val_mae}, {})
    if gates:
        record_stage(platform, model, "champion_gate", True, "abc1234", champion)
        model = record_stage(platform, model, "load_gate", True, "abc1234")
    return model


def make_champion(platform: LocalAdapter, model_dir: Path) -> ModelVersion:
    """Version 1, gated and promoted (not deployed: the rollout deploys the champion when it is missing)."""
    model = register(platform, model_dir)
    return platform.promote("eta", model.version, None, {})


class Recorder:
    """The real locust driver, keeping each step's load so the test can count client requests itself."""

    def __init__(self, settings: Settings) -> None:
        self.drive = locust_driver(settings, BODIES)
        self.steps: list[StepLoad] = []

    def __call__(self, url: str, seconds: float) -> StepLoad:
        load = self.drive(url, seconds)
        self.steps.append(load)
        return load


def journal(platform: LocalAdapter, version: str) -> dict[str, str]:
    tags = platform.get_model_version("eta", version).tags
    return {k[len(JOURNAL):]: v for k, v in tags.items() if k.startswith(JOURNAL)}


def deployment_pids(platform: LocalAdapter) -> dict[str, int]:
    record = platform.endpoints.record(ENDPOINT)
    return {name: info["pid"] for name, info in record["deployments"].items()}


def assert_only_champion(platform: LocalAdapter, champion: str, gone_pids: list[int]) -> None:
    """Routing, record and processes say: 100% on ``champion``, nothing else deployed or running."""
    endpoint = platform.get_endpoint(ENDPOINT)
    assert endpoint.traffic == {champion: 100}
    assert list(platform.endpoints.record(ENDPOINT)["deployments"]) == [champion]
    assert not any(alive(pid) for pid in gone_pids)
    check = run_load(endpoint.url, BODIES, users=2, spawn_rate=2, duration=1.0)
    assert check.requests > 0 and check.failures == 0, check.errors
    assert set(check.deployments) == {champion}


def run_pytest(folder: Path, *args: str) -> subprocess.Popen[str]:
    """Start a pytest run of the project in its own process (no xdist, no user MLGATES_* settings)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLGATES_", "PYTEST_XDIST", "PYTEST_ADDOPTS")) and k != "ML_PLATFORM"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
                             "-s", *args], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str] | None = None, limit: float = 120) -> None:
    """Poll ``condition`` until true; fails if ``proc`` ends first or after ``limit`` s (a hang, not timing)."""
    deadline = time.monotonic() + limit
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended first:\n{proc.communicate()[0]}")
        assert time.monotonic() < deadline, "gave up waiting (the run hangs)"
        time.sleep(0.05)


# -- fixtures ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three small, real scikit-learn models: a champion and two close challengers."""
    folder = tmp_path_factory.mktemp("models")
    return {"v1": train_demo_model(folder / "v1", seed=1),
            "v2": train_demo_model(folder / "v2", seed=2, target_shift=0.1),
            "v3": train_demo_model(folder / "v3", seed=3, target_shift=0.2)}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[LocalAdapter]:
    """A fresh local platform; every endpoint (detached ones too) is deleted after the test, no process left."""
    state = tmp_path / ".mlgates"
    adapter = LocalAdapter(state_dir=state)
    yield adapter
    for name in adapter.endpoints.names():
        adapter.delete_endpoint(name)
    assert processes_mentioning(str(state)) == []


# -- 1. fault injection at the 50% step --------------------------------------------------------------------

@pytest.mark.parametrize(("fault", "breach", "bake"), [
    ({"error_rate": 1.0}, "candidate error rate 100.00%", 1.5),
    # every candidate request 1.2 s slower, so p99 >= 1200 ms whatever the machine's load adds on top
    # (the text once required "12..." and flaked when a loaded machine made it 1300+ ms)
    ({"latency_ms": 1200.0}, "candidate p99 ", 2.0),
], ids=["errors", "slow"])
def test_a_candidate_failing_at_50_percent_is_rolled_back(platform: LocalAdapter, model_dirs: dict[str, Path],
                                                          tmp_path: Path, fault: dict[str, float], breach: str,
                                                          bake: float) -> None:
    """Errors or latency injected into the live candidate at 50%: rolled back, 100% champion, bounded damage."""
    from scipy.stats import binomtest

    settings = make_settings(tmp_path, bake_seconds=bake)
    make_champion(platform, model_dirs["v1"])
    candidate = register(platform, model_dirs["v2"], champion="1")
    load = Recorder(settings)
    pids: dict[str, int] = {}

    def inject(pct: int) -> None:
        if pct == 50:
            pids.update(deployment_pids(platform))
            platform.endpoints.set_faults(ENDPOINT, "v2", **fault)

    verdict = Rollout(platform, settings, candidate, load, on_step=inject).run()

    assert not verdict.passed and verdict.outputs == {"should_promote": "false", "rollout": "rolled_back"}
    assert verdict.figures["breach_step"] == 50 and verdict.figures["rollback_seconds"] is not None
    assert [s["breach"] is None for s in verdict.figures["steps"]] == [True, False]
    assert verdict.figures["steps"][1]["breach"].startswith(breach), verdict.message
    if "latency_ms" in fault:
        p99 = float(verdict.figures["steps"][1]["breach"].split()[2])
        assert p99 >= fault["latency_ms"] and verdict.figures["steps"][1]["breach"].endswith(">= 1000 ms")
    assert "FAILED at the 50% step and was rolled back to eta:1" in verdict.message
    assert journal(platform, "2")["state"] == "rolled_back"
    assert journal(platform, "2")["reason"] == verdict.figures["steps"][1]["breach"]
    assert platform.get_champion("eta").version == "1"
    assert_only_champion(platform, "v1", [pids["v2"]])
    assert alive(pids["v1"])  # the champion kept serving throughout: the same process

    # The client's view, counted from raw locust samples: only candidate requests of the breaching step failed.
    assert len(load.steps) == 2
    ten, fifty = (step.by_deployment for step in load.steps)
    # every request attributed to one of them; with a 1.2 s candidate the few closed-loop users can all
    # be waiting on it for the whole 50% bake, so the champion is not guaranteed a request there
    assert set(ten) == {"v1", "v2"} and "v2" in fifty and set(fifty) <= {"v1", "v2"}
    failed = {(pct, dep): oks.count(False) for pct, by in ((10, ten), (50, fifty)) for dep, (_, oks) in by.items()}
    exposed = len(fifty["v2"][1])
    if "error_rate" in fault:
        assert failed == {(10, "v1"): 0, (10, "v2"): 0, (50, "v1"): 0, (50, "v2"): exposed}
        # What failed is the candidate's share of the breaching step, no more (exact two-sided test at 0.1%;
        # both sides answer fast here, so each request is one independent 50% draw).
        assert binomtest(exposed, exposed + len(fifty["v1"][1]), 0.5).pvalue > 0.001
    else:
        assert set(failed.values()) == {0} and exposed > 0  # slow, not failed: no client request lost


# -- 2. races ------------------------------------------------------------------------------------------

PROMOTE = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from pytest_mlgates.records import ConflictError
    from pytest_mlgates.adapters.local import LocalAdapter
    from pytest_mlgates.config import Settings
    from pytest_mlgates.release.promotion import promote_version
    root, version, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    settings = Settings(model_name="eta", root=str(root), state_dir=str(root / ".mlgates"))
    adapter = LocalAdapter(state_dir=root / ".mlgates")
    (root / f"ready-{version}").touch()
    while not go.exists():
        time.sleep(0.001)
    try:
        promote_version(adapter, settings, version)
    except ConflictError as exc:
        print("CONFLICT", exc)
        sys.exit(3)
    print("PROMOTED", version)
''')


def test_two_promotions_racing_one_wins(platform: LocalAdapter, model_dirs: dict[str, Path],
                                        tmp_path: Path) -> None:
    """Two processes promote v2 and v3 (both gated against v1) at once: one wins, one gets ConflictError."""
    make_champion(platform, model_dirs["v1"])
    register(platform, model_dirs["v2"], champion="1")
    register(platform, model_dirs["v3"], champion="1")
    go = tmp_path / "go"
    procs = {v: subprocess.Popen([sys.executable, "-c", PROMOTE, str(tmp_path), v, str(go)], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)}) for v in ("2", "3")}
    wait_for(lambda: all((tmp_path / f"ready-{v}").exists() for v in procs))  # both up, then go at once
    go.touch()
    outs = {v: (p.wait(timeout=60), p.communicate()[0]) for v, p in procs.items()}
    codes = sorted(code for code, _ in outs.values())
    assert codes == [0, 3], outs
    winner = next(v for v, (code, _) in outs.items() if code == 0)
    loser = "3" if winner == "2" else "2"
    assert f"cannot promote eta:{loser}: the champion is now {winner}, not 1" in outs[loser][1]
    assert "a newer champion exists" in outs[loser][1]
    assert platform.get_champion("eta").version == winner
    assert [m.version for m in platform.list_model_versions("eta") if m.is_champion] == [winner]
    history = platform.registry.history("eta")
    assert [(h["version"], h["event"]) for h in history] == [
        (1, "registered"), (1, "promoted"), (2, "registered"), (3, "registered"), (int(winner), "promoted")]
    assert json.loads(history[-1]["detail"]) == {"replaced": "1"}
    loser_entry = platform.get_model_version("eta", loser)
    assert loser_entry.tags["mlgates.gate.champion_gate"] == "passed"  # its own history is intact


PROMOTION_TEST = '''
import pytest

@pytest.mark.promotion_gate
def test_rollout(rollout):
    print("VERDICT", rollout.run().message)
'''


@pytest.fixture
def project(tmp_path: Path, platform: LocalAdapter, model_dirs: dict[str, Path]) -> Path:
    """A user project on ``platform``'s state folder: v1 champion, v2 and v3 gated against it."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    demo_rows(120, seed=5).to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "test_promotion.py").write_text(PROMOTION_TEST)
    make_champion(platform, model_dirs["v1"])
    register(platform, model_dirs["v2"], champion="1")
    register(platform, model_dirs["v3"], champion="1")
    return tmp_path


def test_two_rollouts_racing_one_wins(platform: LocalAdapter, project: Path) -> None:
    """Two `pytest -m promotion_gate` runs roll out v2 and v3 at once: one is promoted, the other fails cleanly."""
    runs = {v: run_pytest(project, "test_promotion.py", "--mlgates-model-version", v) for v in ("2", "3")}
    outs = {v: (p.wait(timeout=240), p.communicate()[0]) for v, p in runs.items()}
    assert sorted(code for code, _ in outs.values()) == [0, 1], "\n".join(out for _, out in outs.values())
    winner = next(v for v, (code, _) in outs.items() if code == 0)
    loser = "3" if winner == "2" else "2"
    assert "it is the champion" in outs[winner][1]
    assert "a newer champion exists" in outs[loser][1], outs[loser][1]
    assert "Traceback" not in outs[loser][1]
    assert platform.get_champion("eta").version == winner
    assert [m.version for m in platform.list_model_versions("eta") if m.is_champion] == [winner]
    events = [(h["version"], h["event"]) for h in platform.registry.history("eta")]
    assert events.count((int(winner), "promoted")) == 1 and (int(loser), "promoted") not in events
    assert platform.get_endpoint(ENDPOINT).traffic == {f"v{winner}": 100}
    assert list(platform.endpoints.record(ENDPOINT)["deployments"]) == [f"v{winner}"]
    ledger = {v: platform.get_model_version("eta", v).tags.get("mlgates.gate.promotion_gate") for v in ("2", "3")}
    assert ledger == {winner: "passed", loser: "failed"}


# -- 3. kill -9 in the middle ----------------------------------------------------------------------------

HOLD_TEST = '''
import os, time, pytest

@pytest.mark.promotion_gate
def test_rollout(rollout):
    def hold(pct):
        if pct == 50:
            open("at50", "w").write(str(os.getpid()))
            time.sleep(300)
    rollout.on_step = hold
    rollout.run()
'''


NEXT_TEST = '''
import json, pytest

@pytest.mark.promotion_gate
def test_rollout(rollout):
    def look(pct):
        if pct == 10:
            rec = rollout.adapter.endpoints.record("eta-prod")
            json.dump({"traffic": rec["traffic"], "deployments": sorted(rec["deployments"])}, open("at10.json", "w"))
    rollout.on_step = look
    print("VERDICT", rollout.run().message)
'''


def test_kill_9_mid_rollout_is_repaired_by_the_next_run(platform: LocalAdapter, project: Path) -> None:
    """The rollout of v2 is SIGKILLed while traffic is split 50/50; the next run (of v3) repairs, then proceeds."""
    (project / "test_hold.py").write_text(HOLD_TEST)
    (project / "test_next.py").write_text(NEXT_TEST)
    run = run_pytest(project, "test_hold.py", "--mlgates-model-version", "2")
    try:
        wait_for(lambda: (project / "at50").exists(), run)
        assert journal(platform, "2")["step"] == "50" and journal(platform, "2")["state"] == "in_progress"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    # Killed outright: nothing was rolled back, the detached production endpoint still splits traffic.
    assert platform.get_endpoint(ENDPOINT).traffic == {"v1": 50, "v2": 50}
    pids = deployment_pids(platform)
    assert journal(platform, "2")["state"] == "in_progress" and all(alive(p) for p in pids.values())

    nxt = run_pytest(project, "test_next.py", "--mlgates-model-version", "3")
    out = nxt.communicate(timeout=240)[0]
    assert nxt.returncode == 0, out
    assert f"repaired first: eta:2: an interrupted rollout at 50% on {ENDPOINT} was rolled back to v1" in out
    # Repaired before anything else: at its first step only the champion and the new candidate were deployed.
    assert json.loads((project / "at10.json").read_text()) == {"traffic": {"v1": 90, "v3": 10},
                                                               "deployments": ["v1", "v3"]}
    assert not alive(pids["v2"]) and not alive(pids["v1"])  # v2 stopped by the repair, v1 after v3 won
    v2 = platform.get_model_version("eta", "2")
    assert journal(platform, "2")["state"] == "rolled_back"
    assert journal(platform, "2")["reason"] == "interrupted; rolled back by the next run"
    assert stage_outcome(v2, "promotion_gate") == "failed"  # a whole ledger entry, for this artifact
    assert journal(platform, "3")["state"] == "done" and platform.get_champion("eta").version == "3"
    assert_only_champion(platform, "v3", [pids["v2"], pids["v1"]])
    assert repair_interrupted(platform, make_settings(project)) == []  # repaired once, not again


def test_a_run_killed_after_its_promotion_is_completed_forward(platform: LocalAdapter,
                                                               model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """Killed between the compare-and-swap and the journal: the repair keeps the new champion serving."""
    make_champion(platform, model_dirs["v1"])
    v2 = register(platform, model_dirs["v2"], champion="1")
    # What such a run leaves: v2 at 100% beside v1, v2 promoted, the journal still saying in progress.
    platform.deploy_to_endpoint(ENDPOINT, platform.get_model_version("eta", "1"), "v1", DeployOptions(outlive_run=True))
    platform.deploy_to_endpoint(ENDPOINT, v2, "v2", DeployOptions(outlive_run=True, traffic={"v1": 0, "v2": 100}))
    platform.set_tags("eta", "2", {JOURNAL + "state": "in_progress", JOURNAL + "endpoint": ENDPOINT,
                                   JOURNAL + "step": "100", JOURNAL + "champion_deployment": "v1"})
    promote_version(platform, make_settings(tmp_path), "2")
    pids = deployment_pids(platform)
    repairs = repair_interrupted(platform, make_settings(tmp_path))
    assert repairs == [f"eta:2: an interrupted rollout on {ENDPOINT} had already promoted it; its traffic was "
                       f"completed to 100%"]
    assert journal(platform, "2")["state"] == "done" and platform.get_champion("eta").version == "2"
    assert_only_champion(platform, "v2", [pids["v1"]])
    assert "mlgates.gate.promotion_gate" not in platform.get_model_version("eta", "2").tags


# -- 4. refusals -----------------------------------------------------------------------------------------

def _refusal_cases(platform: LocalAdapter, dirs: dict[str, Path]) -> dict[str, tuple[ModelVersion, str]]:
    missing = register(platform, dirs["v2"], gates=False)
    failed = register(platform, dirs["v3"], champion="1")
    failed = record_stage(platform, failed, "load_gate", False, "abc1234")
    stale = register(platform, dirs["v2"], champion="1")  # same content as v2, other gates history
    other = platform.get_model_version("eta", "1")
    stale = record_stage(platform, dataclasses.replace(stale, sha256=other.sha256), "load_gate", True, "abc1234")
    return {"missing": (missing, "champion_gate is missing\n  load_gate is missing"),
            "failed": (failed, "load_gate is failed"),
            "stale": (stale, f"load_gate passed for artifact {other.sha256[:12]}..., not for this version's "
                             f"artifact {stale.sha256[:12]}...")}


def test_incomplete_or_stale_ledgers_are_refused_and_nothing_is_deployed(
        platform: LocalAdapter, model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """Missing, failed and other-artifact gate entries: rollout and promote refuse, naming the problem."""
    settings = make_settings(tmp_path)
    make_champion(platform, model_dirs["v1"])
    for case, (model, problem) in _refusal_cases(platform, model_dirs).items():
        with pytest.raises(PromotionRefused) as refused:
            Rollout(platform, settings, model, Recorder(settings)).run()
        assert f"refusing to roll out {model.id}: its gate ledger is incomplete" in str(refused.value), case
        assert problem in str(refused.value), case
        with pytest.raises(PromotionRefused, match="refusing to promote") as refused:
            promote_version(platform, settings, model.version, required_stages(settings, production=True))
        assert problem in str(refused.value), case
        assert JOURNAL + "state" not in platform.get_model_version("eta", model.version).tags
    assert platform.get_champion("eta").version == "1"
    assert platform.endpoints.names() == [] and processes_mentioning(str(platform.state_dir)) == []


def test_an_artifact_other_than_the_one_the_gates_saw_is_refused(
        platform: LocalAdapter, model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """The candidate handed on by the gates names a digest the registry entry no longer has: refused."""
    settings = make_settings(tmp_path)
    make_champion(platform, model_dirs["v1"])
    entry = register(platform, model_dirs["v2"], champion="1")
    seen = dataclasses.replace(entry, sha256="0" * 64)
    with pytest.raises(PromotionRefused, match=f"eta:2 now has artifact {entry.sha256[:12]}..., not the "
                                               f"000000000000... the gates saw"):
        Rollout(platform, settings, seen, Recorder(settings)).run()
    assert platform.endpoints.names() == [] and platform.get_champion("eta").version == "1"


def test_a_newer_champion_is_refused_before_anything_is_deployed(
        platform: LocalAdapter, model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """v3 was gated against v1 but v2 is champion now: the rollout fails at once, production untouched."""
    settings = make_settings(tmp_path)
    make_champion(platform, model_dirs["v1"])
    register(platform, model_dirs["v2"], champion="1")
    v3 = register(platform, model_dirs["v3"], champion="1")
    promote_version(platform, settings, "2")
    with pytest.raises(ConflictError, match="a newer champion exists"):
        Rollout(platform, settings, v3, Recorder(settings)).run()
    assert platform.endpoints.names() == [] and platform.get_champion("eta").version == "2"
    assert JOURNAL + "state" not in platform.get_model_version("eta", "3").tags


# -- 5. first deployment -------------------------------------------------------------------------------

def test_first_deployment_is_load_checked_before_it_is_champion(platform: LocalAdapter,
                                                                model_dirs: dict[str, Path],
                                                                tmp_path: Path) -> None:
    """No champion: the candidate is the only deployment, loaded at 100%, and champion only afterwards."""
    settings = make_settings(tmp_path)
    candidate = register(platform, model_dirs["v1"])
    load = Recorder(settings)
    seen: list[tuple[int, Any, dict[str, int]]] = []
    rollout = Rollout(platform, settings, candidate, load,
                      on_step=lambda pct: seen.append((pct, platform.get_champion("eta"),
                                                       platform.get_endpoint(ENDPOINT).traffic)))
    verdict = rollout.run()
    assert verdict.passed and verdict.outputs["should_promote"] == "true"
    assert seen == [(100, None, {"v1": 100})]  # one step, and not yet champion while it was being checked
    assert len(load.steps) == 1 and set(load.steps[0].by_deployment) == {"v1"}
    assert platform.get_champion("eta").version == "1"
    assert journal(platform, "1")["state"] == "done"
    assert_only_champion(platform, "v1", [])


def test_a_faulty_first_deployment_deletes_the_endpoint(platform: LocalAdapter, model_dirs: dict[str, Path],
                                                        tmp_path: Path) -> None:
    """No champion and a candidate answering errors: the endpoint is deleted and nothing becomes champion."""
    settings = make_settings(tmp_path)
    candidate = register(platform, model_dirs["v1"])
    pids: list[int] = []
    verdict = Rollout(platform, settings, candidate, Recorder(settings),
                      on_step=lambda pct: pids.extend(platform.endpoints.pids(ENDPOINT)),
                      candidate_faults=Faults(error_rate=0.5)).run()
    assert not verdict.passed
    assert "rolled back to no deployment (first deployment)" in verdict.message
    assert platform.get_champion("eta") is None
    assert platform.endpoints.names() == [] and len(pids) == 2 and not any(alive(p) for p in pids)
    assert journal(platform, "1")["state"] == "rolled_back"


# -- 6. interrupted in a step --------------------------------------------------------------------------

@pytest.mark.parametrize(("at", "error"), [(50, KeyboardInterrupt), (10, AssertionError), (10, RuntimeError)],
                         ids=["ctrl-c-at-50", "assert-at-10", "crash-at-10"])
def test_an_interrupted_step_ends_on_the_champion(platform: LocalAdapter, model_dirs: dict[str, Path],
                                                  tmp_path: Path, at: int, error: type[BaseException]) -> None:
    """Ctrl-C or an exception inside a step: the error propagates, traffic is back on the champion."""
    settings = make_settings(tmp_path)
    make_champion(platform, model_dirs["v1"])
    candidate = register(platform, model_dirs["v2"], champion="1")
    pids: dict[str, int] = {}

    def interrupt(pct: int) -> None:
        if pct == at:
            pids.update(deployment_pids(platform))
            raise error("interrupted in the test")

    with pytest.raises(error, match="interrupted in the test"):
        Rollout(platform, settings, candidate, Recorder(settings), on_step=interrupt).run()
    assert journal(platform, "2")["state"] == "rolled_back"
    assert platform.get_champion("eta").version == "1"
    assert_only_champion(platform, "v1", [pids["v2"]])
    assert repair_interrupted(platform, settings) == []  # nothing left for the next run



def test_failures_no_deployment_answered_count_against_the_candidate(
        platform: LocalAdapter, model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """Client timeouts carry no deployment header; the step must not lose them (fail closed)."""
    settings = make_settings(tmp_path, steps=[50, 100])
    make_champion(platform, model_dirs["v1"])
    candidate = register(platform, model_dirs["v2"], champion="1")
    real = Recorder(settings)

    def with_lost_requests(url: str, seconds: float) -> StepLoad:
        load = real(url, seconds)  # real load through the real endpoint...
        # ...plus requests that timed out at the client, answered by nobody
        load.by_deployment[""] = ([30000.0] * 50, [False] * 50)
        return load

    verdict = Rollout(platform, settings, candidate, with_lost_requests).run()
    assert not verdict.passed and "FAILED at the 50% step" in verdict.message
    assert "candidate error rate" in verdict.message
    assert platform.get_champion("eta").version == "1"


class _CtrlCAfterPromotion(LocalAdapter):
    """The local platform, with a Ctrl-C landing right after the promotion committed (once)."""

    fired = False

    def set_tags(self, model_name: str, version: str, tags: Any) -> ModelVersion:
        if not self.fired and tags.get(JOURNAL + "state") == "done":
            type(self).fired = True
            raise KeyboardInterrupt
        return super().set_tags(model_name, version, tags)


def test_an_interrupt_after_the_promotion_keeps_the_new_champion_serving(
        platform: LocalAdapter, model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """Ctrl-C between the compare-and-swap and the journal: traffic stays on the candidate the registry names."""
    settings = make_settings(tmp_path, steps=[50, 100])
    make_champion(platform, model_dirs["v1"])
    candidate = register(platform, model_dirs["v2"], champion="1")
    interrupted = _CtrlCAfterPromotion(state_dir=platform.state_dir)
    with pytest.raises(KeyboardInterrupt):
        Rollout(interrupted, settings, candidate, Recorder(settings)).run()
    assert platform.get_champion("eta").version == "2"
    assert platform.get_endpoint(ENDPOINT).traffic.get("v2") == 100  # not rolled back to the former champion
    assert journal(platform, "2")["state"] == "in_progress"  # the journal write was what the interrupt hit...
    assert repair_interrupted(platform, settings) == [   # ...so the next run completes it forward
        f"eta:2: an interrupted rollout on {ENDPOINT} had already promoted it; its traffic was completed to 100%"]
    assert journal(platform, "2")["state"] == "done"
    interrupted.endpoints._procs.clear()  # the servers are detached; the platform fixture deletes them
