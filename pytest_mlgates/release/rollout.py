"""Progressive rollout to production with automatic rollback.

The candidate is deployed beside the champion on the production endpoint and
traffic moves in steps (default 10% -> 50% -> 100%). At each step real load is
driven through the endpoint for a bake time and the candidate's own figures are
judged (gates/rollout.py). On a breach, an exception, Ctrl-C or a CI timeout,
traffic goes back to the champion at once and the candidate deployment is
removed. On success the candidate becomes the champion by compare-and-swap.

The rollout's progress is journalled on the candidate's registry entry
(``mlgates.rollout.*`` tags) before every traffic change, so a run that was
killed outright is found and rolled back by the next run, on any platform.

One rollout of a model name runs at a time: a run holds a lock file in the
state folder (``locks/rollout.<model>.lock``) from its repair of interrupted
rollouts to its end, and a second run waits for it. Without it, the second
run would take the first one's live journal for a killed run's and roll it
back, and both would change the same endpoint's traffic at once. The kernel
releases the lock when its holder dies, so a killed run never blocks the next.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..adapters.base import Adapter
from ..config import Settings
from ..gates.rollout import Side, StepResult, judge_sequential, judge_step, rollout_verdict
from ..gates.verdict import Verdict
from ..records import ConflictError, DeployOptions, Faults, ModelVersion, NotFoundError
from ..stages import PROMOTION_GATE
from .ledger import OVERRIDE_TAG, current_commit, record_stage
from .promotion import (
    PromotionRefused,
    check_promotable,
    promote_version,
    required_stages,
)

JOURNAL = "mlgates.rollout."
IN_PROGRESS, ROLLED_BACK, DONE = "in_progress", "rolled_back", "done"
LOCK_TIMEOUT_SECONDS = 900.0
"""How long a rollout waits for another rollout of the same model to finish."""


@dataclass
class StepLoad:
    """Requests served during one step, by deployment: ``{deployment: (latencies_ms, ok)}``."""

    by_deployment: dict[str, tuple[list[float], list[bool]]]
    seconds: float


#: Drives load at ``url`` for ``seconds`` and attributes each request to the deployment that served it.
LoadDriver = Callable[[str, float], StepLoad]


def deployment_name(model: ModelVersion) -> str:
    return f"v{model.version}"


def production_endpoint(settings: Settings) -> str:
    return settings.rollout.endpoint or f"{settings.model_name}-prod"


def _journal(adapter: Adapter, model: ModelVersion, **entries: Any) -> None:
    adapter.set_tags(model.name, model.version, {JOURNAL + k: str(v) for k, v in entries.items()})


def roll_back(adapter: Adapter, endpoint: str, candidate_deployment: str, champion_deployment: str | None) -> float:
    """All traffic to the champion, then remove the candidate; returns the seconds until traffic moved."""
    started = time.monotonic()
    if champion_deployment is None:
        try:
            adapter.delete_endpoint(endpoint)  # a first deployment that failed: nothing may keep serving it
        except NotFoundError:
            pass
        return time.monotonic() - started
    try:
        adapter.set_traffic(endpoint, {champion_deployment: 100})
    except NotFoundError:
        return time.monotonic() - started
    moved = time.monotonic() - started
    try:
        adapter.delete_deployment(endpoint, candidate_deployment)
    except (NotFoundError, NotImplementedError):
        pass
    return moved


@contextlib.contextmanager
def rollout_lock(settings: Settings, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the lock that lets one rollout of ``settings.model_name`` run at a time; ConflictError on timeout."""
    from filelock import FileLock, Timeout

    folder = settings.state_path / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rollout.{settings.model_name}.lock"
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise ConflictError(f"another rollout of {settings.model_name} has held {path} for over {timeout:g} s; "
                            f"wait for it to end (or stop it) and run again") from None
    try:
        yield
    finally:
        lock.release()


