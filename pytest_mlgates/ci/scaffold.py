"""Scaffolding of ``mlgates init``: config, gate tests and workflows rendered from ci/templates.

Writes, asking nothing:

- a ``[tool.mlgates]`` table appended to ``pyproject.toml`` (created if
  missing), with the defaults as comments;
- a gate test module, ``tests/test_mlgates_gates.py``;
- two workflows, ``.github/workflows/mlgates-pr.yml`` (pull requests: unit
  tests and the smoke gate, no cloud) and ``.github/workflows/mlgates-retrain.yml``
  (drift -> train -> champion gate -> staging -> production).

An existing file, or an existing ``[tool.mlgates]`` table, is never changed
without ``--force``. Templates are plain files in ``pytest_mlgates/ci/templates``
with ``@@NAME@@`` placeholders (GitHub's ``${{ }}`` stays untouched).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..adapters.platforms import CLOUDS, PLATFORMS

PARTS = ("config", "tests", "workflows")
OPTIONAL_PARTS = ("serving",)  # written only when asked for with --only
DOCKERFILE = "Dockerfile.mlgates-serving"
PR_WORKFLOW = "mlgates-pr.yml"
RETRAIN_WORKFLOW = "mlgates-retrain.yml"
TEST_MODULE = "tests/test_mlgates_gates.py"
_TOKEN = re.compile(r"@@([A-Z0-9_]+)@@")
_MLGATES_HEADER = re.compile(r"^\s*\[\s*tool\s*\.\s*mlgates\s*(\.[^\]]*)?\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


class InitError(Exception):
    """The repository or the options do not allow scaffolding; the message says what to do."""


@dataclass(frozen=True)
class Options:
    """Everything the templates need; defaults come from the repository when they can."""

    platforms: tuple[str, ...] = ("local",)
    model_name: str = "model"
    metric: str = "val_mae"
    entry_point: str = "train.py"
    data: str = ""
    target: str = ""
    state_dir: str = ".mlgates"
    training_timeout_minutes: float = 60.0
    python_version: str = "3.11"
    train_cron: str = "17 3 * * 1"
    drift_cron: str = "42 5 * * *"
    workflows_dir: str = ".github/workflows"
    code_paths: tuple[str, ...] = ()
    install: tuple[str, ...] = ()
    install_project: bool = False
    """Whether the repository is an installable project (``pip install -e .``)."""
    project_extras: tuple[str, ...] = ()
    """The project's own optional-dependency groups its tests need (test, tests, dev), installed with it."""
    greater_is_better: bool | None = None
    """The metric's direction; None: inferred from its name (infer_direction), else lower is better."""
    drift_current: str = ""
    """Recent production features for the drift gate; the drift test is written only when set."""

    @property
    def default_platform(self) -> str:
        return self.platforms[0]


@dataclass
class Outcome:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What init inferred or kept, said to the user."""


# -- rendering ----------------------------------------------------------------------------------


def template(name: str) -> str:
    """The text of a packaged template."""
    return resources.files("pytest_mlgates.ci").joinpath("templates", name).read_text(encoding="utf-8")


def render_text(text: str, values: Mapping[str, str]) -> str:
    """Replace ``@@NAME@@``; a placeholder alone on a line takes a block indented like the placeholder."""
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        match = _TOKEN.fullmatch(stripped)
        if match:
            key = match.group(1)
            if key not in values:
                raise KeyError(f"template placeholder @@{key}@@ has no value")
            indent = line[: len(line) - len(line.lstrip())]
            out += [(indent + block_line) if block_line.strip() else "" for block_line in values[key].splitlines()]
            continue

        def one(m: re.Match[str]) -> str:
            if m.group(1) not in values:
                raise KeyError(f"template placeholder @@{m.group(1)}@@ has no value")
            return values[m.group(1)]

        out.append(_TOKEN.sub(one, line))
    return "\n".join(out).rstrip("\n") + "\n"


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _output_name(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", metric)


def _extras(opts: Options, pr: bool) -> str:
    extras = ["ml"] if pr else ["ml", "load", *[p for p in opts.platforms if p in CLOUDS]]
    return ",".join(extras)


#: Actions the generated files use, pinned to a full commit SHA (the release tag is written beside it).
#: Update a pin here; every rendered workflow and the composite action follow.
PINNED_ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("11d5960a326750d5838078e36cf38b85af677262", "v4.4.0"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "marocchino/sticky-pull-request-comment": ("773744901bac0e8cbb5a0dc842800d45e9b2b405", "v2.9.4"),
    "aws-actions/configure-aws-credentials": ("7474bc4690e29a8392af63c5b98e7449536d5c3a", "v4.3.1"),
    "google-github-actions/auth": ("c200f3691d83b41bf9bbd8638997a462592937ed", "v2.1.13"),
}
ACTION_DIR = ".github/actions/mlgates-setup"
"""The local composite action every job's set-up goes through (``uses: ./.github/actions/mlgates-setup``)."""
#: Files whose change must invalidate the pip cache, when the repository has them.
DEPENDENCY_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "requirements*.txt", "requirements/*.txt",
                    "constraints*.txt", "Pipfile.lock", "poetry.lock", "uv.lock", "pdm.lock")
