"""The adapter conformance suite: one set of tests every platform adapter must pass.

In the style of fsspec's abstract tests: the classes here hold the tests, and a
``test_conformance_<platform>.py`` module subclasses them and provides the
platform-specific parts as fixtures:

- ``adapter_factory``: a callable returning a new adapter on the same platform
  state (two instances stand for two CI runs racing each other);
- ``driver``: a :class:`JobDriver`, because each platform runs training jobs
  differently and a test must decide when and how a job finishes;
- ``faults`` (for :class:`FaultConformance` only): a :class:`FaultInjector` that
  makes the platform refuse or throttle the adapter's calls.

Every test goes through the public adapter verbs only; nothing here patches an
adapter. Classes are not named ``Test*`` so that pytest collects them only
through their subclasses.
"""

from __future__ import annotations

import abc
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from pytest_mlgates.adapters.base import Adapter
from pytest_mlgates.attribution import ServedBy
from pytest_mlgates.gates.champion import champion_metric_tag, compare
from pytest_mlgates.records import (
    AccessDeniedError,
    ConflictError,
    DeadlineExceeded,
    DeployOptions,
    Faults,
    JobFailedError,
    JobStatus,
    ModelVersion,
    NotFoundError,
    ThrottledError,
    TrainingJob,
    UnsupportedError,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
JOB_TIMEOUT = 60.0
POLL = 0.02
MODEL_FILE = "model.joblib"


class JobDriver(abc.ABC):
    """Runs a training job on one platform whose outcome the test decides."""

    @abc.abstractmethod
    def submit(self, adapter: Adapter, model_name: str, commit: str = COMMIT) -> TrainingJob:
        """Submit through ``adapter.submit_training_job``; the job must stay unfinished until ``finish``."""

    @abc.abstractmethod
    def finish(
        self,
        adapter: Adapter,
        job_name: str,
        *,
        metrics: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        metrics_text: str | None = None,
        fail: str | None = None,
    ) -> None:
        """End the job: write ``files`` and ``metrics`` (or raw ``metrics_text``) as its model, or fail with ``fail``."""

    def servable_files(self, label: str) -> dict[str, bytes]:
        """Model files an endpoint of this platform can really load; by default opaque bytes."""
        return _model_files(label)


class FaultInjector(abc.ABC):
    """Makes the platform answer the adapter's next calls with an error."""

    @abc.abstractmethod
    def inject(self, kind: str, times: int | None = None) -> None:
        """``kind`` is ``access_denied`` or ``throttled``; ``times`` None means until cleared."""

    @abc.abstractmethod
    def hits(self) -> int:
        """How many requests the injected fault answered."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Stop injecting."""


def _model_files(label: str) -> dict[str, bytes]:
    return {MODEL_FILE: f"model {label}".encode()}


class _Base:
    """Helpers shared by the conformance classes."""

    @pytest.fixture
    def adapter(self, adapter_factory: Callable[[], Adapter]) -> Iterator[Adapter]:
        adapter = adapter_factory()
        yield adapter
        adapter.close()

    @pytest.fixture
    def model_name(self) -> str:
        return f"conf-{uuid.uuid4().hex[:8]}"

    @staticmethod
    def train(
        adapter: Adapter,
        driver: JobDriver,
        model_name: str,
        metrics: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
    ) -> TrainingJob:
        job = driver.submit(adapter, model_name)
        driver.finish(adapter, job.name, metrics=dict(metrics or {"val_mae": 10.0}),
                      files=files if files is not None else _model_files(job.name))
        return adapter.wait_for_job(job.name, timeout=JOB_TIMEOUT, poll_interval=POLL)

    def new_version(
        self,
        adapter: Adapter,
        driver: JobDriver,
        model_name: str,
        metrics: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        job = self.train(adapter, driver, model_name, metrics, files)
        assert job.metrics is not None
        return adapter.register_model(model_name, job.name, job.metrics, tags)


class JobConformance(_Base):
    """Training jobs: submit, wait, deadline, cancel, metrics, failures."""

    def test_submit_returns_an_unfinished_job_named_after_the_commit(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        job = driver.submit(adapter, model_name)
        assert not job.status.finished
        assert job.platform == adapter.name
        assert COMMIT[:7] in job.name
        assert not adapter.get_job(job.name).status.finished
        adapter.cancel_job(job.name)

    def test_job_names_are_unique_for_the_same_commit(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        first, second = driver.submit(adapter, model_name), driver.submit(adapter, model_name)
        assert first.name != second.name
        for job in (first, second):
            adapter.cancel_job(job.name)

    def test_wait_returns_the_metrics_of_metrics_json(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        metrics = {"val_mae": 12.5, "val_r2": 0.75, "validation_fingerprint": "sha256:abc123"}
        job = self.train(adapter, driver, model_name, metrics)
        assert job.status is JobStatus.COMPLETED
        assert job.metrics == metrics
        assert adapter.job_metrics(job.name) == metrics
        assert adapter.get_job(job.name).status is JobStatus.COMPLETED

    def test_a_failed_job_raises_with_the_platform_reason(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        job = driver.submit(adapter, model_name)
        driver.finish(adapter, job.name, fail="CUDA out of memory on the training instance")
        with pytest.raises(JobFailedError) as info:
            adapter.wait_for_job(job.name, timeout=JOB_TIMEOUT, poll_interval=POLL)
        assert job.name in str(info.value)
        assert "CUDA out of memory" in str(info.value)
        assert adapter.get_job(job.name).status is JobStatus.FAILED

    @pytest.mark.parametrize("metrics_text", ['{"val_mae": "oops"}', "not json", '{"val_mae": NaN}'])
    def test_a_broken_metrics_file_fails_the_job(
        self, adapter: Adapter, driver: JobDriver, model_name: str, metrics_text: str
    ) -> None:
        job = driver.submit(adapter, model_name)
        driver.finish(adapter, job.name, metrics_text=metrics_text, files=_model_files("x"))
        with pytest.raises(JobFailedError) as info:
            adapter.wait_for_job(job.name, timeout=JOB_TIMEOUT, poll_interval=POLL)
        assert job.name in str(info.value)

    def test_metrics_of_an_unfinished_job_are_refused(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        job = driver.submit(adapter, model_name)
        try:
            with pytest.raises(JobFailedError):
                adapter.job_metrics(job.name)
        finally:
            adapter.cancel_job(job.name)

    def test_deadline_cancels_the_job_and_names_it(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        job = driver.submit(adapter, model_name)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as info:
            adapter.wait_for_job(job.name, timeout=0.3, poll_interval=POLL)
        assert time.monotonic() - started < 10
        assert job.name in str(info.value)
        assert "last status" in str(info.value)
        assert adapter.get_job(job.name).status is JobStatus.CANCELLED

    def test_an_interrupt_cancels_the_job(self, adapter: Adapter, driver: JobDriver, model_name: str) -> None:
        job = driver.submit(adapter, model_name)

        def interrupt(seconds: float) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            adapter.wait_for_job(job.name, timeout=JOB_TIMEOUT, poll_interval=POLL, sleep=interrupt)
        assert adapter.get_job(job.name).status is JobStatus.CANCELLED

    def test_cancelling_a_finished_job_leaves_it_as_it_is(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        job = self.train(adapter, driver, model_name)
        adapter.cancel_job(job.name)
        assert adapter.get_job(job.name).status is JobStatus.COMPLETED

    @pytest.mark.parametrize("verb", ["get_job", "cancel_job", "job_metrics"])
    def test_unknown_job_is_not_found(self, adapter: Adapter, verb: str) -> None:
        with pytest.raises(NotFoundError):
            getattr(adapter, verb)("no-such-job-0000000-ffff")


class RegistryConformance(_Base):
    """The model registry: versions, champion, compare-and-swap promotion, tags."""

    def test_register_round_trips_metrics_tags_and_artifact(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        metrics = {"val_mae": 9.25, "validation_fingerprint": "sha256:feed"}
        version = self.new_version(adapter, driver, model_name, metrics, tags={"team": "eta"})
        assert version.name == model_name
        assert version.version and version.artifact_uri and len(version.sha256) == 64
        assert version.metrics == metrics
        assert version.tags["team"] == "eta"
        assert version.is_champion is False
        again = adapter.get_model_version(model_name, version.version)
        assert (again.version, again.sha256, again.metrics, again.artifact_uri) == (
            version.version, version.sha256, version.metrics, version.artifact_uri)
        assert again.tags == version.tags

    def test_versions_are_listed_oldest_first(self, adapter: Adapter, driver: JobDriver, model_name: str) -> None:
        first = self.new_version(adapter, driver, model_name, {"val_mae": 3.0})
        second = self.new_version(adapter, driver, model_name, {"val_mae": 2.0})
        listed = adapter.list_model_versions(model_name)
        assert [v.version for v in listed] == [first.version, second.version]
        assert int(second.version) > int(first.version)
        assert [v.metrics["val_mae"] for v in listed] == [3.0, 2.0]
        assert adapter.list_model_versions(model_name + "-unknown") == []

    def test_the_digest_follows_the_artifact_content(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        files = {MODEL_FILE: b"same bytes", "notes.txt": b"n"}
        one = self.new_version(adapter, driver, model_name, files=files)
        two = self.new_version(adapter, driver, model_name, files=files)
        other = self.new_version(adapter, driver, model_name, files={MODEL_FILE: b"other bytes", "notes.txt": b"n"})
        assert one.sha256 == two.sha256
        assert one.sha256 != other.sha256

    def test_no_champion_before_the_first_promotion(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        assert adapter.get_champion(model_name) is None
        self.new_version(adapter, driver, model_name)
        assert adapter.get_champion(model_name) is None

    def test_first_promotion_stores_the_champion_metric(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        version = self.new_version(adapter, driver, model_name, {"val_mae": 7.5})
        tag = champion_metric_tag("val_mae")
        promoted = adapter.promote(model_name, version.version, None, tags={tag: "7.5"})
        assert promoted.is_champion and promoted.tags[tag] == "7.5"
        champion = adapter.get_champion(model_name)
        assert champion is not None
        assert (champion.version, champion.is_champion, champion.tags[tag]) == (version.version, True, "7.5")
        flags = {v.version: v.is_champion for v in adapter.list_model_versions(model_name)}
        assert flags == {version.version: True}

    def test_promotion_loses_when_the_champion_moved(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        first = self.new_version(adapter, driver, model_name)
        second = self.new_version(adapter, driver, model_name)
        adapter.promote(model_name, first.version, None)
        # the gate of `second` compared against "no champion", but `first` got there first
        with pytest.raises(ConflictError) as info:
            adapter.promote(model_name, second.version, None)
        assert "champion" in str(info.value)
        champion = adapter.get_champion(model_name)
        assert champion is not None and champion.version == first.version
        assert adapter.get_model_version(model_name, second.version).is_champion is False

    def test_promotion_against_the_current_champion_moves_it(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        first = self.new_version(adapter, driver, model_name)
        second = self.new_version(adapter, driver, model_name)
        adapter.promote(model_name, first.version, None)
        adapter.promote(model_name, second.version, first.version)
        champion = adapter.get_champion(model_name)
        assert champion is not None and champion.version == second.version
        flags = {v.version: v.is_champion for v in adapter.list_model_versions(model_name)}
        assert flags == {first.version: False, second.version: True}
        with pytest.raises(ConflictError):  # a stale gate still compares against `first`
            adapter.promote(model_name, first.version, first.version)

    def test_concurrent_promotions_have_exactly_one_winner(
        self, adapter_factory: Callable[[], Adapter], driver: JobDriver, model_name: str
    ) -> None:
        setup = adapter_factory()
        base = self.new_version(setup, driver, model_name)
        challengers = [self.new_version(setup, driver, model_name) for _ in range(3)]
        setup.promote(model_name, base.version, None)
        racers = [adapter_factory() for _ in challengers]
        barrier = threading.Barrier(len(racers))
        outcomes: dict[str, str] = {}

        def race(adapter: Adapter, version: ModelVersion) -> None:
            barrier.wait()
            try:
                adapter.promote(model_name, version.version, base.version)
                outcomes[version.version] = "won"
            except ConflictError:
                outcomes[version.version] = "lost"
            except Exception as exc:  # reported below, so the test fails with the reason
                outcomes[version.version] = f"error: {exc!r}"

        threads = [threading.Thread(target=race, args=pair) for pair in zip(racers, challengers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes.values()) == ["lost", "lost", "won"], outcomes
        winner = next(v for v, outcome in outcomes.items() if outcome == "won")
        champion = setup.get_champion(model_name)
        assert champion is not None and champion.version == winner
        assert sum(v.is_champion for v in setup.list_model_versions(model_name)) == 1
        for adapter in (setup, *racers):
            adapter.close()

    def test_tags_merge_and_round_trip_the_gate_ledger(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        version = self.new_version(adapter, driver, model_name, tags={"owner": "ml-team"})
        ledger = {
            "mlgates.gate.champion": "passed",
            "mlgates.gate.champion.commit": COMMIT,
            "mlgates.gate.champion.at": "2024-05-01T12:30:00+00:00",
            "mlgates.gate.champion.sha256": version.sha256,
            "note": "p99 = 412 ms, errors 0.1%; {\"json\": [1, 2]}",
            "empty": "",
            "unicode": "naïve ✓ café",
        }
        adapter.set_tags(model_name, version.version, ledger)
        updated = adapter.set_tags(model_name, version.version, {"mlgates.gate.load": "failed", "owner": "eta-team"})
        expected = {**ledger, "mlgates.gate.load": "failed", "owner": "eta-team"}
        assert {k: updated.tags[k] for k in expected} == expected
        read = adapter.get_model_version(model_name, version.version)
        assert {k: read.tags[k] for k in expected} == expected
        assert read.metrics == version.metrics

    def test_a_champion_whose_stored_metric_is_not_a_number_fails_the_gate_closed(
        self, adapter: Adapter, driver: JobDriver, model_name: str
    ) -> None:
        champion = self.new_version(adapter, driver, model_name, {"val_mae": 5.0})
        adapter.promote(model_name, champion.version, None, tags={champion_metric_tag("val_mae"): "not-a-number"})
        challenger = self.new_version(adapter, driver, model_name, {"val_mae": 1.0})
        stored = adapter.get_champion(model_name)
        assert stored is not None
        verdict = compare(challenger, stored, metric="val_mae", greater_is_better=False, tolerance=0.05)
        assert verdict.passed is False
        assert "not-a-number" in verdict.message and "not a number" in verdict.message

    @pytest.mark.parametrize(
        "call",
        [
            lambda a, m: a.get_model_version(m, "999"),
            lambda a, m: a.set_tags(m, "999", {"k": "v"}),
            lambda a, m: a.promote(m, "999", None),
        ],
        ids=["get_model_version", "set_tags", "promote"],
    )
    def test_unknown_version_is_not_found(
        self, adapter: Adapter, driver: JobDriver, model_name: str, call: Callable[[Adapter, str], Any]
    ) -> None:
        self.new_version(adapter, driver, model_name)
        with pytest.raises(NotFoundError):
            call(adapter, model_name)


class FaultConformance(_Base):
    """Platform refusals map to the adapter's own errors, with bounded retries."""

    def test_access_denied_is_reported_at_once_without_retrying(
        self, adapter: Adapter, faults: FaultInjector, model_name: str
    ) -> None:
        faults.inject("access_denied")
        with pytest.raises(AccessDeniedError) as info:
            adapter.get_champion(model_name)
        assert faults.hits() == 1
        assert "credential" in str(info.value).lower() or "permission" in str(info.value).lower()

    def test_throttling_is_retried_a_bounded_number_of_times(
        self, adapter: Adapter, faults: FaultInjector, model_name: str
    ) -> None:
        faults.inject("throttled")
        with pytest.raises(ThrottledError):
            adapter.list_model_versions(model_name)
        assert 1 < faults.hits() <= 10

    def test_a_passing_throttle_is_absorbed(
        self, adapter: Adapter, faults: FaultInjector, model_name: str
    ) -> None:
        faults.inject("throttled", times=1)
        assert adapter.list_model_versions(model_name) == []
        assert faults.hits() == 1


class EndpointConformance(_Base):
    """Endpoints: deploy, traffic split, delete.

    Optional fixture ``read_traffic(adapter, endpoint_name) -> dict`` reads the
    split back from the platform; by default ``adapter.get_endpoint``.
    """

    @pytest.fixture
    def endpoint_name(self) -> Iterator[str]:
        yield f"conf-ep-{uuid.uuid4().hex[:8]}"

    @contextmanager
    def cleanup(self, adapter: Adapter, endpoint_name: str) -> Iterator[None]:
        try:
            yield
        finally:
            try:
                adapter.delete_endpoint(endpoint_name)
            except NotFoundError:
                pass

    @staticmethod
    def traffic_of(adapter: Adapter, endpoint_name: str) -> dict[str, int]:
        return dict(adapter.get_endpoint(endpoint_name).traffic)  # type: ignore[attr-defined]

    def test_deploy_split_and_delete(
        self, adapter: Adapter, driver: JobDriver, model_name: str, endpoint_name: str
    ) -> None:
        blue = self.new_version(adapter, driver, model_name, {"val_mae": 4.0}, driver.servable_files("blue"))
        green = self.new_version(adapter, driver, model_name, {"val_mae": 3.0}, driver.servable_files("green"))
        with self.cleanup(adapter, endpoint_name):
            endpoint = adapter.deploy_to_endpoint(endpoint_name, blue, "blue")
            assert endpoint.name == endpoint_name and endpoint.url
            assert endpoint.traffic == {"blue": 100}
            endpoint = adapter.deploy_to_endpoint(endpoint_name, green, "green")
            assert endpoint.traffic == {"blue": 100, "green": 0}
            for split in ({"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}):
                assert adapter.set_traffic(endpoint_name, split).traffic == split
                assert self.traffic_of(adapter, endpoint_name) == split
            rule = adapter.served_by(endpoint_name)  # how load tells the two deployments' answers apart
            assert isinstance(rule, ServedBy), f"served_by must return an attribution.ServedBy, got {rule!r}"
            if rule.body_field:  # the platform's own ids: every deployment of the endpoint is mapped to its name
                assert sorted(rule.names.values()) == ["blue", "green"], rule
            adapter.delete_endpoint(endpoint_name)
            with pytest.raises(NotFoundError):
                adapter.set_traffic(endpoint_name, {"green": 100})
            with pytest.raises(NotFoundError):
                adapter.delete_endpoint(endpoint_name)

    def test_redeploying_a_deployment_keeps_its_share(
        self, adapter: Adapter, driver: JobDriver, model_name: str, endpoint_name: str
    ) -> None:
        blue = self.new_version(adapter, driver, model_name, files=driver.servable_files("blue"))
        green = self.new_version(adapter, driver, model_name, files=driver.servable_files("green"))
        with self.cleanup(adapter, endpoint_name):
            adapter.deploy_to_endpoint(endpoint_name, blue, "blue")
            adapter.deploy_to_endpoint(endpoint_name, green, "green")
            adapter.set_traffic(endpoint_name, {"blue": 70, "green": 30})
            endpoint = adapter.deploy_to_endpoint(endpoint_name, green, "green")
            assert endpoint.traffic == {"blue": 70, "green": 30}

    def test_bad_splits_are_refused_and_change_nothing(
        self, adapter: Adapter, driver: JobDriver, model_name: str, endpoint_name: str
    ) -> None:
        blue = self.new_version(adapter, driver, model_name, files=driver.servable_files("blue"))
        bad_splits: list[dict[str, Any]] = [
            {"blue": 60, "green": 60}, {"blue": 101}, {"blue": 50, "nobody": 50}, {"blue": 99.5, "green": 0.5},
            {"blue": -10, "green": 110}, {"blue": "100"},
        ]
        with self.cleanup(adapter, endpoint_name):
            adapter.deploy_to_endpoint(endpoint_name, blue, "blue")
            adapter.deploy_to_endpoint(endpoint_name, blue, "green")
            for split in bad_splits:
                with pytest.raises(ValueError):
                    adapter.set_traffic(endpoint_name, split)
                assert self.traffic_of(adapter, endpoint_name) == {"blue": 100, "green": 0}, split

    def test_a_deployment_without_traffic_can_be_removed(
        self, adapter: Adapter, driver: JobDriver, model_name: str, endpoint_name: str
    ) -> None:
        blue = self.new_version(adapter, driver, model_name, files=driver.servable_files("blue"))
        with self.cleanup(adapter, endpoint_name):
            adapter.deploy_to_endpoint(endpoint_name, blue, "blue")
            adapter.deploy_to_endpoint(endpoint_name, blue, "green")
            with pytest.raises(ValueError):  # still takes live traffic
                adapter.delete_deployment(endpoint_name, "blue")
            with pytest.raises(NotFoundError):
                adapter.delete_deployment(endpoint_name, "nobody")
            assert adapter.delete_deployment(endpoint_name, "green").traffic == {"blue": 100}
            assert self.traffic_of(adapter, endpoint_name) == {"blue": 100}

    def test_deployed_endpoints_are_listed(
        self, adapter: Adapter, driver: JobDriver, model_name: str, endpoint_name: str
    ) -> None:
        blue = self.new_version(adapter, driver, model_name, files=driver.servable_files("blue"))
        with self.cleanup(adapter, endpoint_name):
            adapter.deploy_to_endpoint(endpoint_name, blue, "blue")
            listed = {e.name: e.traffic for e in adapter.list_endpoints()}
            assert listed.get(endpoint_name) == {"blue": 100}
        assert endpoint_name not in {e.name for e in adapter.list_endpoints()}

    def test_faults_are_honoured_only_where_declared(
        self, adapter: Adapter, driver: JobDriver, model_name: str, endpoint_name: str
    ) -> None:
        blue = self.new_version(adapter, driver, model_name, files=driver.servable_files("blue"))
        options = DeployOptions(faults=Faults(error_rate=0.5))
        with self.cleanup(adapter, endpoint_name):
            if adapter.capabilities.fault_injection:
                assert adapter.deploy_to_endpoint(endpoint_name, blue, "blue", options).traffic == {"blue": 100}
            else:  # refused by name, before anything exists on the platform
                with pytest.raises(UnsupportedError, match="error_rate"):
                    adapter.deploy_to_endpoint(endpoint_name, blue, "blue", options)
                with pytest.raises(NotFoundError):
                    adapter.get_endpoint(endpoint_name)

    def test_mirroring_follows_the_declared_capability(
        self, adapter: Adapter, driver: JobDriver, model_name: str, endpoint_name: str
    ) -> None:
        blue = self.new_version(adapter, driver, model_name, files=driver.servable_files("blue"))
        caps = adapter.capabilities
        with self.cleanup(adapter, endpoint_name):
            adapter.deploy_to_endpoint(endpoint_name, blue, "blue")
            adapter.deploy_to_endpoint(endpoint_name, blue, "green")
            if not caps.mirroring:
                with pytest.raises(UnsupportedError, match="cannot mirror"):
                    adapter.set_traffic(endpoint_name, {"blue": 100}, mirror={"green": 10})
            else:
                adapter.set_traffic(endpoint_name, {"blue": 100}, mirror={"green": caps.max_mirror_percent})
                with pytest.raises(ValueError, match="mirror"):
                    adapter.set_traffic(endpoint_name, {"blue": 100}, mirror={"green": caps.max_mirror_percent + 1})
            assert self.traffic_of(adapter, endpoint_name) == {"blue": 100, "green": 0}

    def test_unknown_endpoint_is_not_found(self, adapter: Adapter, endpoint_name: str) -> None:
        with pytest.raises(NotFoundError):
            adapter.set_traffic(endpoint_name, {"blue": 100})
        with pytest.raises(NotFoundError):
            adapter.delete_endpoint(endpoint_name)