def repair_interrupted(adapter: Adapter, settings: Settings, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> list[str]:
    """Finish every rollout a killed run left in progress; returns what was done.

    Waits for a live rollout of the model to end first (its journal says in
    progress too, but it is not interrupted)."""
    with rollout_lock(settings, lock_timeout):
        return _repair_interrupted(adapter, settings)


def _repair_interrupted(adapter: Adapter, settings: Settings) -> list[str]:
    done = []
    for model in adapter.list_model_versions(settings.model_name):
        if model.tags.get(JOURNAL + "state") != IN_PROGRESS:
            continue
        endpoint = model.tags.get(JOURNAL + "endpoint", production_endpoint(settings))
        champion_dep = model.tags.get(JOURNAL + "champion_deployment") or None
        if model.is_champion:
            # Killed between the compare-and-swap and its journal entry: the candidate won at 100%, so
            # finish forward; rolling back would serve the old champion while the registry names this one.
            try:
                adapter.set_traffic(endpoint, {deployment_name(model): 100})
                if champion_dep and champion_dep != deployment_name(model):
                    adapter.delete_deployment(endpoint, champion_dep)
            except (NotFoundError, NotImplementedError):
                pass
            _journal(adapter, model, state=DONE, reason="interrupted after promotion; completed by the next run")
            done.append(f"{model.id}: an interrupted rollout on {endpoint} had already promoted it; "
                        f"its traffic was completed to 100%")
            continue
        roll_back(adapter, endpoint, deployment_name(model), champion_dep)
        _journal(adapter, model, state=ROLLED_BACK, reason="interrupted; rolled back by the next run")
        # a whole ledger entry (digest, commit, time), so `mlgates status` reads it as failed, not stale
        record_stage(adapter, model, PROMOTION_GATE, False, current_commit(settings.root))
        done.append(f"{model.id}: an interrupted rollout at {model.tags.get(JOURNAL + 'step', '?')}% on "
                    f"{endpoint} was rolled back to {champion_dep or 'no deployment'}")
    return done


def _samples(load: StepLoad, cand_dep: str, champ_dep: str | None) -> tuple[tuple[list[float], list[bool]],
                                                                          tuple[list[float], list[bool]] | None]:
    """(candidate samples, champion samples or None) of one round of load.

    Failures no deployment answered for (timeouts, refused connections) count against the candidate:
    the gate fails closed rather than lose them.
    """
    cand_lat, cand_ok = load.by_deployment.get(cand_dep, ([], []))
    lost = [(lat, ok) for lat, ok in zip(*load.by_deployment.get("", ([], []))) if not ok]
    cand = ([*cand_lat, *(lat for lat, _ in lost)], [*cand_ok, *(ok for _, ok in lost)])
    champ = load.by_deployment[champ_dep] if champ_dep and champ_dep in load.by_deployment else None
    return cand, champ


def _sides(load: StepLoad, cand_dep: str, champ_dep: str | None) -> tuple[Side, Side | None]:
    cand, champ = _samples(load, cand_dep, champ_dep)
    return Side.from_samples(*cand), Side.from_samples(*champ) if champ is not None else None


class Rollout:
    """One candidate's way to production. ``run()`` raises AssertionError after rolling back."""

    def __init__(self, adapter: Adapter, settings: Settings, candidate: ModelVersion, load: LoadDriver,
                 on_step: Callable[[int], None] | None = None,
                 candidate_faults: Faults | None = None,
                 lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.adapter = adapter
        self.settings = settings
        self.candidate = candidate
        self.load = load
        self.on_step = on_step
        self.candidate_faults = candidate_faults
        self.endpoint = production_endpoint(settings)
        self.lock_timeout = lock_timeout
        self.repairs: list[str] = []
        self.verdict: Verdict | None = None

    def _ensure_champion_serving(self, champion: ModelVersion) -> str:
        name = deployment_name(champion)
        try:
            endpoint = self.adapter.get_endpoint(self.endpoint)
            if name in endpoint.traffic:
                return name
        except NotFoundError:
            pass
        self.adapter.deploy_to_endpoint(self.endpoint, champion, name,
                                        DeployOptions(traffic={name: 100}, outlive_run=True))
        return name

    def run(self, steps: Sequence[int] | None = None, bake_seconds: float | None = None,
            p99_ms: float | None = None, max_error_rate: float | None = None) -> Verdict:
        r = self.settings.rollout
        steps = list(steps or r.steps)
        bake = r.bake_seconds if bake_seconds is None else bake_seconds
        p99 = r.p99_ms if p99_ms is None else p99_ms
        max_err = r.max_error_rate if max_error_rate is None else max_error_rate
        if not steps or steps[-1] != 100 or steps != sorted(steps) or any(not 0 < s <= 100 for s in steps):
            raise ValueError(f"steps must rise within (0, 100] and end at 100, got {steps}")
        if bake <= 0 or p99 <= 0 or not 0 <= max_err < 1:
            raise ValueError("bake_seconds and p99_ms must be positive and max_error_rate in [0, 1)")
        with rollout_lock(self.settings, self.lock_timeout):
            return self._run(steps, bake, p99, max_err)

    def _run(self, steps: list[int], bake: float, p99: float, max_err: float) -> Verdict:
        r = self.settings.rollout
        self.repairs = _repair_interrupted(self.adapter, self.settings)
        checked = check_promotable(self.adapter, self.settings, self.candidate.version,
                                   required_stages(self.settings, production=True),
                                   seen_sha256=self.candidate.sha256, verb="roll out", judging=[PROMOTION_GATE])
        candidate, champion, override = checked.model, checked.champion, checked.override
        if champion is not None and champion.version == candidate.version:
            raise PromotionRefused(f"{candidate.id} is already the champion; nothing to roll out")
        current = champion.version if champion else None
        if checked.expected != current:
            # The promotion's compare-and-swap would refuse it at 100%: refuse before production sees it.
            raise ConflictError(f"cannot roll out {candidate.id}: the champion is now {current or 'none'}, not "
                                f"{checked.expected or 'none'} as the champion gate compared against; "
                                f"a newer champion exists, so run the champion gate again against it")
        if champion is None:
            steps = [100]  # first deployment: the candidate is the only deployment, still load-checked
        champ_dep = self._ensure_champion_serving(champion) if champion else None
        cand_dep = deployment_name(candidate)
        _journal(self.adapter, candidate, state=IN_PROGRESS, endpoint=self.endpoint, step=0,
                 champion_deployment=champ_dep or "", champion=champion.version if champion else "")
        results: list[StepResult] = []
        rollback_seconds: float | None = None
        promoted = False
        settled = False  # traffic is back on the champion, or the candidate is the champion
        try:
            split = {champ_dep: 100, cand_dep: 0} if champ_dep else {cand_dep: 100}
            self.adapter.deploy_to_endpoint(self.endpoint, candidate, cand_dep,
                                            DeployOptions(traffic=split, outlive_run=True,
                                                          faults=self.candidate_faults))
            for pct in steps:
                _journal(self.adapter, candidate, step=pct)
                self.adapter.set_traffic(self.endpoint, {champ_dep: 100 - pct, cand_dep: pct} if champ_dep
                                         else {cand_dep: 100})
                if self.on_step is not None:
                    self.on_step(pct)
                url = self.adapter.get_endpoint(self.endpoint).url
                if r.sequential:
                    step = self._sequential_step(url, pct, cand_dep, champ_dep, bake, p99, max_err)
                else:
                    load = self.load(url, bake)
                    cand, champ = _sides(load, cand_dep, champ_dep)
                    step = judge_step(pct, cand, champ, p99_ms=p99, max_error_rate=max_err,
                                      compare_to_champion=r.compare_to_champion)
                    step.seconds = load.seconds
                results.append(step)
                if step.breach:
                    rollback_seconds = roll_back(self.adapter, self.endpoint, cand_dep, champ_dep)
                    _journal(self.adapter, candidate, state=ROLLED_BACK, reason=step.breach)
                    settled = True
                    break
            else:
                try:
                    promote_version(self.adapter, self.settings, candidate.version,
                                    required=[] if override else required_stages(self.settings, production=True),
                                    override_by=candidate.tags.get(f"{OVERRIDE_TAG}.by") if override else None,
                                    override_reason=candidate.tags.get(f"{OVERRIDE_TAG}.reason") if override else None,
                                    judging=[PROMOTION_GATE])
                except (ConflictError, PromotionRefused) as exc:
                    rollback_seconds = roll_back(self.adapter, self.endpoint, cand_dep, champ_dep)
                    _journal(self.adapter, candidate, state=ROLLED_BACK, reason=str(exc).splitlines()[0])
                    settled = True
                    raise AssertionError(f"rollout of {candidate.id} reached 100% but was rolled back: {exc}") from exc
                promoted = settled = True
                _journal(self.adapter, candidate, state=DONE)
                if champ_dep:
                    self.adapter.delete_deployment(self.endpoint, champ_dep)
        except BaseException as exc:
            # Ctrl-C, a CI timeout, a crash of the load runner, an assertion in an on_step hook: traffic goes
            # back to the champion first (unless it already is there, or the candidate already won).
            if not settled:
                reason = f"interrupted: {type(exc).__name__}: {exc}".rstrip(": ")[:300]
                current = self.adapter.get_champion(candidate.name)
                if current is not None and current.version == candidate.version:
                    # Interrupted after the compare-and-swap committed: the registry names the candidate,
                    # so traffic stays on it (it already serves 100%) rather than on a former champion.
                    _journal(self.adapter, candidate, state=DONE, reason=f"{reason}; after promotion")
                else:
                    roll_back(self.adapter, self.endpoint, cand_dep, champ_dep)
                    _journal(self.adapter, candidate, state=ROLLED_BACK, reason=reason)
            raise
        self.verdict = rollout_verdict(candidate.id, champion.id if champion else None, results, rollback_seconds,
                                       promoted, steps)
        return self.verdict

    def _sequential_step(self, url: str, pct: int, cand_dep: str, champ_dep: str | None, bake: float,
                         p99: float, max_err: float) -> StepResult:
        """Look at the evidence after every round of ``look_seconds`` of load (gates/rollout.py judges it):
        a clear breach ends the step at once, a clear pass after the bake, an undecided step extends to
        ``max_bake_seconds`` and then fails closed."""
        r = self.settings.rollout
        cap = r.max_bake_seconds or 6 * bake
        latencies: list[float] = []
        oks: list[bool] = []
        champion: tuple[list[float], list[bool]] = ([], [])
        seconds, looks = 0.0, 0
        while True:
            look = min(r.look_seconds, max(cap - seconds, 0.1))
            load = self.load(url, look)
            looks += 1
            seconds += look  # load seconds asked for, comparable with a fixed bake
            (lat, ok), champ = _samples(load, cand_dep, champ_dep)
            latencies += lat
            oks += ok
            if champ is not None:
                champion[0].extend(champ[0])
                champion[1].extend(champ[1])
            step = judge_sequential(pct, latencies, oks, champion if champion[0] else None, p99_ms=p99,
                                    max_error_rate=max_err, alpha=r.alpha, seconds=seconds, bake_seconds=bake,
                                    cap_seconds=cap, looks=looks)
            if step is not None:
                return step