_USES = re.compile(r"(uses:\s*)([\w.-]+/[\w.-]+)@[^\s#]+(\s*#.*)?$", re.M)
_SECRET_REF = re.compile(r"\$\{\{\s*(secrets|vars)\.([A-Za-z0-9_]+)\s*\}\}")


def pinned(action: str) -> str:
    """``owner/name@<sha> # <tag>``: the pinned reference of an action the templates use."""
    sha, tag = PINNED_ACTIONS[action]
    return f"{action}@{sha} # {tag}"


def _pins() -> dict[str, str]:
    return {f"USES_{name.split('/')[-1].upper().replace('-', '_')}": pinned(name) for name in PINNED_ACTIONS}


def _install_lines(opts: Options, pr: bool = False) -> str:
    """What the composite action runs; ``$EXTRAS`` is the job's pytest-mlgates extras."""
    if opts.install:
        return "\n".join(opts.install)
    lines = ["python -m pip install --upgrade pip"]
    if opts.install_project:
        extras = f"[{','.join(opts.project_extras)}]" if opts.project_extras else ""
        lines.append(f'pip install -e ".{extras}"' if extras else "pip install -e .")
    lines.append("if [ -f requirements.txt ]; then pip install -r requirements.txt; fi")
    lines.append('pip install "pytest-mlgates[$EXTRAS]"')
    return "\n".join(lines)


def login_steps(platform: str) -> tuple[str, dict[str, str]]:
    """A platform's login steps (its ci/templates credentials file, written for a workflow) rewritten for
    the composite action: ``env.ML_PLATFORM`` -> ``inputs.platform``, each ``${{ secrets.X }}`` or
    ``${{ vars.X }}`` -> an input ``x`` (returned with the expression the workflow passes to it)."""
    name = PLATFORMS[platform].credentials_template
    if not name:
        return "", {}
    refs: dict[str, str] = {}

    def to_input(match: re.Match[str]) -> str:
        key = match.group(2).lower().replace("_", "-")
        refs[key] = f"${{{{ {match.group(1)}.{match.group(2)} }}}}"
        return f"${{{{ inputs.{key} }}}}"

    text = _SECRET_REF.sub(to_input, template(name)).replace("env.ML_PLATFORM", "inputs.platform")
    text = _USES.sub(lambda m: m.group(1) + pinned(m.group(2)) if m.group(2) in PINNED_ACTIONS else m.group(0), text)
    return text, refs


def render_action(opts: Options, dependency_files: Sequence[str] = ("pyproject.toml",)) -> str:
    """The composite action's action.yml: set-up and the login of every platform the workflows offer."""
    steps, inputs = [], {}
    for cloud in CLOUDS:
        if cloud in opts.platforms:
            text, refs = login_steps(cloud)
            steps.append(text)
            inputs.update({key: (source, cloud) for key, source in refs.items()})
    input_lines = "\n".join(
        f"{key}:\n  description: {source.strip('${} ')} of the workflow ({cloud} login)\n  required: false\n"
        f"  default: \"\"" for key, (source, cloud) in inputs.items())
    return _clean(render_text(template("action_setup.yml"), {
        "PYTHON_VERSION": opts.python_version, "LOGIN_INPUTS": input_lines, "INSTALL": _install_lines(opts),
        "DEPENDENCY_FILES": "\n".join(dependency_files), "LOGIN_STEPS": "\n".join(steps), **_pins()}))


