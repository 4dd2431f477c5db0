"""One typed settings object built from CLI options, env vars, pyproject and defaults.

Precedence, highest first:

1. command-line options (``--ml-platform``, ``--mlgates-*``)
2. environment variables (``ML_PLATFORM``, ``MLGATES_*``)
3. ``[tool.mlgates]`` in pyproject.toml, and pytest ini keys ``mlgates_*``
4. the defaults below

Unknown keys and wrong types are errors that name the key and where it came
from: a typo in a gate's configuration must never silently fall back to a
default.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


NO_CHAMPION_CHOICES = ("promote", "fail", "skip")
TASK_CHOICES = ("auto", "regression", "classification")


@dataclass(frozen=True)
class TrainingSettings:
    entry_point: str = "train.py"
    data: str = ""
    target: str = ""
    smoke_rows: int = 500
    smoke_seed: int = 0
    timeout_minutes: float = 60.0
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    smoke_hyperparameters: dict[str, Any] = field(default_factory=dict)
    python: str = ""
    """Interpreter that runs the entry point locally; empty means this one."""


@dataclass(frozen=True)
class LoadSettings:
    users: int = 10
    spawn_rate: float = 10.0
    duration: float = 30.0
    p99_ms: float = 500.0
    max_error_rate: float = 0.01
    confidence: float = 0.95
    payloads: str = ""
    """CSV/Parquet/JSON file of request rows; empty means the validation rows."""
    batch_size: int = 1
    """Rows per request body in the load test (1: one prediction per request, as online traffic)."""
    ready_timeout: float = 120.0
    """Seconds staging_endpoint waits for GET /ping to answer 200 before failing."""
    processes: int = 0
    """locust worker processes for the load test; 0: chosen by users and rps (loadtest.runner.load_processes)."""


@dataclass(frozen=True)
class ShadowSettings:
    rows: int = 200
    margin: float = 0.0
    """Regression: the largest mean absolute difference accepted; 0 means 5% of |mean champion prediction|."""
    min_agreement: float = 0.95
    max_latency_ratio: float = 2.0
    confidence: float = 0.95
    required: bool = False
    """Whether promotion requires a passing shadow gate in the ledger."""
    max_probability_shift: float = 0.05
    """Classifiers with predict_proba: the largest mean per-row shift (total variation) of the probabilities."""


@dataclass(frozen=True)
class RolloutSettings:
    steps: list[int] = field(default_factory=lambda: [10, 50, 100])
    bake_seconds: float = 10.0
    p99_ms: float = 500.0
    max_error_rate: float = 0.01
    users: int = 5
    compare_to_champion: bool = False
    endpoint: str = ""
    """Production endpoint name; empty means ``<model_name>-prod``."""
    sequential: bool = False
    """Judge each step by an anytime-valid test (stats/sequential.py): stop at a clear breach, extend
    while inconclusive up to ``max_bake_seconds``; false keeps the fixed bake and point rule."""
    alpha: float = 0.05
    """Sequential steps: the chance of a wrong call (rolling back a good candidate, passing a bad one)."""
    look_seconds: float = 1.0
    """Sequential steps: how often the evidence is looked at (each look is one round of load)."""
    max_bake_seconds: float = 0.0
    """Sequential steps: the cap on a step that is still inconclusive; 0 means 6 x ``bake_seconds``."""
    ignore_failed: list[str] = field(default_factory=list)
    """Stages whose recorded failure does not block promotion; by default any recorded failure blocks it."""


METRIC_KINDS = ("mae", "mse", "rmse", "log_loss", "brier", "accuracy", "precision", "recall", "f1",
                "roc_auc", "r2")
"""Metrics the paired champion gate can re-score; the last six are bounded scores, higher is better."""
BOUNDED_SCORES = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2", "balanced_accuracy", "auc",
                  "average_precision", "pr_auc", "jaccard", "iou", "dice")
"""Higher-is-better scores bounded by 1: a relative tolerance is applied to their error, 1 - score."""
_KIND_ALIASES = {"auc": "roc_auc", "logloss": "log_loss", "neg_log_loss": "log_loss", "acc": "accuracy",
                 "f1_score": "f1", "brier_score": "brier", "r_squared": "r2"}
SMALL_SLICE_CHOICES = ("inconclusive", "skip")


def metric_kind(name: str) -> str:
    """The metric a name stands for: ``val_auc`` -> ``roc_auc``; unknown names come back unchanged."""
    base = name.lower()
    for prefix in ("val_", "valid_", "validation_", "test_", "eval_"):
        if base.startswith(prefix):
            base = base[len(prefix):]
            break
    return _KIND_ALIASES.get(base, base)


def margin_scale(metric: str, greater_is_better: bool, tolerance: float, absolute: float | None,
                 relative: bool = False) -> str:
    """How a metric's margin is sized: ``absolute``, ``error`` (tolerance x (1 - score)) or ``relative``.

    The one higher-is-better check of the champion gate: a relative tolerance of a bounded score near
    its best value is meaningless (5% of an AUC of 0.997 is five times its ranking error), so known
    bounded scores are judged on their error scale, and a higher-is-better metric we cannot size is a
    ConfigError saying what to add. ``relative`` declares that a relative change of it is meaningful.
    """
    if absolute:
        return "absolute"
    if not greater_is_better or relative:
        return "relative"
    if metric_kind(metric) in BOUNDED_SCORES:
        return "error"
    if tolerance == 0:
        return "relative"
    raise ConfigError(
        f"cannot size the margin of {metric!r}: it is higher-is-better and not a known bounded score "
        f"({', '.join(BOUNDED_SCORES[:6])}, ...), so a relative tolerance of {tolerance:g} has no scale. Give an "
        f"absolute margin (absolute_tolerance, or margin in [tool.mlgates.champion.metrics.{metric}]), name its "
        f"kind there (kind = \"roc_auc\"), or set scale = \"relative\" there if a relative change is meaningful")


@dataclass(frozen=True)
class MetricSettings:
    """One metric of the paired champion gate (``[tool.mlgates.champion.metrics.<name>]``)."""

    kind: str = ""
    """mae, mse, rmse, log_loss, brier, accuracy, precision, recall, f1, roc_auc, r2; empty: from the name."""
    greater_is_better: bool | None = None
    """Empty: the kind's own direction (an explicit value that contradicts it is an error)."""
    tolerance: float | None = None
    """Relative worsening allowed (of the error, 1 - score, for bounded scores); empty: [tool.mlgates]."""
    margin: float | None = None
    """An absolute margin on the metric's own scale; wins over ``tolerance``."""
    scale: str = ""
    """``relative``: a relative tolerance of this higher-is-better metric is meaningful."""
    sanity: list[float] = field(default_factory=list)
    """[low, high] the re-scored value of both models must lie in."""


