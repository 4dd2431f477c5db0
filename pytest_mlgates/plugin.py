"""pytest hooks only: options, markers, report header, summary, outputs, ledger.

This module is the ``pytest11`` entry point, so it is imported by every pytest
run on a machine where pytest-mlgates is installed. It imports nothing heavy:
no cloud SDK, pandas, scikit-learn or locust; adapters load on first use.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from . import config as cfg
from .adapters import (
    MissingSDKError,
    UnknownPlatformError,
    check_sdk_installed,
    validate_platform_name,
)
from .gates import context
from .gates.verdict import Verdict
from .stages import (
    CHAMPION_GATE,
    DRIFT_GATE,
    LEDGER_STAGES,
    LOAD_GATE,
    PLATFORM_STAGES,
    PROMOTION_GATE,
    SHADOW_GATE,
    SMOKE,
    STAGES,
)
from .stash import (
    charts_key,
    current_candidate,
    current_job_name,
    item_settings_key,
    report_key,
    run_id_key,
    settings_key,
)

#: marker -> (help written as a signature, keyword arguments it accepts -> settings path)
MARKERS: dict[str, tuple[str, dict[str, str]]] = {
    SMOKE: ("smoke(): stage 1, pull request: train on a small sample, no cloud cost.", {}),
    CHAMPION_GATE: (
        "champion_gate(*, metric=None, tolerance=None, absolute_tolerance=None, no_champion=None): "
        "stage 2: full training on the platform, challenger vs champion.",
        {"metric": "metric", "tolerance": "tolerance", "absolute_tolerance": "absolute_tolerance",
         "no_champion": "no_champion"},
    ),
    LOAD_GATE: ("load_gate(*, p99_ms=None, max_error_rate=None): stage 3: load test of the staging endpoint.",
                  {"p99_ms": "load.p99_ms", "max_error_rate": "load.max_error_rate"}),
    SHADOW_GATE: ("shadow_gate(*, margin=None, min_agreement=None): stage 3: shadow test against the champion.",
                    {"margin": "shadow.margin", "min_agreement": "shadow.min_agreement"}),
    PROMOTION_GATE: ("promotion_gate(): stage 4: progressive rollout to production with automatic rollback.", {}),
    DRIFT_GATE: ("drift_gate(): feature drift check that triggers retraining.", {}),
}

#: Extra seconds beyond a stage's configured deadline before pytest-timeout fires.
TIMEOUT_MARGIN_SECONDS = 120.0
#: Seconds allowed for deploying and health-checking an endpoint in the stages that need one.
DEPLOY_ALLOWANCE_SECONDS = 300.0

HELP = {
    "platform": "ML platform: local, sagemaker, azureml, vertex or a registered one "
                "(default: env ML_PLATFORM, then [tool.mlgates] platform, then local).",
    "job": "attach to an already-submitted training job instead of submitting one (env MLGATES_JOB).",
    "model_version": "the candidate model version handed on from the champion gate (env MLGATES_MODEL_VERSION).",
    "endpoint": "an already-deployed endpoint to test instead of deploying one (env MLGATES_ENDPOINT).",
    "report": "write a JSON report of every gate's figures to this path (env MLGATES_REPORT).",
    "state_dir": "folder of the local platform's state: registry, jobs, artifacts (env MLGATES_STATE_DIR; "
                 "default .mlgates).",
    "keep_endpoint": "keep endpoints the run created instead of deleting them (env MLGATES_KEEP_ENDPOINT).",
    "hyperparameter": "override one training hyperparameter, repeatable (env MLGATES_HYPERPARAMETERS="
                      "'k=v,k=v' or a JSON object).",
    "data": "training data for this run, overriding [tool.mlgates.training] data (env MLGATES_DATA).",
    "config": "pyproject.toml holding [tool.mlgates] (default: the one at the rootdir or above).",
}

run_state_key = pytest.StashKey["RunState"]()
sink_key = pytest.StashKey["_TestSink"]()


class _TestSink:
    """What a running test offers the gate helpers (gates.context): its settings, a list for verdicts."""

    def __init__(self, settings: cfg.Settings) -> None:
        self.settings = settings
        self.verdicts: list[Verdict] = []


class RunState:
    """What the controller collects from test reports (also from xdist workers)."""

    def __init__(self) -> None:
        self.stages: dict[str, str] = {}
        self.verdicts: list[dict[str, Any]] = []
        self.candidate: dict[str, str] | None = None
        self.job_name: str | None = None
        self.warnings: list[str] = []
        self.charts: list[dict[str, Any]] = []

    def add_stage_outcome(self, stage: str, outcome: str) -> None:
        rank = {"skipped": 0, "passed": 1, "failed": 2}
        if rank[outcome] >= rank.get(self.stages.get(stage, "skipped"), 0):
            self.stages[stage] = outcome

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        stages = [s for s in STAGES if s in report.keywords]
        if not stages:
            return  # only tests that carry a stage marker are gates; others may call helpers freely
        for key, value in report.user_properties:
            if key == "mlgates.verdict" and report.when != "teardown":
                data = json.loads(value)
                if data not in self.verdicts:
                    self.verdicts.append(data)
            elif key == "mlgates.candidate":
                self.candidate = json.loads(value)
            elif key == "mlgates.job_name":
                self.job_name = value
            elif key == "mlgates.chart" and json.loads(value) not in self.charts:
                self.charts.append(json.loads(value))
        if report.failed:
            outcome = "failed"
        elif report.when == "call" and report.passed:
            outcome = "passed"
        elif report.skipped:
            outcome = "skipped"
        else:
            return
        for stage in stages:
            self.add_stage_outcome(stage, outcome)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlgates", "ML CI/CD quality gates (pytest-mlgates)")
    group.addoption("--ml-platform", dest="ml_platform", metavar="NAME", default=None, help=HELP["platform"])
    group.addoption("--mlgates-job", dest="mlgates_job", metavar="NAME", default=None, help=HELP["job"])
    group.addoption("--mlgates-model-version", dest="mlgates_model_version", metavar="V", default=None,
                    help=HELP["model_version"])
    group.addoption("--mlgates-endpoint", dest="mlgates_endpoint", metavar="NAME", default=None,
                    help=HELP["endpoint"])
    group.addoption("--mlgates-report", dest="mlgates_report", metavar="PATH", default=None, help=HELP["report"])
    group.addoption("--mlgates-state-dir", dest="mlgates_state_dir", metavar="DIR", default=None,
                    help=HELP["state_dir"])
    group.addoption("--mlgates-keep-endpoint", dest="mlgates_keep_endpoint", action="store_const", const=True,
                    default=None, help=HELP["keep_endpoint"])
    group.addoption("--mlgates-hyperparameter", dest="mlgates_hyperparameter", metavar="KEY=VALUE",
                    action="append", default=None, help=HELP["hyperparameter"])
    group.addoption("--mlgates-data", dest="mlgates_data", metavar="PATH_OR_URI", default=None,
                    help=HELP["data"])
    group.addoption("--mlgates-config", dest="mlgates_config", metavar="PATH", default=None, help=HELP["config"])
    parser.addini("mlgates_state_dir", HELP["state_dir"], default="")
    parser.addini("mlgates_report", HELP["report"], default="")


def _pyproject_for(config: pytest.Config) -> Path | None:
    explicit = config.getoption("mlgates_config")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise pytest.UsageError(f"--mlgates-config {explicit}: no such file")
        return path
    # The project's configuration must not depend on how an option was spelled: ``--mlgates-state-dir DIR``
    # (with a space) makes pytest take DIR as a path argument and may move the rootdir and ini file.
    # So the nearest [tool.mlgates] from where pytest was started wins, then the ini file, then the rootdir.
    start = Path(config.invocation_params.dir)
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_mlgates_table(candidate):
            return candidate
    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return Path(config.inipath)
    return cfg.find_pyproject(Path(config.rootpath))


def _has_mlgates_table(pyproject: Path) -> bool:
    try:
        return bool(cfg.read_table(pyproject)) or "[tool.mlgates" in pyproject.read_text(errors="replace")
    except (cfg.ConfigError, OSError):
        return True  # let load_settings report the broken file


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker, (text, _) in MARKERS.items():
        config.addinivalue_line("markers", text)
    cli = {dest: config.getoption(dest) for _, dest, _, _ in cfg.OPTION_KEYS}
    cli["mlgates_hyperparameter"] = config.getoption("mlgates_hyperparameter")
    cli["mlgates_data"] = config.getoption("mlgates_data")
    ini = {key: config.getini(key) for key in ("mlgates_state_dir", "mlgates_report")}
    try:
        settings = cfg.load_settings(_pyproject_for(config), cli=cli, ini=ini)
        validate_platform_name(settings.platform)
        check_sdk_installed(settings.platform)
    except UnknownPlatformError as exc:
        raise pytest.UsageError(f"{exc} (platform from {settings.source_of('platform')})") from None
    except (cfg.ConfigError, MissingSDKError) as exc:
        raise pytest.UsageError(f"pytest-mlgates: {exc}") from None
    config.stash[settings_key] = settings
    if not hasattr(config, "workerinput"):
        _check_output_files(config, settings)
    config.stash[run_state_key] = state = RunState()
    config.pluginmanager.register(state, "mlgates-run-state")
    from .fixtures import FIXTURE_MODULES

    for module in FIXTURE_MODULES:
        config.pluginmanager.import_plugin(module)
    if not hasattr(config, "workerinput"):
        config.stash[run_id_key] = uuid.uuid4().hex
    else:
        config.stash[run_id_key] = config.workerinput["mlgates_run_id"]  # type: ignore[attr-defined]
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "mlgates-xdist")
    from .fixtures.smoke import EarlySmoke  # stdlib and pytest only

    config.pluginmanager.register(EarlySmoke(config), "mlgates-early-smoke")


def _output_targets(config: pytest.Config, settings: cfg.Settings) -> dict[str, Any]:
    """Every CI output file this run will write, by the name a user set it with."""
    return {"$GITHUB_OUTPUT": os.environ.get("GITHUB_OUTPUT"), "$GITHUB_STEP_SUMMARY": os.environ.get("GITHUB_STEP_SUMMARY"),
            "$MLGATES_PR_COMMENT": os.environ.get("MLGATES_PR_COMMENT"),
            f"the JSON report ({settings.source_of('report')})": settings.path(settings.report) if settings.report else None,
            "--junitxml": getattr(config.option, "xmlpath", None)}


def _check_output_files(config: pytest.Config, settings: cfg.Settings) -> None:
    """Refuse to start (before any job is submitted) when an output file could not be written."""
    from .report.files import output_file_problems

    problems = output_file_problems(_output_targets(config, settings))
    if problems:
        raise pytest.UsageError("pytest-mlgates: " + "\n".join(problems))


class _XdistHooks:
    """Hands the controller's run id to every worker, so they share one training job."""

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["mlgates_run_id"] = node.config.stash[run_id_key]


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[settings_key]
    direction = "higher is better" if s.greater_is_better else "lower is better"
    return (f"mlgates: platform={s.platform} ({s.source_of('platform')}), model={s.model_name}, "
            f"metric={s.metric} ({direction}), tolerance={s.tolerance:.3g}")


