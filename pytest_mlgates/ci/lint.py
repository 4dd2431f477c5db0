"""Lint GitHub Actions workflows for the ML CI mistakes that cost money or ship a worse model.

Six checks, each with a stable code:

- MLG001 a job that trains or deploys has no ``timeout-minutes``
- MLG002 production is not chained after staging by ``needs:``
- MLG003 promotion is not guarded by the champion verdict (``should_promote == 'true'``)
- MLG004 full training runs on every push or pull request
- MLG005 production has no approval ``environment:``
- MLG006 the cloud training job is not cancelled when the run fails or is cancelled
- MLG007 an output names a metric (``challenger_<metric>``) that the project's [tool.mlgates] does not have
- MLG008 (warning) a scheduled run on GitHub-hosted runners with the ``local`` platform starts from an
  empty registry every time

Warnings are reported but do not change the exit status.

Jobs are recognised by what they run (``pytest -m champion_gate``, cloud CLI
verbs such as ``create-training-job``), then by their id or name
(``train``, ``staging``, ``production``). The workflow is read with PyYAML's
composer, so every finding carries the line of the job or key it is about,
and ``on:`` stays the string it is written as (YAML 1.1 would load it as True).

A finding can be silenced on purpose with a comment on the job's line or the
line above it: ``# mlgates-lint: ignore[MLG001]`` (or ``ignore`` for all).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..stages import CHAMPION_GATE, LOAD_GATE, PROMOTION_GATE, SHADOW_GATE

CHECKS: dict[str, tuple[str, str, str]] = {
    "MLG001": (
        "no-timeout",
        "GitHub's default job timeout is 360 minutes: a stuck training job or an endpoint that never becomes "
        "healthy holds the runner, and keeps the cloud job billing, for six hours.",
        "add `timeout-minutes: N` to the job, a little above the longest expected wait "
        "([tool.mlgates.training] timeout_minutes for training).",
    ),
    "MLG002": (
        "production-not-after-staging",
        "without `needs:` on the staging job, production can start before (or without) the load and shadow "
        "gates, so a model that fails under load still reaches users.",
        "add the staging job to the production job's `needs:` (directly or through another job).",
    ),
    "MLG003": (
        "unguarded-promotion",
        "the champion gate's verdict is the `should_promote` output; a promotion that does not test it "
        "(as the string 'true') can ship a challenger that is worse than the champion.",
        "add `if: needs.<champion job>.outputs.should_promote == 'true'` to the production job "
        "(outputs are strings: `== true` is never true and a bare `should_promote` is true for 'false').",
    ),
    "MLG004": (
        "training-on-every-push",
        "full training on every push or pull request runs (and bills) a cloud training job for every commit; "
        "pull requests only need the smoke gate, which trains on a small sample without credentials.",
        "run full training on `schedule`, `workflow_dispatch` or a drift alert, or restrict the job with "
        "`if: github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'`.",
    ),
    "MLG005": (
        "production-without-approval",
        "without an environment, nothing stops an automatic promotion: a required reviewer on the "
        "environment is the manual approval before production.",
        "add `environment: production` to the job and configure required reviewers for that environment "
        "in the repository settings.",
    ),
    "MLG006": (
        "no-cloud-cleanup",
        "when the runner job fails, times out or is cancelled, the cloud training job keeps running and billing.",
        "add a last step with `if: failure() || cancelled()` that cancels the job, e.g. "
        "`mlgates cancel --job \"$JOB_NAME\"`.",
    ),
    "MLG007": (
        "output-metric-not-in-config",
        "the workflow hands on `challenger_<metric>`/`champion_<metric>` outputs, but the champion gate writes "
        "them for the [tool.mlgates] metric only: these outputs stay empty and whatever reads them sees nothing.",
        "name the outputs after [tool.mlgates] metric (re-run `mlgates init --force --only workflows`), or change "
        "the metric in the config.",
    ),
    "MLG008": (
        "local-state-lost",
        "a GitHub-hosted runner starts empty: with the `local` platform the registry, the champion and the "
        "endpoints live in the runner's state folder, so every scheduled retrain is a first deployment and "
        "the champion gate never compares against anything.",
        "use a cloud platform (ML_PLATFORM / [tool.mlgates] platform), or a self-hosted runner with a "
        "persistent --mlgates-state-dir; see docs/workflows.md.",
    ),
}

WARNINGS = frozenset({"MLG008"})
"""Checks reported as warnings: shown, but the exit status stays 0."""

_TRAIN_CMD = re.compile(
    r"create-training-job|az\s+ml\s+job\s+create|gcloud\s+ai\s+custom-jobs\s+create|"
    r"gcloud\s+ai\s+hp-tuning-jobs\s+create|aiplatform\.CustomJob|\.fit\(|mlgates\s+pipeline", re.I)
_DEPLOY_CMD = re.compile(
    r"create-endpoint|update-endpoint|az\s+ml\s+online-(deployment|endpoint)\s+(create|update)|"
    r"gcloud\s+ai\s+endpoints\s+deploy-model|mlgates\s+promote|\.deploy\(", re.I)
_PROMOTE_CMD = re.compile(r"mlgates\s+promote", re.I)
_CANCEL_CMD = re.compile(
    r"mlgates\s+cancel|cancel_job|stop-training-job|az\s+ml\s+job\s+cancel|gcloud\s+ai\s+custom-jobs\s+cancel|"
    r"\.cancel\(\)", re.I)
_MARKER = re.compile(r"""(?:^|\s)-m\s*(?:"([^"]*)"|'([^']*)'|([^\s;&|]+))""")
_NOT_TERM = re.compile(r"\bnot\s+(\([^)]*\)|\w+)")
_STATUS_OVERRIDE = re.compile(r"\b(always|cancelled|failure)\s*\(\s*\)")
_TRUE_GUARD = re.compile(r"should_promote\s*==\s*'true'|'true'\s*==\s*[\w.\-\[\]']*should_promote", re.I)
_IGNORE = re.compile(r"mlgates-lint:\s*ignore(?:\[([A-Z0-9,\s]+)\])?")
_PUSH_PR = ("push", "pull_request", "pull_request_target")