def _setup_job(opts: Options, pr: bool) -> str:
    """The two steps each job starts with: check out, then the composite action."""
    refs: dict[str, str] = {}
    if not pr:
        for cloud in CLOUDS:
            if cloud in opts.platforms:
                refs.update(login_steps(cloud)[1])
    return render_text(template("setup_job.yml"), {
        "ACTION_DIR": ACTION_DIR, "EXTRAS": _extras(opts, pr), **_pins(),
        "LOGIN_WITH": "\n".join(f"{key}: {source}" for key, source in refs.items())})


def repo_dependency_files(root: Path) -> tuple[str, ...]:
    """The dependency files of ``root`` that exist (globs kept as globs when they match), pyproject first."""
    found = [pattern for pattern in DEPENDENCY_FILES if any(root.glob(pattern))]
    return tuple(dict.fromkeys(["pyproject.toml", *found]))


def _indent(text: str, spaces: int) -> str:
    return "\n".join((" " * spaces + line) if line.strip() else "" for line in text.splitlines())


def render_workflows(opts: Options) -> dict[str, str]:
    """The two workflow files, by name."""
    metric = _output_name(opts.metric)
    local = "local" in opts.platforms
    setup = _setup_job(opts, pr=False)
    values: dict[str, str] = {
        "METRIC": metric,
        "DEFAULT_PLATFORM": opts.default_platform,
        "PLATFORM_OPTIONS": "\n".join(f"- {p}" for p in opts.platforms),
        "TRAIN_CRON": opts.train_cron,
        "DRIFT_CRON": opts.drift_cron,
        "TRAIN_TIMEOUT": str(int(round(opts.training_timeout_minutes)) + 30),
        "PYTHON_VERSION": opts.python_version,
        "ID_TOKEN": "id-token: write  # OIDC: short-lived cloud credentials, no stored keys"
        if any(p in CLOUDS for p in opts.platforms) else "",
        "SETUP": setup,
    }
    for job in ("TRAIN", "CHAMPION_GATE", "STAGING"):
        for way in ("UPLOAD", "DOWNLOAD"):
            block = ""
            if local:
                block = render_text(template(f"state_{way.lower()}.yml"),
                                    {"JOB": job.lower().replace("_", "-"), "STATE_DIR": opts.state_dir, **_pins()})
            values[f"STATE_{way}_{job}"] = block
    retrain = render_text(template("workflow_retrain.yml"), values)
    workflows_dir = opts.workflows_dir.rstrip("/")
    paths = opts.code_paths or _default_code_paths(opts)
    pr = render_text(template("workflow_pr.yml"), {
        "CODE_PATHS": "\n".join(f"- {_yaml_str(p)}" for p in (*paths, f"{workflows_dir}/{PR_WORKFLOW}")),
        "PYTHON_VERSION": opts.python_version,
        "SETUP_PR": _setup_job(opts, pr=True), **_pins(),
        "WORKFLOWS_DIR": workflows_dir,
    })
    return {PR_WORKFLOW: _clean(pr), RETRAIN_WORKFLOW: _clean(retrain)}


def _clean(text: str) -> str:
    """Collapse the blank lines left by empty blocks."""
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"(permissions:\n  contents: read\n)\n+(?=\n)", r"\1", text)


def _default_code_paths(opts: Options) -> tuple[str, ...]:
    entry = opts.entry_point
    folder = os.path.dirname(entry)
    paths = [f"{folder}/**" if folder else entry, "src/**", "features/**", "tests/**", "pyproject.toml",
             "requirements*.txt"]
    return tuple(dict.fromkeys(paths))


#: Words in a metric's name that say which way is better (checked in this order; first match wins).
_HIGHER_WORDS = ("accuracy", "acc", "auc", "roc", "f1", "fbeta", "precision", "recall", "r2", "ap", "map",
                 "ndcg", "iou", "dice", "bleu", "rouge", "kappa", "mcc", "score", "hit", "top1", "top5")
_LOWER_WORDS = ("mae", "mse", "rmse", "mape", "smape", "msle", "rmsle", "loss", "logloss", "error", "err",
                "deviance", "brier", "perplexity", "wer", "cer", "latency", "cost", "huber")


def infer_direction(metric: str) -> bool | None:
    """True when higher is better, False when lower is, None when the name does not say."""
    words = [w for w in re.split(r"[^a-z0-9]+", metric.lower()) if w]
    for word in words:
        if word in _LOWER_WORDS:
            return False
        if word in _HIGHER_WORDS:
            return True
    return None


