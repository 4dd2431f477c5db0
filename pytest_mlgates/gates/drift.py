"""The drift gate: have the features moved away from what the model was trained on?

Per numeric feature: the population stability index (PSI, on reference-quantile
bins plus a bin for missing values) and the two-sample Kolmogorov-Smirnov
statistic with its p-value. Per categorical feature: PSI over categories and a
chi-square test with Cramer's V as its effect size.

Why both an effect size and a p-value: with a million rows a p-value is tiny
for a shift nobody cares about, and with fifty rows a large statistic can be
luck. A feature therefore drifts when its PSI exceeds the PSI threshold, or
when its KS statistic (Cramer's V) exceeds the statistic threshold *and* its
p-value is below the p-value threshold. See docs/drift.md.

Vectorised: each numeric column is sorted once (numpy's SIMD sort, in a small
thread pool because sorting releases the GIL) and everything else is read off
the sorted arrays with binary searches. The KS statistic is exact for samples
up to ``KS_GRID`` values and otherwise evaluated on ``KS_GRID`` quantile points
of each sample, which bounds its error by ``1 / KS_GRID``.

It fails closed: a missing column, a column whose type differs between the
two frames, an unsupported dtype or a bad threshold is an error; too few rows
or a feature without any value is an inconclusive (failing) verdict. Only a
failure that found drift sets the output ``drift_detected=true``, so a
workflow can retrain on drift without retraining on a broken data feed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DriftSettings, Settings
from .context import conclude, current_settings
from .verdict import Verdict, fmt

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

KS_GRID = 20_000
"""Quantile points per sample at which the KS statistic is evaluated (exact below this size)."""
PSI_EPSILON = 1e-4
"""Floor on a bin's share in the PSI sum, so an empty bin gives a large finite term, not infinity."""
THRESHOLD_KEYS = ("psi", "ks_statistic", "ks_pvalue", "cramers_v", "chi2_pvalue")
NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass
class FeatureDrift:
    """The drift figures of one feature."""

    feature: str
    kind: str
    psi: float
    statistic: float
    """KS statistic D (numeric) or Cramer's V (categorical); NaN when undefined."""
    pvalue: float
    missing_reference: float
    missing_current: float
    drifted: bool
    inconclusive: bool = False
    reasons: list[str] = field(default_factory=list)
    severity: float = 0.0
    """max(PSI / its threshold, statistic / its threshold): how far past (or short of) the line."""
    thresholds: dict[str, float] = field(default_factory=dict)
    new_categories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Limits:
    psi: float
    ks_statistic: float
    ks_pvalue: float
    cramers_v: float
    chi2_pvalue: float


# -- input checks ---------------------------------------------------------------------------------


def _frame(data: Any, role: str) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame(data)
    raise TypeError(f"assert_no_drift: {role} must be a pandas DataFrame (or a mapping of columns), "
                    f"got {type(data).__name__}")


def _kind_of(series: pd.Series, forced_categorical: bool) -> str:
    kind = series.dtype.kind
    if forced_categorical or kind in "OSUb" or str(series.dtype) in ("category", "string", "boolean", "str"):
        return CATEGORICAL
    if kind in "iuf":
        return NUMERIC
    raise TypeError(f"feature {series.name!r} has dtype {series.dtype}, which the drift gate cannot judge; "
                    f"convert it to numbers or categories, or leave it out with exclude=[{series.name!r}]")