class LintInputError(ValueError):
    """A workflow file cannot be read or is not a GitHub Actions workflow."""


@dataclass
class Finding:
    code: str
    file: str
    job: str
    line: int
    message: str
    why: str = ""
    fix: str = ""
    name: str = field(default="")
    severity: str = ""
    """"error" or "warning" (WARNINGS)."""

    def __post_init__(self) -> None:
        slug, why, fix = CHECKS[self.code]
        self.name = self.name or slug
        self.severity = self.severity or ("warning" if self.code in WARNINGS else "error")
        self.why = self.why or why
        self.fix = self.fix or fix

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        level = " (warning)" if self.severity == "warning" else ""
        return (f"{self.file}:{self.line}: {self.code}{level} {self.name}: job '{self.job}': {self.message}\n"
                f"    why: {self.why}\n    fix: {self.fix}")


# -- YAML with line numbers ---------------------------------------------------------------------


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _get(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of ``key`` in a mapping node, by the key as written."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    pair = _get(node, key)
    return pair[1] if pair else None


def _text(node: yaml.Node | None) -> str:
    """A scalar's text, or every scalar under a node joined (for run scripts and `with:` values)."""
    if node is None:
        return ""
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    if isinstance(node, yaml.SequenceNode):
        return "\n".join(_text(n) for n in node.value)
    if isinstance(node, yaml.MappingNode):
        return "\n".join(_text(v) for _, v in node.value)
    return ""


def _strings(node: yaml.Node | None) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [node.value] if node.value else []
    if isinstance(node, yaml.SequenceNode):
        return [n.value for n in node.value if isinstance(n, yaml.ScalarNode)]
    return []


def _expr(text: str) -> str:
    text = text.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return text.strip()


# -- the model of a workflow --------------------------------------------------------------------


@dataclass
class Step:
    line: int
    run: str
    uses: str
    condition: str
    text: str


@dataclass
class Job:
    id: str
    line: int
    name: str
    condition: str
    condition_line: int
    needs: list[str]
    needs_line: int
    environment: str | None
    has_timeout: bool
    reusable: bool
    steps: list[Step]
    runs_on: str = ""
    env: dict[str, str] = field(default_factory=dict)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    """(output name, line) of the job's ``outputs:``."""

    @property
    def script(self) -> str:
        return "\n".join(s.text for s in self.steps)

    def markers(self) -> list[str]:
        """Marker expressions of every ``pytest -m EXPR`` the job runs."""
        found = []
        for line in self.script.splitlines():
            if "pytest" not in line:
                continue
            for match in _MARKER.finditer(line):
                expr = next(g for g in match.groups() if g is not None)
                if expr != "pytest":
                    found.append(expr)
        return found

    def runs_marker(self, *names: str) -> bool:
        for expr in self.markers():
            positive = _NOT_TERM.sub(" ", expr)
            if any(re.search(rf"\b{n}\b", positive) for n in names):
                return True
        return False

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}".lower()