def metric_direction(opts: Options) -> tuple[bool, str]:
    """The direction written into [tool.mlgates] and the sentence that says where it came from."""
    if opts.greater_is_better is not None:
        word = "higher" if opts.greater_is_better else "lower"
        return opts.greater_is_better, f"{word} is better (as set)"
    inferred = infer_direction(opts.metric)
    if inferred is None:
        return False, (f"lower is better: assumed, the name {opts.metric!r} does not say; pass "
                       f"--greater-is-better if higher is better")
    word = "higher" if inferred else "lower"
    flag = "--lower-is-better" if inferred else "--greater-is-better"
    return inferred, f"{word} is better: inferred from the name {opts.metric!r} (pass {flag} if not)"


#: Column names that are a label wherever they appear.
_TARGET_NAMES = ("target", "label", "labels", "y", "class", "outcome", "is_fraud", "churn", "churned")


def infer_target(data_file: Path) -> str:
    """The label column of a CSV whose header has exactly one well-known label name, else ''."""
    if data_file.suffix.lower() != ".csv" or not data_file.is_file():
        return ""
    import csv

    try:
        with data_file.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError):
        return ""
    found = [c for c in header if c.strip().lower() in _TARGET_NAMES]
    return found[0] if len(found) == 1 else ""


def render_config(opts: Options) -> str:
    """The ``[tool.mlgates]`` table."""
    data_line = (f"data = {_toml_str(opts.data)}  # training data: a CSV/Parquet path, or a cloud URI on the clouds"
                 if opts.data else
                 '# data = ""  # training data: a CSV/Parquet path here, a cloud URI on the clouds')
    target_line = (f"target = {_toml_str(opts.target)}  # the label column"
                   if opts.target else
                   '# target = ""  # the label column; the smoke gate needs it (set it, or pass target=)')
    greater, why = metric_direction(opts)
    drift_line = (f"current = {_toml_str(opts.drift_current)}  # recent production features; env MLGATES_DRIFT_CURRENT"
                  if opts.drift_current else
                  '# current = ""  # recent production features (CSV/Parquet/JSON path or URI); env '
                  'MLGATES_DRIFT_CURRENT')
    text = render_text(template("pyproject_mlgates.toml"), {
        "DEFAULT_PLATFORM": opts.default_platform, "MODEL_NAME": opts.model_name,
        "ENTRY_POINT": opts.entry_point, "DATA_LINE": data_line, "TARGET_LINE": target_line,
        "METRIC_LINE": f"metric = {_toml_str(opts.metric)}  # primary gate metric: a key of the metrics.json "
                       f"your training writes",
        "DIRECTION_LINE": f"greater_is_better = {str(greater).lower()}  # {why}",
        "DRIFT_CURRENT_LINE": drift_line,
    })
    for platform in opts.platforms:  # a platform's own table, where it ships one (platform_<name>.toml)
        table = resources.files("pytest_mlgates.ci").joinpath("templates", f"platform_{platform}.toml")
        if table.is_file():
            text += table.read_text(encoding="utf-8")
    return text


def render_dockerfile(root: Path) -> str:
    """The bring-your-own serving image: our model server in container mode, with the project's requirements."""
    from importlib.metadata import version

    requirements = "-r requirements.txt" if (root / "requirements.txt").is_file() else ""
    if not requirements and (root / "pyproject.toml").is_file() and "[project]" in (root / "pyproject.toml").read_text():
        requirements = "."
    return render_text(template("Dockerfile.serving"),
                       {"DOCKERFILE": DOCKERFILE, "VERSION": version("pytest-mlgates"), "REQUIREMENTS": requirements})


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_tests(opts: Options | None = None) -> str:
    """The gate test module; the drift test only when drift data is configured (no red suite until then)."""
    drift = template("test_drift_gate.py.tmpl") if opts is not None and opts.drift_current else (
        "# No drift gate yet: set [tool.mlgates.drift] current to recent production features, then\n"
        "# run `mlgates init --force --only tests` to add it.")
    return render_text(template("test_mlgates_gates.py.tmpl"), {"DRIFT_TEST": drift})


# -- the repository -----------------------------------------------------------------------------