def _stages_of(item: pytest.Item) -> list[pytest.Mark]:
    return [m for m in item.iter_markers() if m.name in MARKERS]


def _check_marker(item: pytest.Item, mark: pytest.Mark) -> dict[str, Any]:
    text, accepted = MARKERS[mark.name]
    where = f"{item.nodeid}: @pytest.mark.{mark.name}"
    if mark.args:
        raise pytest.UsageError(f"{where} takes keyword arguments only, got positional {mark.args!r}; "
                                f"signature: {text.split(':')[0]}")
    unknown = sorted(set(mark.kwargs) - set(accepted))
    if unknown:
        raise pytest.UsageError(f"{where} got unknown argument(s) {', '.join(unknown)}; "
                                f"signature: {text.split(':')[0]}")
    return {accepted[k]: v for k, v in mark.kwargs.items()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[settings_key]
    timeout_plugin = config.pluginmanager.hasplugin("timeout")
    user_timeout = timeout_plugin and (config.getoption("timeout", None) is not None
                                       or config.getini("timeout") not in (None, "", "0", 0))
    if items and any(_stages_of(item) for item in items) and not settings.sources.get("model_name"):
        pyproject = _pyproject_for(config)
        if pyproject is None or not _has_mlgates_table(pyproject):
            import warnings

            warnings.warn(pytest.PytestConfigWarning(
                f"pytest-mlgates: gate tests are selected but no [tool.mlgates] table was found "
                f"(searched pyproject.toml from {config.invocation_params.dir} upwards); running on the defaults "
                f"(model {settings.model_name!r}, metric {settings.metric}); add [tool.mlgates] or pass --mlgates-config"),
                stacklevel=1)
    if any(m.name in PLATFORM_STAGES for item in items for m in _stages_of(item)):
        from .adapters import check_platform_settings

        try:
            check_platform_settings(settings.platform, settings)
        except cfg.ConfigError as exc:
            raise pytest.UsageError(f"pytest-mlgates: {exc}") from None
    for item in items:
        overrides: dict[str, Any] = {}
        marks = _stages_of(item)
        for mark in marks:
            overrides.update(_check_marker(item, mark))
        if overrides:
            try:
                item.stash[item_settings_key] = cfg.with_overrides(settings, overrides, item.nodeid)
            except cfg.ConfigError as exc:
                message, names = str(exc), "/".join(f"@pytest.mark.{m.name}" for m in marks if m.kwargs)
                if message.startswith(item.nodeid):  # a value of the wrong type: its argument is already named
                    raise pytest.UsageError(f"{names} of {message}") from None
                where = ", ".join(f"@pytest.mark.{m.name}({', '.join(f'{k}={v!r}' for k, v in m.kwargs.items())})"
                                  for m in marks if m.kwargs)
                raise pytest.UsageError(f"{item.nodeid}: {where}: {message}") from None
        if timeout_plugin and not user_timeout and marks and item.get_closest_marker("timeout") is None:
            seconds = stage_timeout(settings, {m.name for m in marks})
            if seconds:
                method = "signal" if hasattr(signal, "SIGALRM") else "thread"
                item.add_marker(pytest.mark.timeout(seconds, method=method))


def stage_timeout(settings: cfg.Settings, stages: set[str]) -> float | None:
    """Default pytest-timeout for a gate test: the stage's own deadline plus a margin."""
    seconds = 0.0
    if stages & {CHAMPION_GATE, SMOKE}:
        seconds = max(seconds, settings.training.timeout_minutes * 60.0)
    if stages & {LOAD_GATE, SHADOW_GATE}:
        seconds = max(seconds, settings.load.duration + DEPLOY_ALLOWANCE_SECONDS)
    if PROMOTION_GATE in stages:
        rollout = settings.rollout
        bake = (rollout.max_bake_seconds or 6 * rollout.bake_seconds) if rollout.sequential else rollout.bake_seconds
        seconds = max(seconds, bake * len(rollout.steps) + DEPLOY_ALLOWANCE_SECONDS)
    return seconds + TIMEOUT_MARGIN_SECONDS if seconds else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
    """Make this test current for the gate helpers: they judge by its settings and hand it their verdicts."""
    if settings_key not in item.config.stash:  # another pytest-mlgates run's item (nested pytester)
        yield
        return
    settings = item.stash.get(item_settings_key, None) or item.config.stash[settings_key]
    item.stash[sink_key] = sink = _TestSink(settings)
    with context.running(sink):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    # Runs where the test ran (an xdist worker too): move this phase's verdicts
    # and the candidate into user_properties, which travel back to the controller
    # and into JUnit XML.
    sink = item.stash.get(sink_key, None)
    drained, sink_verdicts = (list(sink.verdicts), sink.verdicts) if sink is not None else ([], [])
    sink_verdicts.clear()
    for verdict in drained:
        item.user_properties.append(("mlgates.verdict", json.dumps(verdict.to_dict(), default=str)))
        for key, value in verdict.figures.items():
            if isinstance(value, (int, float, str, bool)):
                item.user_properties.append((f"mlgates.{verdict.gate}.{key}", value))
    candidate = current_candidate(item.config)
    if candidate and not any(k == "mlgates.candidate" for k, _ in item.user_properties):
        item.user_properties.append(("mlgates.candidate", json.dumps(candidate)))
    for chart in item.config.stash.get(charts_key, []):  # figures for the step summary's charts
        prop = ("mlgates.chart", json.dumps(chart, default=str))
        if prop not in item.user_properties:
            item.user_properties.append(prop)
    job_name = current_job_name(item.config)
    if job_name and not any(k == "mlgates.job_name" for k, _ in item.user_properties):
        item.user_properties.append(("mlgates.job_name", job_name))
    yield


def build_run_report(config: pytest.Config) -> dict[str, Any]:
    """The run's figures as one dict: JSON report, step summary and Slack all use it."""
    from .release.ledger import current_commit
    from .report import merged_outputs
    from .report.charts import report_charts

    settings, state = config.stash[settings_key], config.stash[run_state_key]
    run_url = None
    if os.environ.get("GITHUB_RUN_ID") and os.environ.get("GITHUB_REPOSITORY"):
        run_url = (f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/"
                   f"{os.environ['GITHUB_REPOSITORY']}/actions/runs/{os.environ['GITHUB_RUN_ID']}")
    return {
        "platform": settings.platform,
        "model_name": settings.model_name,
        "metric": settings.metric,
        "stages": dict(state.stages),
        "candidate": state.candidate,
        "verdicts": list(state.verdicts),
        "outputs": merged_outputs(state.verdicts, state.candidate, state.stages, state.job_name),
        "commit": current_commit(settings.root),
        "run_url": run_url,
        "charts": report_charts({"charts": state.charts, "verdicts": state.verdicts}),
    }


def _record_ledger(config: pytest.Config, report: dict[str, Any]) -> list[str]:
    """Write each judged stage's verdict on the candidate's registry entry."""
    state, settings = config.stash[run_state_key], config.stash[settings_key]
    candidate = state.candidate
    stages = {s: o for s, o in state.stages.items() if s in LEDGER_STAGES and o in ("passed", "failed")}
    if not candidate or not stages:
        return []
    from .adapters import get_adapter
    from .release.ledger import NO_CHAMPION, record_stage

    adapter = get_adapter(settings.platform, settings)
    try:
        model = adapter.get_model_version(candidate["name"], candidate["version"])
        lines = []
        for stage, outcome in stages.items():
            champion = (candidate.get("champion") or NO_CHAMPION) if stage == CHAMPION_GATE else None
            model = record_stage(adapter, model, stage, outcome == "passed", report["commit"], champion)
            lines.append(f"ledger: {model.id} mlgates.gate.{stage} = {outcome}")
        return lines
    finally:
        adapter.close()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or run_state_key not in config.stash:
        return
    state = config.stash[run_state_key]
    if not state.stages and not state.verdicts:
        return
    from . import report as out

    report = build_run_report(config)
    try:
        state.warnings.extend(f"{line}" for line in _record_ledger(config, report))
    except Exception as exc:  # noqa: BLE001 - report it; the tests already have their verdict
        state.warnings.append(f"WARNING: could not record the gate ledger: {type(exc).__name__}: {exc}")
        if exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    from .report.comment import write_pr_comment
    from .report.files import OutputFileError, write_named

    settings = config.stash[settings_key]
    targets = _output_targets(config, settings)
    writes = [("$GITHUB_OUTPUT", lambda: out.write_github_output(report["outputs"])),
              ("$GITHUB_STEP_SUMMARY", lambda: out.write_step_summary(report)),
              ("$MLGATES_PR_COMMENT", lambda: write_pr_comment(report))]
    if settings.report:
        writes.append((next(k for k in targets if k.startswith("the JSON report")),
                       lambda: out.write_json_report(report, settings.path(settings.report))))
    for name, write in writes:
        try:
            write_named(name, targets[name], write)
        except (OutputFileError, ValueError) as exc:  # the verdicts are still shown; the run fails closed
            state.warnings.append(f"ERROR: {exc}")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    try:
        from .report.slack import send_stage_notification
    except ImportError:
        send_stage_notification = None  # type: ignore[assignment]
    if send_stage_notification is not None:
        warning = send_stage_notification(report)
        if warning:
            state.warnings.append(f"WARNING: {warning}")
    config.stash[report_key] = report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if run_state_key not in config.stash or hasattr(config, "workerinput"):
        return
    state = config.stash[run_state_key]
    if not state.stages and not state.verdicts:
        return
    tr = terminalreporter
    tr.write_sep("=", "mlgates gates")
    for stage, outcome in state.stages.items():
        tr.write_line(f"stage {stage}: {outcome}", red=outcome == "failed", green=outcome == "passed")
    for verdict in state.verdicts:
        word = "PASSED" if verdict["passed"] else "FAILED"
        tr.write_line(f"[{verdict['gate']}] {word}", red=not verdict["passed"], green=verdict["passed"])
        for line in verdict["message"].splitlines():
            tr.write_line(f"    {line}")
    report = config.stash.get(report_key, None)
    if report and report["outputs"]:
        tr.write_line("outputs: " + ", ".join(f"{k}={v}" for k, v in report["outputs"].items()))
    for line in state.warnings:
        tr.write_line(line, yellow=line.startswith("WARNING"), red=line.startswith("ERROR"))