@dataclass
class Workflow:
    path: str
    lines: list[str]
    triggers: dict[str, tuple[int, yaml.Node | None]]
    jobs: dict[str, Job]
    env: dict[str, str] = field(default_factory=dict)


def _parse_job(job_id: str, key: yaml.Node, node: yaml.Node, path: str) -> Job:
    if not isinstance(node, yaml.MappingNode):
        raise LintInputError(f"{path}:{_line(key)}: job {job_id!r} must be a mapping")
    cond_pair = _get(node, "if")
    needs_pair = _get(node, "needs")
    env_node = _value(node, "environment")
    environment = None
    if env_node is not None:
        environment = _text(_value(env_node, "name")) if isinstance(env_node, yaml.MappingNode) else _text(env_node)
        environment = environment or "(unnamed)"
    steps = []
    steps_node = _value(node, "steps")
    if isinstance(steps_node, yaml.SequenceNode):
        for step in steps_node.value:
            run = _text(_value(step, "run"))
            uses = _text(_value(step, "uses"))
            steps.append(Step(_line(step), run, uses, _expr(_text(_value(step, "if"))),
                              "\n".join((run, uses, _text(_value(step, "with")), _text(_value(step, "name"))))))
    return Job(
        id=job_id, line=_line(key), name=_text(_value(node, "name")),
        condition=_expr(_text(cond_pair[1])) if cond_pair else "",
        condition_line=_line(cond_pair[0]) if cond_pair else _line(key),
        needs=_strings(needs_pair[1]) if needs_pair else [],
        needs_line=_line(needs_pair[0]) if needs_pair else _line(key),
        environment=environment,
        has_timeout=_get(node, "timeout-minutes") is not None,
        reusable=_get(node, "uses") is not None,
        steps=steps,
        runs_on=_text(_value(node, "runs-on")),
        env=_env(_value(node, "env")),
        outputs=_keys(_value(node, "outputs")),
    )


def _env(node: yaml.Node | None) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def _keys(node: yaml.Node | None) -> list[tuple[str, int]]:
    return [(_text(k), _line(k)) for k, _ in node.value] if isinstance(node, yaml.MappingNode) else []


def parse_workflow(text: str, path: str = "<workflow>") -> Workflow:
    """Read a workflow into jobs and triggers, keeping line numbers; raises LintInputError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise LintInputError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(root, yaml.MappingNode):
        raise LintInputError(f"{path}: a workflow must be a YAML mapping with `on:` and `jobs:`")
    on_node = _value(root, "on")  # the key as written: no YAML 1.1 `on` -> True conversion here
    jobs_node = _value(root, "jobs")
    if on_node is None or not isinstance(jobs_node, yaml.MappingNode):
        raise LintInputError(f"{path}: not a GitHub Actions workflow (it needs an `on:` trigger and a `jobs:` "
                             f"mapping)")
    triggers: dict[str, tuple[int, yaml.Node | None]] = {}
    if isinstance(on_node, yaml.ScalarNode):
        triggers[on_node.value] = (_line(on_node), None)
    elif isinstance(on_node, yaml.SequenceNode):
        for item in on_node.value:
            triggers[_text(item)] = (_line(item), None)
    elif isinstance(on_node, yaml.MappingNode):
        for k, v in on_node.value:
            triggers[_text(k)] = (_line(k), v)
    jobs = {}
    for key, value in jobs_node.value:
        jobs[_text(key)] = _parse_job(_text(key), key, value, path)
    return Workflow(path, text.splitlines(), triggers, jobs, _env(_value(root, "env")))


# -- what each job is ---------------------------------------------------------------------------


def is_training(job: Job) -> bool:
    if job.runs_marker(CHAMPION_GATE) or _TRAIN_CMD.search(job.script):
        return True
    return bool(re.search(r"train", job.label)) and not job.markers()


def submits_training(job: Job) -> bool:
    """Trains and owns the cloud job (does not just attach to one with --mlgates-job)."""
    return is_training(job) and "--mlgates-job" not in job.script and "MLGATES_JOB" not in job.script


def is_staging(job: Job) -> bool:
    if job.runs_marker(LOAD_GATE, SHADOW_GATE):
        return True
    return "staging" in job.label or bool(job.environment and "staging" in job.environment.lower())


def is_production(job: Job) -> bool:
    if job.runs_marker(PROMOTION_GATE) or _PROMOTE_CMD.search(job.script):
        return True
    if job.environment and "prod" in job.environment.lower():
        return True
    return bool(re.search(r"prod|promot", job.label)) and not is_staging(job)


def is_deploying(job: Job) -> bool:
    return is_staging(job) or is_production(job) or bool(_DEPLOY_CMD.search(job.script)) or "deploy" in job.label


def _ancestors(wf: Workflow, job: Job) -> set[str]:
    seen: set[str] = set()
    todo = list(job.needs)
    while todo:
        name = todo.pop()
        if name in seen or name not in wf.jobs:
            continue
        seen.add(name)
        todo.extend(wf.jobs[name].needs)
    return seen


def _inherits(wf: Workflow, job: Job, own: Any, seen: frozenset[str] = frozenset()) -> bool:
    """``own(job)`` holds, or holds for a need and ``job``'s if: does not override the skip propagation."""
    if own(job):
        return True
    if job.id in seen or _STATUS_OVERRIDE.search(job.condition):
        return False
    return any(_inherits(wf, wf.jobs[n], own, seen | {job.id}) for n in job.needs if n in wf.jobs)