def _read_pyproject(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InitError(f"{path} is not valid TOML ({exc}); fix it before running mlgates init") from exc


def options_from_repo(root: Path, platforms: Sequence[str] | None = None, **overrides: object) -> Options:
    """Options guessed from the repository: its existing [tool.mlgates], its files, its name."""
    data = _read_pyproject(root / "pyproject.toml")
    tool = data.get("tool", {}) if isinstance(data.get("tool"), dict) else {}
    table = tool.get("mlgates", {}) if isinstance(tool, dict) else {}
    table = table if isinstance(table, dict) else {}
    training = table.get("training", {}) if isinstance(table.get("training"), dict) else {}
    if not platforms:
        configured = str(table.get("platform", "") or "")
        platforms = [configured] if configured else ["local"]
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise InitError(f"unknown platform(s) {', '.join(unknown)}; mlgates init has templates for "
                        f"{', '.join(PLATFORMS)}")
    entry = str(training.get("entry_point") or "")
    if not entry:
        candidates = [p for p in ("train.py", "src/train.py", "training/train.py") if (root / p).is_file()]
        entry = candidates[0] if candidates else "train.py"
    data_path = str(training.get("data") or "")
    if not data_path and (root / "data").is_dir():
        found = sorted(p for p in (root / "data").iterdir() if p.suffix in (".csv", ".parquet"))
        data_path = found[0].relative_to(root).as_posix() if found else ""
    project = data.get("project") if isinstance(data.get("project"), dict) else None
    name = str(table.get("model_name") or (project or {}).get("name") or root.resolve().name or "model")
    target = str(training.get("target") or "")
    if not target and data_path and "://" not in data_path:
        target = infer_target(root / data_path)
    drift = table.get("drift", {}) if isinstance(table.get("drift"), dict) else {}
    greater = table.get("greater_is_better")
    opts = Options(
        platforms=tuple(dict.fromkeys(platforms)),
        model_name=re.sub(r"[^A-Za-z0-9_.-]", "-", name),
        metric=str(table.get("metric") or "val_mae"),
        entry_point=entry,
        data=data_path,
        target=target,
        greater_is_better=greater if isinstance(greater, bool) else None,
        drift_current=str(drift.get("current") or ""),
        state_dir=str(table.get("state_dir") or ".mlgates"),
        training_timeout_minutes=float(training.get("timeout_minutes") or 60.0),
        install_project=project is not None,
        project_extras=_test_extras(project),
    )
    given = {k: v for k, v in overrides.items() if v not in (None, (), [])}
    if given.get("metric", opts.metric) != opts.metric and "greater_is_better" not in given:
        given["greater_is_better"] = None  # a new metric: the old one's direction says nothing about it
    return replace(opts, **given)


def _test_extras(project: Mapping[str, object] | None) -> tuple[str, ...]:
    """The first of the project's optional-dependency groups named test, tests or dev."""
    groups = (project or {}).get("optional-dependencies")
    if not isinstance(groups, dict):
        return ()
    return next(((g,) for g in ("test", "tests", "dev") if g in groups), ())


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_mlgates_tables(text: str) -> str:
    """``text`` without its ``[tool.mlgates]`` and ``[tool.mlgates.*]`` tables."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if _MLGATES_HEADER.match(line):
            skipping = True
            continue
        if skipping and _ANY_HEADER.match(line):
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out).rstrip("\n") + "\n" if "".join(out).strip() else ""


def update_pyproject(path: Path, table: str, force: bool) -> str:
    """The new pyproject text, or raise InitError when [tool.mlgates] exists and not ``force``."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    data = _read_pyproject(path)
    tool = data.get("tool")
    exists = isinstance(tool, dict) and "mlgates" in tool
    if exists and not force:
        raise FileExistsError(f"{path} already has a [tool.mlgates] table")
    if exists:
        text = remove_mlgates_tables(text)
        left = tomllib.loads(text).get("tool", {})
        if isinstance(left, dict) and "mlgates" in left:
            raise InitError(f"{path} sets tool.mlgates in a form mlgates init cannot remove safely (dotted keys or "
                            f"an inline table); remove it by hand, then run mlgates init --force again")
    new = (text.rstrip("\n") + "\n\n" if text.strip() else "") + table
    try:
        tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - the template is valid TOML
        raise InitError(f"appending [tool.mlgates] to {path} would make it invalid TOML ({exc}); nothing written") from exc
    return new


def scaffold(root: Path, opts: Options, *, force: bool = False, parts: Sequence[str] = PARTS,
             dry_run: bool = False) -> Outcome:
    """Write the configuration, tests and workflows under ``root``; existing ones only with ``force``."""
    if not root.is_dir():
        raise InitError(f"{root} is not a folder; run mlgates init inside your repository or pass its path")
    outcome = Outcome()
    opts = _keep_config_consistent(root, opts, force, outcome) if "config" in parts or "workflows" in parts else opts
    files: dict[Path, str] = {}
    if "tests" in parts:
        files[root / TEST_MODULE] = render_tests(opts)
    if "workflows" in parts:
        for name, text in render_workflows(opts).items():
            files[root / opts.workflows_dir / name] = text
        files[root / ACTION_DIR / "action.yml"] = render_action(opts, repo_dependency_files(root))
    if "serving" in parts:
        files[root / DOCKERFILE] = render_dockerfile(root)
    if "config" in parts:
        pyproject = root / "pyproject.toml"
        try:
            new = update_pyproject(pyproject, render_config(opts), force)
        except FileExistsError:
            outcome.skipped.append("pyproject.toml [tool.mlgates]")
        else:
            if not dry_run:
                _atomic_write(pyproject, new)
            outcome.written.append("pyproject.toml [tool.mlgates]")
            outcome.notes.append(f"metric {opts.metric!r}: {metric_direction(opts)[1]}")
            if opts.target:
                outcome.notes.append(f"target {opts.target!r}: the label column")
        if _ignore_state_dir(root, opts.state_dir, dry_run):
            outcome.written.append(f".gitignore ({opts.state_dir.rstrip('/')}/)")
    for path, text in files.items():
        rel = path.relative_to(root).as_posix()
        if path.exists() and not force:
            outcome.skipped.append(rel)
            continue
        if not dry_run:
            _atomic_write(path, text)
        outcome.written.append(rel)
    return outcome


def _keep_config_consistent(root: Path, opts: Options, force: bool, outcome: Outcome) -> Options:
    """A kept [tool.mlgates] decides the metric the workflow outputs name, so they never disagree."""
    if force:
        return opts
    table = _read_pyproject(root / "pyproject.toml").get("tool", {})
    table = table.get("mlgates") if isinstance(table, dict) else None
    if not isinstance(table, dict):
        return opts
    kept = str(table.get("metric") or "val_mae")
    if kept != opts.metric:
        outcome.notes.append(f"kept metric {kept!r} of the existing [tool.mlgates] for the workflow outputs, "
                             f"not {opts.metric!r}; pass --force to change the config too")
        opts = replace(opts, metric=kept)
    return opts


def _ignore_state_dir(root: Path, state_dir: str, dry_run: bool) -> bool:
    """Add the local platform's state folder to .gitignore unless a line already covers it."""
    if os.path.isabs(state_dir):
        return False
    entry = state_dir.strip("/").removeprefix("./")
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    patterns = {line.strip().strip("/") for line in text.splitlines()}
    if entry in patterns:
        return False
    if not dry_run:
        block = ("" if not text or text.endswith("\n") else "\n") + \
            f"# the local ML platform's registry, artifacts and endpoints (mlgates init)\n{entry}/\n"
        _atomic_write(path, text + block)
    return True


def example_options(platform: str) -> Options:
    """The options of examples/workflows/<platform>/ (the delivery-ETA example project)."""
    return Options(platforms=(platform,), model_name="delivery-eta", metric="val_mae", entry_point="train.py",
                   data="data/deliveries.csv", target="eta_minutes", install_project=True)


def write_examples(folder: str | os.PathLike[str]) -> list[Path]:
    """Regenerate examples/workflows/<platform>/*.yml for every platform."""
    written = []
    for platform in PLATFORMS:
        rendered = {**render_workflows(example_options(platform)),
                    EXAMPLE_ACTION: render_action(example_options(platform), EXAMPLE_DEPENDENCY_FILES)}
        for name, text in rendered.items():
            path = Path(folder) / platform / name
            _atomic_write(path, text)
            written.append(path)
    return written


EXAMPLE_ACTION = "mlgates-setup/action.yml"
"""Where examples/workflows/<platform>/ keeps the composite action (in a repository: ACTION_DIR)."""
EXAMPLE_DEPENDENCY_FILES = ("pyproject.toml",)