@dataclass(frozen=True)
class ChampionSettings:
    """The paired champion gate (``[tool.mlgates.champion]``): both models re-scored on the same rows."""

    data: str = ""
    """Evaluation rows (CSV/Parquet); empty: ``validation.csv``/``.parquet`` in the challenger's model folder."""
    target: str = ""
    """Label column; empty: ``[tool.mlgates.training] target``."""
    confidence: float = 0.95
    """Two-sided level of each interval (family-wise across metrics and slices, by Holm)."""
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    """Empty: the primary metric with [tool.mlgates] direction, tolerance and sanity."""
    slices: list[str] = field(default_factory=list)
    """Columns, or pandas expressions (``distance_km > 10``), whose groups are gated separately."""
    min_slice_rows: int = 30
    small_slices: str = "inconclusive"
    """Below ``min_slice_rows``: ``inconclusive`` (fails closed) or ``skip``."""
    resamples: int = 2000
    seed: int = 0
    lineage: bool = True
    """Also hold the challenger against the best champion the lineage has had."""
    lineage_tolerance: float | None = None
    """The budget against that best champion (relative, like tolerance); empty: each metric's tolerance."""


@dataclass(frozen=True)
class DriftSettings:
    """Defaults of ``assert_no_drift`` and where the drift gate reads its two frames."""

    reference: str = ""
    """Reference features (CSV/Parquet/JSON path or URI); empty means ``training.data``."""
    current: str = ""
    """Recent production features to compare; env ``MLGATES_DRIFT_CURRENT`` overrides it."""
    features: list[str] = field(default_factory=list)
    """Columns to check; empty means every reference column except the target and ``exclude``."""
    exclude: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    """Columns forced categorical; others are chosen by dtype."""
    psi_threshold: float = 0.2
    ks_statistic: float = 0.1
    ks_pvalue: float = 0.01
    cramers_v: float = 0.1
    chi2_pvalue: float = 0.01
    bins: int = 10
    min_rows: int = 100
    max_drifted: int = 0
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-feature overrides, e.g. ``{ distance_km = { psi = 0.3 } }``."""


@dataclass(frozen=True)
class Settings:
    platform: str = "local"
    model_name: str = ""
    metric: str = "val_mae"
    greater_is_better: bool = False
    tolerance: float = 0.05
    absolute_tolerance: float = 0.0
    """A floor on the allowed worsening: max(tolerance * |champion|, absolute_tolerance)."""
    no_champion: str = "promote"
    sanity: dict[str, list[float]] = field(default_factory=dict)
    task: str = "auto"
    state_dir: str = ".mlgates"
    training: TrainingSettings = field(default_factory=TrainingSettings)
    load: LoadSettings = field(default_factory=LoadSettings)
    shadow: ShadowSettings = field(default_factory=ShadowSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    champion: ChampionSettings = field(default_factory=ChampionSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    platforms: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each platform's own raw table (``[tool.mlgates.<platform>]``), parsed by its adapter's settings module."""
    skops_trusted: list[str] = field(default_factory=list)
    allow_large_tolerance: bool = False
    """Whether a tolerance of 1 (100%) or more is meant; without it, it reads as a percentage typo."""
    """Types a ``model.skops`` artifact may hold beyond skops' safe defaults; nothing else is trusted."""
    # Run-level values (from CLI/env only): how workflow jobs hand on a candidate.
    job: str = ""
    model_version: str = ""
    endpoint: str = ""
    report: str = ""
    keep_endpoint: bool = False
    root: str = "."
    """Directory of the pyproject.toml that relative paths are resolved against."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    """Where each explicitly set key came from, for messages."""

    def path(self, value: str) -> Path:
        """Resolve a configured path against the project root."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.root) / p

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)

    def source_of(self, key: str) -> str:
        return self.sources.get(key, "default")

    def platform_table(self, name: str) -> dict[str, Any]:
        """The raw ``[tool.mlgates.<name>]`` table (empty when it is not in the configuration)."""
        return dict(self.platforms.get(name, {}))