def _event_restricted(job: Job) -> bool:
    compared = re.findall(r"github\.event_name\s*(==|!=)\s*'([\w-]+)'", job.condition)
    if not compared:
        return bool(re.search(r"github\.event\.schedule|inputs\.", job.condition)) and "||" not in job.condition
    equal = {event for op, event in compared if op == "=="}
    unequal = {event for op, event in compared if op == "!="}
    if equal:
        return not (equal & set(_PUSH_PR))
    return {"push", "pull_request"} <= unequal


# -- the checks ---------------------------------------------------------------------------------


def _ignored(wf: Workflow, line: int, code: str) -> bool:
    for number in (line, line - 1):
        if 1 <= number <= len(wf.lines):
            match = _IGNORE.search(wf.lines[number - 1])
            if match and (match.group(1) is None or code in re.split(r"[,\s]+", match.group(1))):
                return True
    return False


def check_workflow(wf: Workflow, config: dict[str, Any] | None = None) -> list[Finding]:
    """Every finding of the checks in one parsed workflow; ``config`` is the project's [tool.mlgates]
    (None when it is not known: the checks that need it are skipped, MLG008 assumes the default platform)."""
    findings: list[Finding] = []

    def add(code: str, job: Job, line: int, message: str) -> None:
        if not (_ignored(wf, job.line, code) or _ignored(wf, line, code)):
            findings.append(Finding(code, wf.path, job.id, line, message))

    staging_jobs = [j.id for j in wf.jobs.values() if is_staging(j) and not is_production(j)]
    has_champion_gate = any(j.runs_marker(CHAMPION_GATE) for j in wf.jobs.values())
    every_push: list[Job] = []
    for job in wf.jobs.values():
        training, deploying, production = is_training(job), is_deploying(job), is_production(job)
        if (training or deploying) and not job.reusable and not job.has_timeout:
            what = "trains" if training else "deploys"
            add("MLG001", job, job.line, f"the job {what} but has no `timeout-minutes`")
        if production:
            ancestors = _ancestors(wf, job)
            if not staging_jobs:
                add("MLG002", job, job.needs_line,
                    "production has no staging job before it: no job in this workflow runs the load or shadow gate")
            elif not ancestors & set(staging_jobs):
                add("MLG002", job, job.needs_line,
                    f"production does not need the staging job ({', '.join(staging_jobs)}) directly or "
                    f"indirectly")
            if "should_promote" in job.condition and not _TRUE_GUARD.search(job.condition):
                add("MLG003", job, job.condition_line,
                    f"`if: {job.condition}` tests should_promote without comparing it to the string 'true'")
            elif not _inherits(wf, job, lambda j: bool(_TRUE_GUARD.search(j.condition))):
                where = ("" if has_champion_gate else "; no job in this workflow runs the champion gate, so there "
                         "is no verdict to test")
                add("MLG003", job, job.condition_line,
                    f"nothing on the path to this job tests `should_promote == 'true'`{where}")
            if job.environment is None and not job.reusable:
                add("MLG005", job, job.line, "production runs without an approval `environment:`")
        if training and not job.runs_marker("smoke") and not _inherits(wf, job, _event_restricted):
            every_push.append(job)
        if submits_training(job) and not job.reusable and not _has_cleanup(wf, job):
            add("MLG006", job, job.line,
                "no step or job cancels the training job when the run fails or is cancelled")
    pushes = [(name, line) for name, (line, spec) in wf.triggers.items()
              if name in _PUSH_PR and not _tags_only(spec)]
    if pushes and every_push:
        names = " and ".join(f"`{n}`" for n, _ in pushes)
        others = f" (also: {', '.join(j.id for j in every_push[1:])})" if len(every_push) > 1 else ""
        add("MLG004", every_push[0], pushes[0][1],
            f"the workflow runs on {names} and this job runs full training on every one{others}")
    state_warned = False
    for job in wf.jobs.values():
        state_warned = _project_checks(wf, job, config, add, not state_warned) or state_warned
    findings.sort(key=lambda f: (f.line, f.code))
    return findings