def _check_threshold(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")
    if name.endswith("pvalue"):
        if not 0 < value < 1:
            raise ValueError(f"{where}: {name} must be in (0, 1), got {value!r}")
    elif value <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return float(value)


def _limits_for(features: Sequence[str], base: _Limits, thresholds: Mapping[str, Mapping[str, Any]]) -> dict[str, _Limits]:
    unknown = sorted(set(thresholds) - set(features))
    if unknown:
        raise ValueError(f"thresholds name feature(s) {', '.join(map(repr, unknown))} that are not checked; "
                         f"checked features: {', '.join(features)}")
    limits = {}
    for feature in features:
        override = thresholds.get(feature, {})
        bad = sorted(set(override) - set(THRESHOLD_KEYS))
        if bad:
            raise ValueError(f"thresholds[{feature!r}] has unknown key(s) {', '.join(bad)}; "
                             f"valid keys: {', '.join(THRESHOLD_KEYS)}")
        values = {k: _check_threshold(k, v, f"thresholds[{feature!r}]") for k, v in override.items()}
        limits[feature] = _Limits(**{**asdict(base), **values})
    return limits


# -- numeric features -----------------------------------------------------------------------------


def _sorted_valid(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Sorted non-NaN values and the NaN count (np.sort puts NaN last, so no mask copy)."""
    missing = int(np.count_nonzero(np.isnan(values)))
    ordered = np.sort(values)
    return (ordered[: len(ordered) - missing] if missing else ordered), missing


def _psi(p_ref: np.ndarray, p_cur: np.ndarray) -> float:
    p_ref = np.maximum(p_ref, PSI_EPSILON)
    p_cur = np.maximum(p_cur, PSI_EPSILON)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def _grid(ordered: np.ndarray) -> np.ndarray:
    if len(ordered) <= KS_GRID:
        return ordered
    return ordered[np.linspace(0, len(ordered) - 1, KS_GRID).astype(np.int64)]


def _numeric_figures(ref: np.ndarray, cur: np.ndarray, bins: int) -> tuple[float, float, int, int, int, int]:
    """(psi, ks_d, valid_ref, valid_cur, missing_ref, missing_cur) for one numeric feature."""
    a, miss_a = _sorted_valid(ref)
    b, miss_b = _sorted_valid(cur)
    n_ref, n_cur = len(ref), len(cur)
    if len(a):
        edges = np.unique(a[(np.arange(1, bins) * len(a)) // bins])
    else:  # no reference values at all: one bin for values, one for missing
        edges = np.empty(0)
    cum_a = np.searchsorted(a, edges, side="right")
    cum_b = np.searchsorted(b, edges, side="right")
    count_a = np.diff(np.concatenate(([0], cum_a, [len(a)])))
    count_b = np.diff(np.concatenate(([0], cum_b, [len(b)])))
    p_ref = np.append(count_a, miss_a) / n_ref
    p_cur = np.append(count_b, miss_b) / n_cur
    psi = _psi(p_ref, p_cur)
    if len(a) and len(b):
        points = np.concatenate((_grid(a), _grid(b)))
        cdf_a = np.searchsorted(a, points, side="right") / len(a)
        cdf_b = np.searchsorted(b, points, side="right") / len(b)
        ks = float(np.max(np.abs(cdf_a - cdf_b)))
    else:
        ks = math.nan
    return psi, ks, len(a), len(b), miss_a, miss_b


def _as_float(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def ks_pvalues(statistics: np.ndarray, n_ref: np.ndarray, n_cur: np.ndarray) -> np.ndarray:
    """Asymptotic two-sided KS p-values (scipy's ``ks_2samp(method="asymp")``), vectorised."""
    import warnings

    from scipy.stats import kstwo

    stats = np.asarray(statistics, dtype=float)
    out = np.full(stats.shape, math.nan)
    ok = np.isfinite(stats) & (n_ref > 0) & (n_cur > 0)
    if ok.any():
        en = np.round(n_ref[ok] * n_cur[ok] / (n_ref[ok] + n_cur[ok]))
        with warnings.catch_warnings():  # kstwo warns on n = 1; its value is still right
            warnings.simplefilter("ignore", RuntimeWarning)
            out[ok] = np.clip(kstwo.sf(stats[ok], np.maximum(en, 1)), 0.0, 1.0)
    return out


# -- categorical features -------------------------------------------------------------------------


def _category_counts(series: pd.Series) -> tuple[Any, np.ndarray, int]:
    """(labels, counts per label, missing count), from category codes or a factorisation."""
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        labels: Any = series.cat.categories
    else:
        codes, labels = pd.factorize(series, use_na_sentinel=True)
    valid = codes[codes >= 0]
    return labels, np.bincount(valid, minlength=len(labels)), int(len(codes) - len(valid))


def _categorical_figures(ref: pd.Series, cur: pd.Series) -> tuple[float, float, float, list[str], int, int]:
    """(psi, cramers_v, chi2 p-value, new categories, missing_ref, missing_cur)."""
    import pandas as pd
    from scipy.stats import chi2

    labels_a, counts_a, miss_a = _category_counts(ref)
    labels_b, counts_b, miss_b = _category_counts(cur)
    index_a = pd.Index(labels_a)
    pos = index_a.get_indexer(pd.Index(labels_b))
    if (pos < 0).any() and not index_a.is_unique:  # pragma: no cover - factorize gives unique labels
        raise ValueError(f"feature {ref.name!r} has duplicate categories")
    fresh = pos < 0
    row_ref = np.concatenate((counts_a, np.zeros(int(fresh.sum())), [miss_a])).astype(float)
    row_cur = np.concatenate((np.zeros(len(counts_a)), counts_b[fresh], [miss_b])).astype(float)
    np.add.at(row_cur, pos[~fresh], counts_b[~fresh])
    observed = np.vstack((row_ref, row_cur))
    observed = observed[:, observed.sum(axis=0) > 0]  # drop categories seen in neither frame
    new = [str(label) for label, count in zip(np.asarray(labels_b, dtype=object)[fresh], counts_b[fresh]) if count]
    n_ref, n_cur = len(ref), len(cur)
    psi = _psi(observed[0] / n_ref, observed[1] / n_cur)
    k = observed.shape[1]
    if k < 2:
        return psi, 0.0, 1.0, new, miss_a, miss_b
    total = observed.sum()
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / total
    stat = float(np.sum((observed - expected) ** 2 / expected))
    cramers_v = math.sqrt(stat / total)
    pvalue = float(chi2.sf(stat, k - 1))
    return psi, cramers_v, pvalue, new, miss_a, miss_b


# -- the report -----------------------------------------------------------------------------------


def _settings_defaults(settings: Settings | None) -> tuple[DriftSettings, str]:
    if settings is not None:
        return settings.drift, settings.training.target
    s = current_settings()
    return s.drift, s.training.target


def drift_report(
    reference: Any,
    current: Any,
    *,
    features: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    categorical: Iterable[str] | None = None,
    psi_threshold: float | None = None,
    ks_statistic: float | None = None,
    ks_pvalue: float | None = None,
    cramers_v: float | None = None,
    chi2_pvalue: float | None = None,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    bins: int | None = None,
    settings: Settings | None = None,
    threads: int | None = None,
) -> list[FeatureDrift]:
    """Per-feature drift figures, worst first, without deciding the gate.

    Unset arguments default to ``[tool.mlgates.drift]``; ``features`` defaults
    to every reference column except the training target and ``exclude``.
    """
    conf, target = _settings_defaults(settings)
    ref_df, cur_df = _frame(reference, "reference"), _frame(current, "current")
    excluded = set(conf.exclude if exclude is None else exclude)
    if isinstance(features, str):
        raise TypeError(f"features must be a list of column names, got the string {features!r}")
    if features is None and conf.features:
        features = conf.features
    if features is None:
        names = [str(c) for c in ref_df.columns if c != target and c not in excluded]
    else:
        names = [f for f in features if f not in excluded]
    if not names:
        raise ValueError("no features to check: the reference frame has no columns left after removing the "
                         f"target {target!r} and exclude={sorted(excluded)}; pass features=[...]")
    if len(set(names)) != len(names):
        raise ValueError(f"features lists a column twice: {names}")
    for role, df in (("reference", ref_df), ("current", cur_df)):
        missing = [f for f in names if f not in df.columns]
        if missing:
            raise ValueError(f"the {role} frame has no column(s) {', '.join(map(repr, missing))}; "
                             f"its columns are {', '.join(map(str, df.columns))}. Pass features=[...] or "
                             f"exclude=[...] to check only columns both frames have.")
    forced = set(conf.categorical if categorical is None else categorical)
    unknown_forced = sorted(forced - set(names))
    if unknown_forced:
        raise ValueError(f"categorical names column(s) {', '.join(map(repr, unknown_forced))} that are not checked")
    n_bins = conf.bins if bins is None else bins
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or not 2 <= n_bins <= 1000:
        raise ValueError(f"bins must be an integer in [2, 1000], got {n_bins!r}")
    base = _Limits(
        psi=_check_threshold("psi_threshold", conf.psi_threshold if psi_threshold is None else psi_threshold, "drift"),
        ks_statistic=_check_threshold("ks_statistic", conf.ks_statistic if ks_statistic is None else ks_statistic, "drift"),
        ks_pvalue=_check_threshold("ks_pvalue", conf.ks_pvalue if ks_pvalue is None else ks_pvalue, "drift"),
        cramers_v=_check_threshold("cramers_v", conf.cramers_v if cramers_v is None else cramers_v, "drift"),
        chi2_pvalue=_check_threshold("chi2_pvalue", conf.chi2_pvalue if chi2_pvalue is None else chi2_pvalue, "drift"),
    )
    limits = _limits_for(names, base, conf.thresholds if thresholds is None else thresholds)

    kinds: dict[str, str] = {}
    for name in names:
        kind_ref = _kind_of(ref_df[name], name in forced)
        kind_cur = _kind_of(cur_df[name], name in forced)
        if kind_ref != kind_cur:
            raise ValueError(f"feature {name!r} is {kind_ref} in the reference ({ref_df[name].dtype}) but "
                             f"{kind_cur} in the current frame ({cur_df[name].dtype}); the data feed changed type. "
                             f"Fix the feed, or force it with categorical=[{name!r}]")
        kinds[name] = kind_ref
    if len(ref_df) == 0 or len(cur_df) == 0:
        raise ValueError(f"cannot judge drift on an empty frame (reference {len(ref_df)} rows, current "
                         f"{len(cur_df)} rows)")

    numeric = [n for n in names if kinds[n] == NUMERIC]
    categorical_names = [n for n in names if kinds[n] == CATEGORICAL]
    results: list[FeatureDrift] = []

    def one_numeric(name: str) -> tuple[float, float, int, int, int, int]:
        return _numeric_figures(_as_float(ref_df[name]), _as_float(cur_df[name]), n_bins)

    def one_categorical(name: str) -> tuple[float, float, float, list[str], int, int]:
        return _categorical_figures(ref_df[name], cur_df[name])

    workers = threads if threads is not None else min(4, os.cpu_count() or 1)
    if workers > 1 and len(names) > 1 and len(ref_df) + len(cur_df) > 50_000:
        # numpy's sort and searchsorted release the GIL; categorical counting overlaps with them
        with ThreadPoolExecutor(max_workers=workers) as pool:
            cat_futures = [pool.submit(one_categorical, n) for n in categorical_names]
            num_figures = list(pool.map(one_numeric, numeric))
            cat_figures = [f.result() for f in cat_futures]
    else:
        num_figures = [one_numeric(n) for n in numeric]
        cat_figures = [one_categorical(n) for n in categorical_names]
    if numeric:
        arr = np.array([f[:4] for f in num_figures], dtype=float)
        pvalues = ks_pvalues(arr[:, 1], arr[:, 2], arr[:, 3])
        for name, (psi, ks, valid_a, valid_b, miss_a, miss_b), p in zip(numeric, num_figures, pvalues):
            results.append(_judge(name, NUMERIC, psi, ks, float(p), miss_a / len(ref_df), miss_b / len(cur_df),
                                  limits[name], [], no_values=(valid_a == 0 and valid_b == 0)))
    for name, (psi, v, p, new, miss_a, miss_b) in zip(categorical_names, cat_figures):
        results.append(_judge(name, CATEGORICAL, psi, v, p, miss_a / len(ref_df), miss_b / len(cur_df),
                              limits[name], new, no_values=(miss_a == len(ref_df) and miss_b == len(cur_df))))
    results.sort(key=lambda r: (not r.inconclusive, not r.drifted,
                                -r.severity if math.isfinite(r.severity) else 0.0, r.feature))
    return results


def _judge(name: str, kind: str, psi: float, stat: float, pvalue: float, miss_ref: float, miss_cur: float,
           limits: _Limits, new: list[str], no_values: bool) -> FeatureDrift:
    stat_limit, p_limit, stat_name = ((limits.ks_statistic, limits.ks_pvalue, "KS D") if kind == NUMERIC
                                      else (limits.cramers_v, limits.chi2_pvalue, "Cramer's V"))
    reasons: list[str] = []
    drifted = False
    if no_values:
        reasons.append("no values in either frame (all missing): nothing to compare")
    if psi > limits.psi:
        drifted = True
        reasons.append(f"PSI {psi:.4g} > {fmt(limits.psi)}")
    if math.isfinite(stat) and stat > stat_limit:
        if pvalue < p_limit:
            drifted = True
            reasons.append(f"{stat_name} {stat:.4g} > {fmt(stat_limit)} with p {_fmt_p(pvalue)} < {fmt(p_limit)}")
        else:
            reasons.append(f"{stat_name} {stat:.4g} > {fmt(stat_limit)} but p {_fmt_p(pvalue)} >= {fmt(p_limit)} "
                           f"(not significant with this many rows)")
    if new:
        shown = ", ".join(new[:3]) + (f" and {len(new) - 3} more" if len(new) > 3 else "")
        reasons.append(f"new categories: {shown}")
    severity = max(psi / limits.psi, (stat / stat_limit) if math.isfinite(stat) else 0.0)
    thresholds = {"psi": limits.psi, ("ks_statistic" if kind == NUMERIC else "cramers_v"): stat_limit,
                  ("ks_pvalue" if kind == NUMERIC else "chi2_pvalue"): p_limit}
    return FeatureDrift(name, kind, psi, stat, pvalue, miss_ref, miss_cur, drifted and not no_values, no_values,
                        reasons, severity, thresholds, new)


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    if p < 1e-300:
        return "<1e-300"
    return f"{p:.3g}"


def format_table(rows: Sequence[FeatureDrift], limit: int = 10) -> str:
    """The worst ``limit`` features as a fixed-width text table."""
    header = ("feature", "kind", "PSI", "statistic", "p-value", "missing ref->cur", "verdict")
    lines = []
    for r in rows[:limit]:
        stat_name = "KS" if r.kind == NUMERIC else "V"
        word = "DRIFT" if r.drifted else ("NO DATA" if r.inconclusive else "ok")
        lines.append((r.feature, r.kind, fmt(round(r.psi, 4)),
                      f"{stat_name} {fmt(round(r.statistic, 4))}" if math.isfinite(r.statistic) else "n/a",
                      _fmt_p(r.pvalue), f"{r.missing_reference:.1%} -> {r.missing_current:.1%}",
                      word + (": " + "; ".join(r.reasons) if r.reasons else "")))
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *lines]:
        out.append("  ".join(str(cell).ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1])
    if len(rows) > limit:
        out.append(f"... and {len(rows) - limit} more feature(s)")
    return "\n".join(out)


def assert_no_drift(
    reference: Any,
    current: Any,
    *,
    features: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    categorical: Iterable[str] | None = None,
    psi_threshold: float | None = None,
    ks_statistic: float | None = None,
    ks_pvalue: float | None = None,
    cramers_v: float | None = None,
    chi2_pvalue: float | None = None,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    bins: int | None = None,
    max_drifted: int | None = None,
    min_rows: int | None = None,
    top: int = 10,
    settings: Settings | None = None,
) -> Verdict:
    """Raise AssertionError when the current features drifted from the reference.

    ``reference`` and ``current`` are DataFrames of features (numeric and
    categorical columns, chosen by dtype unless named in ``categorical``).
    Unset arguments default to ``[tool.mlgates.drift]``; ``thresholds`` maps a
    feature to overrides of ``psi``, ``ks_statistic``, ``ks_pvalue``,
    ``cramers_v`` and ``chi2_pvalue``.
    """
    conf, _ = _settings_defaults(settings)
    allowed = conf.max_drifted if max_drifted is None else max_drifted
    needed = conf.min_rows if min_rows is None else min_rows
    for name, value in (("max_drifted", allowed), ("min_rows", needed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    ref_df, cur_df = _frame(reference, "reference"), _frame(current, "current")
    rows = drift_report(ref_df, cur_df, features=features, exclude=exclude, categorical=categorical,
                        psi_threshold=psi_threshold, ks_statistic=ks_statistic, ks_pvalue=ks_pvalue,
                        cramers_v=cramers_v, chi2_pvalue=chi2_pvalue, thresholds=thresholds, bins=bins,
                        settings=settings)
    drifted = [r for r in rows if r.drifted]
    no_data = [r for r in rows if r.inconclusive]
    figures: dict[str, Any] = {
        "reference_rows": len(ref_df), "current_rows": len(cur_df), "features": len(rows),
        "drifted": len(drifted), "max_drifted": allowed,
        "drifted_features": ", ".join(r.feature for r in drifted),
        "worst_feature": rows[0].feature, "worst_psi": max(r.psi for r in rows),
    }
    sizes = f"reference {len(ref_df)} rows, current {len(cur_df)} rows"
    rule = ("rule: a feature drifts when PSI > its threshold, or when its KS D (numeric) / Cramer's V "
            "(categorical) > its threshold with p-value below its threshold")
    table = format_table(rows, top)
    short = [r for r in (("reference", len(ref_df)), ("current", len(cur_df))) if r[1] < needed]
    if short or no_data:
        why = [f"the {role} frame has {n} rows, fewer than min_rows={needed}" for role, n in short]
        why += [f"feature {r.feature!r} has no values in either frame" for r in no_data]
        message = (f"drift gate INCONCLUSIVE (fail-closed): {'; '.join(why)}. Fix the data feed (or lower "
                   f"min_rows, or exclude the empty feature); this is not evidence of drift, so it does not "
                   f"trigger retraining.\n  {sizes}\n"
                   + _indent(table))
        figures["inconclusive"] = True
        return conclude(Verdict("drift", False, message, figures, {}))
    passed = len(drifted) <= allowed
    if passed:
        head = f"drift gate passed: {len(drifted)} of {len(rows)} features drifted (allowed: {allowed}); {sizes}"
        return conclude(Verdict("drift", True, head + "\n" + _indent(table) + "\n  " + rule, figures, {}))
    head = (f"drift gate FAILED: {len(drifted)} of {len(rows)} features drifted (allowed: {allowed}): "
            f"{', '.join(r.feature for r in drifted[:5])}{' ...' if len(drifted) > 5 else ''}; {sizes}")
    message = head + "\n" + _indent(table) + "\n  " + rule
    return conclude(Verdict("drift", False, message, figures, {"drift_detected": "true"}))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


# -- where the drift gate's frames come from -------------------------------------------------------


def read_frame(location: str, settings: Settings | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON(-lines) file or URI into a DataFrame (relative to the project)."""
    import pandas as pd

    if not location:
        raise ValueError("no data location given")
    path: Any = location if "://" in location else (settings.path(location) if settings else location)
    lowered = str(location).lower()
    if lowered.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if lowered.endswith((".jsonl", ".ndjson")):
        return pd.read_json(path, lines=True)
    if lowered.endswith(".json"):
        return pd.read_json(path)
    if lowered.endswith((".csv", ".csv.gz", ".txt")):
        return pd.read_csv(path)
    raise ValueError(f"cannot tell the format of {location!r}: use a .csv, .parquet, .json or .jsonl file")


def drift_frames(settings: Settings | None = None, env: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (reference, current) frames of the drift gate.

    Reference: env ``MLGATES_DRIFT_REFERENCE``, else ``[tool.mlgates.drift]
    reference``, else ``[tool.mlgates.training] data``. Current: env
    ``MLGATES_DRIFT_CURRENT``, else ``[tool.mlgates.drift] current``.
    """
    s = current_settings(settings)
    env = os.environ if env is None else env
    reference = env.get("MLGATES_DRIFT_REFERENCE") or s.drift.reference or s.training.data
    current = env.get("MLGATES_DRIFT_CURRENT") or s.drift.current
    if not reference:
        raise ValueError("the drift gate has no reference data: set [tool.mlgates.drift] reference (or "
                         "[tool.mlgates.training] data, or env MLGATES_DRIFT_REFERENCE)")
    if not current:
        raise ValueError("the drift gate has no current data: set [tool.mlgates.drift] current to recent "
                         "production features, or env MLGATES_DRIFT_CURRENT")
    return read_frame(reference, s), read_frame(current, s)


__all__ = ["FeatureDrift", "assert_no_drift", "drift_frames", "drift_report", "format_table", "ks_pvalues",
           "read_frame"]