# Keys that only make sense per run, never in pyproject.
RUN_KEYS = ("job", "model_version", "endpoint", "report", "keep_endpoint", "root")
# Keys that are not ``[tool.mlgates]`` keys themselves.
INTERNAL_KEYS = (*RUN_KEYS, "sources", "platforms")
# (settings key, CLI dest, env var, ini key)
OPTION_KEYS: tuple[tuple[str, str, str, str | None], ...] = (
    ("platform", "ml_platform", "ML_PLATFORM", None),
    ("state_dir", "mlgates_state_dir", "MLGATES_STATE_DIR", "mlgates_state_dir"),
    ("job", "mlgates_job", "MLGATES_JOB", None),
    ("model_version", "mlgates_model_version", "MLGATES_MODEL_VERSION", None),
    ("endpoint", "mlgates_endpoint", "MLGATES_ENDPOINT", None),
    ("report", "mlgates_report", "MLGATES_REPORT", "mlgates_report"),
    ("keep_endpoint", "mlgates_keep_endpoint", "MLGATES_KEEP_ENDPOINT", None),
)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_PLURAL = {str: "strings", int: "integers", float: "numbers", bool: "booleans"}


def _coerce(value: Any, tp: Any, where: str, text: bool = True) -> Any:
    """Check ``value`` against ``tp``; with ``text``, strings (from env/CLI) are converted too."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table, got {value!r}")
        return _build(tp, value, where)
    if isinstance(value, str) and not text and tp in (bool, int, float):
        pass  # a quoted value where TOML can write the real type: refused below
    elif tp is bool:
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            return value.lower() in ("1", "true", "yes", "on")
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{where} must be a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, (list, tuple)):
            return [_coerce(v, item, f"{where}[{i}]", text) for i, v in enumerate(value)]
    elif origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if isinstance(value, Mapping):
            if val_tp is Any:
                return {str(k): v for k, v in value.items()}
            try:
                return {str(k): _coerce(v, val_tp, f"{where}.{k}", text) for k, v in value.items()}
            except ConfigError:
                if val_tp not in _PLURAL:
                    raise
        if val_tp in _PLURAL:
            raise ConfigError(f"{where} must be a table of {_PLURAL[val_tp]}, got {value!r}")
    elif origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, where, text)
            except ConfigError:
                continue
    raise ConfigError(f"{where} must be of type {_type_name(tp)}, got {value!r}")


def _unknown_keys(table: Mapping[str, Any], names: set[str], where: str, hint: str = "") -> None:
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in [{where}]; "
            f"valid keys: {', '.join(sorted(n for n in names if n not in INTERNAL_KEYS))}{hint}"
        )


def _build(cls: Any, table: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    _unknown_keys(table, {f.name for f in dataclasses.fields(cls) if f.init}, where)
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in table.items()})


T = typing.TypeVar("T")


def coerce_table(
    table: str,
    raw: Mapping[str, Any] | None,
    cls: type[T],
    *,
    defaults: Mapping[str, Any] | None = None,
    required: Mapping[str, str] | None = None,
    unknown_hint: str = "",
) -> T:
    """Build the frozen dataclass ``cls`` from a platform's raw TOML table ``[tool.mlgates.<table>]``.

    The one coercer every platform's settings use: unknown keys, wrong types
    (a quoted number included) and missing required keys are ConfigErrors
    that name ``[tool.mlgates.<table>] key``. ``defaults`` fill keys the table
    leaves empty (e.g. a region from the environment); ``required`` maps each
    required key to an example line to add; ``unknown_hint`` ends the
    unknown-key message (e.g. where credentials come from instead).
    """
    where = f"[tool.mlgates.{table}]"
    raw = dict(raw or {})
    hints = typing.get_type_hints(cls)
    _unknown_keys(raw, set(hints) & {f.name for f in dataclasses.fields(cls)}, where[1:-1], unknown_hint)
    values = {k: _coerce(v.strip() if isinstance(v, str) else v, hints[k], f"{where} {k}", text=False)
              for k, v in raw.items()}
    for key, value in (defaults or {}).items():
        if not values.get(key) and value:
            values[key] = value
    for key, example in (required or {}).items():
        if not values.get(key):
            raise ConfigError(f"{where} {key} is required for the {table} platform; add {example}")
    return cls(**values)


_HIGHER_IS_BETTER = frozenset({
    "accuracy", "acc", "auc", "roc", "rocauc", "auroc", "auprc", "f1", "fbeta", "precision", "recall", "r2", "r²",
    "rsquared", "ndcg", "map", "ap", "sensitivity", "specificity", "tpr", "tnr", "kappa", "mcc", "iou", "dice",
    "bleu", "rouge", "jaccard", "explained", "top1", "top5", "hit", "hits", "gain", "lift",
})
_LOWER_IS_BETTER = frozenset({"error", "err", "loss", "mae", "mse", "rmse", "mape", "smape", "logloss", "deviance",
                              "brier", "fpr", "fnr", "latency", "cost", "distance", "rmsle", "msle", "wer", "cer"})


def looks_higher_is_better(metric: str) -> bool:
    """Whether a metric's name says higher is better (accuracy, AUC, F1, precision, recall, R²...).

    Why: under the default ``greater_is_better = false`` such a metric would
    be compared the wrong way round; the caller makes that a configuration
    error unless the direction was set explicitly. A name that also says
    error or loss (``accuracy_loss``) is not claimed.
    """
    import re

    tokens = {t for t in re.split(r"[^0-9a-z²]+", metric.lower()) if t}
    tokens |= {t.rstrip("0123456789") for t in tokens if t.rstrip("0123456789")} - {"f", "top"}
    return bool(tokens & _HIGHER_IS_BETTER) and not tokens & _LOWER_IS_BETTER


def _validate(settings: Settings) -> None:
    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"{key} ({settings.source_of(key)}) {msg}")

    if settings.no_champion not in NO_CHAMPION_CHOICES:
        fail("no_champion", f"must be one of {', '.join(NO_CHAMPION_CHOICES)}, got {settings.no_champion!r}")
    if settings.task not in TASK_CHOICES:
        fail("task", f"must be one of {', '.join(TASK_CHOICES)}, got {settings.task!r}")
    if settings.tolerance < 0:
        fail("tolerance", f"must be >= 0 (a relative worsening, 0.05 = 5%), got {settings.tolerance}")
    if settings.absolute_tolerance < 0:
        fail("absolute_tolerance", f"must be >= 0, got {settings.absolute_tolerance}")
    if settings.tolerance >= 1 and not settings.allow_large_tolerance:
        fail("tolerance", f"is {settings.tolerance:g}, which lets the challenger be {settings.tolerance:.0%} worse than "
                          f"the champion; it is a fraction (0.05 = 5%), so did you mean {settings.tolerance / 100:g}? "
                          f"If you mean it, also set allow_large_tolerance = true in [tool.mlgates]")
    if (looks_higher_is_better(settings.metric) and not settings.greater_is_better
            and "greater_is_better" not in settings.sources):
        fail("metric", f"{settings.metric!r} reads as higher-is-better, but greater_is_better is false by default, so "
                       f"a worse model would win the champion gate; set greater_is_better = true in [tool.mlgates] "
                       f"(or greater_is_better = false explicitly if lower really is better)")
    if not settings.metric:
        fail("metric", "must name a key of metrics.json")
    for name, bounds in settings.sanity.items():
        if len(bounds) != 2 or bounds[0] > bounds[1]:
            fail("sanity", f"entry {name!r} must be [low, high] with low <= high, got {bounds!r}")
    t = settings.training
    if t.smoke_rows < 10:
        fail("training", f"smoke_rows must be at least 10, got {t.smoke_rows}")
    if t.timeout_minutes <= 0:
        fail("training", f"timeout_minutes must be > 0, got {t.timeout_minutes}")
    from .contract import HyperparameterError, render_hyperparameters

    for field_name in ("hyperparameters", "smoke_hyperparameters"):
        try:
            render_hyperparameters(getattr(t, field_name))
        except HyperparameterError as exc:
            fail("training", f"{field_name}: {exc}")
    for section, keys in (("load", ("p99_ms", "duration", "spawn_rate")), ("rollout", ("p99_ms", "bake_seconds"))):
        for key in keys:
            if getattr(getattr(settings, section), key) <= 0:
                fail(section, f"{key} must be a positive number")
    if settings.load.ready_timeout <= 0 or settings.load.batch_size < 1:
        fail("load", "ready_timeout must be > 0 and batch_size >= 1")
    for section in ("load", "rollout"):
        rate = getattr(settings, section).max_error_rate
        if not 0 <= rate < 1:
            fail(section, f"max_error_rate must be in [0, 1), got {rate}")
    c = settings.champion
    if not 0.5 <= c.confidence < 1:
        fail("champion", f"confidence must be in [0.5, 1), got {c.confidence}")
    if c.small_slices not in SMALL_SLICE_CHOICES:
        fail("champion", f"small_slices must be one of {', '.join(SMALL_SLICE_CHOICES)}, got {c.small_slices!r}")
    if c.min_slice_rows < 2 or c.resamples < 100:
        fail("champion", "min_slice_rows must be >= 2 and resamples >= 100")
    try:
        for name, m in c.metrics.items():
            kind = m.kind or metric_kind(name)
            if kind not in METRIC_KINDS:
                fail("champion", f"metric {name!r} is not one the gate can re-score ({kind!r}); set its kind to one "
                                 f"of {', '.join(METRIC_KINDS)}")
            if m.greater_is_better is not None and m.greater_is_better != (kind in BOUNDED_SCORES):
                fail("champion", f"metric {name!r} ({kind}) is {'higher' if kind in BOUNDED_SCORES else 'lower'}"
                                 f"-is-better; greater_is_better = {str(m.greater_is_better).lower()} contradicts it")
            if m.sanity and (len(m.sanity) != 2 or m.sanity[0] > m.sanity[1]):
                fail("champion", f"metric {name!r} sanity must be [low, high], got {m.sanity!r}")
            if m.scale not in ("", "relative"):
                fail("champion", f"metric {name!r} scale must be \"relative\" or unset, got {m.scale!r}")
        margin_scale(settings.metric, settings.greater_is_better, settings.tolerance, settings.absolute_tolerance,
                     settings.metric in c.metrics and c.metrics[settings.metric].scale == "relative"
                     or settings.metric in c.metrics and bool(c.metrics[settings.metric].margin))
    except ConfigError as exc:
        if "cannot size" in str(exc):
            fail("greater_is_better", f"is true and {exc}")
        raise
    r = settings.rollout
    if not 0 < r.alpha < 0.5 or r.look_seconds <= 0 or r.max_bake_seconds < 0:
        fail("rollout", "alpha must be in (0, 0.5), look_seconds > 0 and max_bake_seconds >= 0")
    if r.sequential and r.max_error_rate == 0:
        fail("rollout", "max_error_rate must be > 0 with sequential = true: no number of requests shows a rate "
                        "of exactly 0")
    steps = settings.rollout.steps
    if not steps or steps != sorted(steps) or steps[-1] != 100 or any(not 0 < s <= 100 for s in steps):
        fail("rollout", f"steps must rise within (0, 100] and end at 100, got {steps}")


def _reject_quoted(table: Mapping[str, Any], cls: Any, where: str, pyproject: Path | None) -> None:
    """A quoted number or boolean in pyproject.toml (``tolerance = "0.05"``) is an error: TOML can write the real one.

    Environment variables and options are text by nature and are converted; a
    file that can say ``0.05`` but says ``"0.05"`` is most likely a mistake
    (``"5%"``, ``"0,05"``) that must not be guessed at.
    """
    hints = typing.get_type_hints(cls)
    for key, value in table.items():
        tp = hints.get(key)
        if tp is None:
            continue
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            _reject_quoted(value, tp, f"{where}.{key}", pyproject)
        elif tp in (int, float, bool) and isinstance(value, str):
            raise ConfigError(f"{where}.{key} must be of type {_type_name(tp)}, got {value!r}: the value is quoted "
                              f"in {pyproject}; write it without quotes (e.g. {key} = {_unquoted(value, tp)})")


def _unquoted(value: str, tp: Any) -> str:
    """What a quoted value most likely meant, written as TOML: ``"5%"`` -> ``0.05``, ``"0,05"`` -> ``0.05``."""
    if tp is bool:
        return "true" if value.strip().lower() in ("1", "true", "yes", "on") else "false"
    text = value.strip().replace(",", ".")
    try:
        number = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        return "0.05" if tp is float else "1"
    return repr(int(number)) if tp is int and number == int(number) else repr(number)


_BAD_NAME = ("/", "\\", "\0")


def _check_model_name(settings: Settings) -> None:
    name = settings.model_name
    if not name.strip():
        raise ConfigError(f"model_name ({settings.source_of('model_name')}) is empty; set model_name in [tool.mlgates] "
                          f"to your model's registry name (letters, digits, '-', '_' or '.')")
    if any(c in name for c in _BAD_NAME) or name.strip(".") == "" or name != name.strip():
        raise ConfigError(f"model_name ({settings.source_of('model_name')}) {name!r} cannot name a model: it would "
                          f"escape or confuse the state folder; use letters, digits, '-', '_' or '.'")


def with_overrides(settings: Settings, overrides: Mapping[str, Any], where: str) -> Settings:
    """``settings`` with dotted keys (``tolerance``, ``load.p99_ms``) replaced, checked and validated."""
    hints = typing.get_type_hints(Settings)
    changes: dict[str, Any] = {}
    for path, value in overrides.items():
        section, _, key = path.rpartition(".")
        if section:
            current = changes.get(section) or getattr(settings, section)
            section_hints = typing.get_type_hints(type(current))
            changes[section] = dataclasses.replace(
                current, **{key: _coerce(value, section_hints[key], f"{where}({key}=...)")})
        else:
            changes[path] = _coerce(value, hints[path], f"{where}({path}=...)")
    marked = {path.partition(".")[0]: "the marker argument" for path in overrides}
    new = dataclasses.replace(settings, **changes, sources={**settings.sources, **marked})
    _validate(new)
    return new


def parse_hyperparameters(items: str | list[str], where: str) -> dict[str, Any]:
    """``max_depth=3,learning_rate=0.05`` (or a list of ``k=v``) -> typed values (JSON where it parses)."""
    import json

    if isinstance(items, str) and items.strip().startswith("{"):
        try:
            value = json.loads(items)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not a JSON object: {exc}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a JSON object of hyperparameters")
        return value
    parts = items.split(",") if isinstance(items, str) else list(items)
    parsed: dict[str, Any] = {}
    for part in (p.strip() for p in parts if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{where}: {part!r} is not KEY=VALUE (example: max_depth=3)")
        try:
            parsed[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.strip()] = value
    return parsed


def platform_names() -> set[str]:
    """Built-in and registered platform names: each may have its own ``[tool.mlgates.<name>]`` table."""
    from importlib.metadata import entry_points

    from .adapters.platforms import PLATFORMS

    return set(PLATFORMS) | {ep.name for ep in entry_points(group="pytest_mlgates.adapters")}


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_table(pyproject: Path | None) -> dict[str, Any]:
    """The raw ``[tool.mlgates]`` table (empty when there is none)."""
    if pyproject is None:
        return {}
    try:
        with pyproject.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject} is not valid TOML: {exc}") from exc
    table = data.get("tool", {}).get("mlgates", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.mlgates] in {pyproject} must be a table")
    return table


def load_settings(
    pyproject: Path | None,
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    ini: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge every source into one validated Settings.

    ``cli`` maps CLI dests (``ml_platform``, ``mlgates_job``...) to values, None
    meaning unset; ``ini`` maps pytest ini keys to values.
    """
    cli = cli or {}
    env = os.environ if env is None else env
    ini = ini or {}
    where = "tool.mlgates"
    table = dict(read_table(pyproject))
    for key in RUN_KEYS:
        if key in table:
            raise ConfigError(
                f"{key!r} in [tool.mlgates] of {pyproject} is a per-run value; pass it as --mlgates-{key.replace('_', '-')} "
                f"or MLGATES_{key.upper()} instead"
            )
    _reject_quoted(table, Settings, where, pyproject)
    sources = {k: "pyproject.toml" for k in table}
    for key, dest, env_var, ini_key in OPTION_KEYS:
        if ini_key and ini.get(ini_key) not in (None, ""):
            table[key], sources[key] = ini[ini_key], f"ini {ini_key}"
        if env.get(env_var, "") != "":
            table[key], sources[key] = env[env_var], f"env {env_var}"
        if cli.get(dest) is not None:
            flag = "--ml-platform" if dest == "ml_platform" else "--" + dest.replace("_", "-")
            table[key], sources[key] = cli[dest], f"option {flag}"
    data = cli.get("mlgates_data") or env.get("MLGATES_DATA", "")
    if data:
        table["training"] = {**table.get("training", {}), "data": data}
        sources["training"] = "option --mlgates-data" if cli.get("mlgates_data") else "env MLGATES_DATA"
    overrides = cli.get("mlgates_hyperparameter") or env.get("MLGATES_HYPERPARAMETERS", "")
    if overrides:
        flag = "--mlgates-hyperparameter" if cli.get("mlgates_hyperparameter") else "env MLGATES_HYPERPARAMETERS"
        training = dict(table.get("training", {}))  # after a --mlgates-data override, if any
        training["hyperparameters"] = {**training.get("hyperparameters", {}),
                                       **parse_hyperparameters(overrides, flag)}
        table["training"], sources["training"] = training, flag
    root = pyproject.parent if pyproject else Path.cwd()
    table.setdefault("model_name", root.resolve().name)
    platforms = {name: table.pop(name) for name in list(table) if name in platform_names()}
    try:
        for name, raw in platforms.items():
            if not isinstance(raw, Mapping):
                raise ConfigError(f"[tool.mlgates.{name}] must be a table, got {raw!r}")
        table["platforms"] = platforms
        settings: Settings = _build(Settings, table, where)
        settings = dataclasses.replace(settings, root=str(root), sources=sources)
        _validate(settings)
        _check_model_name(settings)
    except ConfigError as exc:
        message = str(exc)
        for key, source in sources.items():
            if f"{where}.{key} " in message and source != "pyproject.toml":
                message += f" (set by {source})"
        raise ConfigError(f"{message} [{pyproject or 'no pyproject.toml'}]") from None
    return settings