_METRIC_OUTPUT = re.compile(r"^(?:challenger|champion)_(.+)$")
_GITHUB_HOSTED = re.compile(r"\b(ubuntu|windows|macos)-[\w.]+\b")


def _project_checks(wf: Workflow, job: Job, config: dict[str, Any] | None, add: Any, check_state: bool) -> bool:
    """MLG007 and MLG008 (once per workflow): what the workflow says against the project's config.
    Returns whether MLG008 was reported."""
    if config is not None:
        metric = re.sub(r"[^A-Za-z0-9_-]", "_", str(config.get("metric") or "val_mae"))
        for key, line in job.outputs:
            match = _METRIC_OUTPUT.match(key)
            if match and match.group(1) != metric:
                add("MLG007", job, line, f"output `{key}` names metric {match.group(1)!r}, but [tool.mlgates] "
                                         f"metric is {metric!r}")
    if not check_state or "schedule" not in wf.triggers or not is_training(job):
        return False
    if "self-hosted" in job.runs_on or not _GITHUB_HOSTED.search(job.runs_on):
        return False
    platform = job.env.get("ML_PLATFORM") or wf.env.get("ML_PLATFORM")
    if platform:
        local = bool(re.search(r"\blocal\b", platform))
    else:  # the project's configured platform; unknown without a config, and then no warning
        local = config is not None and str(config.get("platform") or "local") == "local"
    if local:
        add("MLG008", job, job.line, f"scheduled on GitHub-hosted `{job.runs_on}` with the `local` platform "
                                     f"(ML_PLATFORM {platform or 'unset: [tool.mlgates] platform'}): the registry "
                                     f"does not survive between runs")
    return local


def _tags_only(spec: yaml.Node | None) -> bool:
    """A push trigger limited to tags (a release) is not 'every push'."""
    return (spec is not None and _get(spec, "tags") is not None and _get(spec, "branches") is None
            and _get(spec, "branches-ignore") is None)


def _cleans_up(condition: str) -> bool:
    return bool(re.search(r"\b(failure|cancelled|always)\s*\(\s*\)", condition)) and not re.search(
        r"!\s*cancelled\s*\(\s*\)", condition.replace("always()", ""))


def _has_cleanup(wf: Workflow, job: Job) -> bool:
    for step in job.steps:
        if _CANCEL_CMD.search(step.text) and _cleans_up(step.condition):
            return True
    for other in wf.jobs.values():
        if job.id in other.needs and _cleans_up(other.condition) and _CANCEL_CMD.search(other.script):
            return True
    return False


# -- files --------------------------------------------------------------------------------------


def workflow_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The workflow files named by ``paths`` (files, or folders searched for *.yml and *.yaml)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
            if not found:
                raise LintInputError(f"{path}: no .yml or .yaml workflow files in this folder")
            yield from found
        elif path.is_file():
            yield path
        else:
            raise LintInputError(f"{path}: no such file or folder")


def project_config(path: str | Path) -> dict[str, Any] | None:
    """The [tool.mlgates] table of the project a workflow file belongs to (the nearest pyproject.toml
    above it), or None when that has none."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    for folder in Path(path).resolve().parents:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                return None
            table = tool.get("mlgates") if isinstance(tool, dict) else None
            return table if isinstance(table, dict) else None
    return None


def lint_file(path: str | Path) -> list[Finding]:
    """The findings of one workflow file; raises LintInputError when it cannot be read as one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LintInputError(f"{path}: cannot read it: {exc}") from exc
    return check_workflow(parse_workflow(text, str(path)), project_config(path))


def render(findings: list[Finding], fmt: str = "text") -> str:
    """Findings as text, JSON or GitHub annotations (``::error file=...``)."""
    if fmt == "json":
        return json.dumps([f.to_dict() for f in findings], indent=2)
    if fmt == "github":
        return "\n".join(
            f"::{f.severity} file={f.file},line={f.line},title={f.code} {f.name}::job '{f.job}': {f.message}. "
            f"Why: {f.why} Fix: {f.fix}".replace("\n", " ") for f in findings)
    return "\n".join(f.render() for f in findings)


__all__ = ["CHECKS", "WARNINGS", "Finding", "project_config", "LintInputError", "check_workflow", "lint_file", "parse_workflow", "render",
           "workflow_files"]
