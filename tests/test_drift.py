"""The drift gate on the delivery example's generator, against scipy as the oracle, and its fail-closed paths."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from pytest_mlgates.config import Settings, load_settings
from pytest_mlgates.gates import drift as drift_module
from pytest_mlgates.gates.drift import assert_no_drift, drift_frames, drift_report
from pytest_mlgates.gates.context import collecting

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "delivery_eta" / "deliveries.py"
_spec = importlib.util.spec_from_file_location("deliveries_for_drift_tests", EXAMPLE)
deliveries = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deliveries)

DEFAULTS = Settings()
# what deliveries.generate's drift dial moves, per its code: distance scale, prep mean, evening hours, weather mix
MOVED = {"distance_km", "prep_minutes", "hour", "weather"}
UNMOVED = {"weekday", "items", "city_zone", "courier_type"}


def features(n: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    return deliveries.generate(n, seed=seed, drift=drift).drop(columns=deliveries.TARGET)


@pytest.fixture(autouse=True)
def recorded():
    """The verdicts the test's helpers conclude, in order."""
    with collecting(DEFAULTS) as verdicts:
        yield verdicts


def drain(verdicts):
    taken = list(verdicts)
    verdicts.clear()
    return taken


def test_no_drift_between_two_samples_of_the_same_process(recorded):
    verdict = assert_no_drift(features(20_000, seed=1), features(20_000, seed=2), settings=DEFAULTS)
    assert verdict.passed and verdict.gate == "drift"
    assert verdict.outputs == {}
    assert verdict.figures["drifted"] == 0 and verdict.figures["features"] == 8
    assert [v.gate for v in drain(recorded)] == ["drift"]


def test_drift_is_detected_and_tabled_with_the_moved_features_first(recorded):
    with pytest.raises(AssertionError) as exc:
        assert_no_drift(features(20_000, seed=1), features(20_000, seed=2, drift=0.6), settings=DEFAULTS)
    message = str(exc.value)
    assert message.startswith("drift gate FAILED")
    assert "feature" in message and "PSI" in message and "p-value" in message  # the table header
    (verdict,) = drain(recorded)
    assert not verdict.passed and verdict.outputs == {"drift_detected": "true"}
    drifted = set(verdict.figures["drifted_features"].split(", "))
    assert drifted and drifted <= MOVED
    table_order = [line.split()[0] for line in message.splitlines()[2:10]]
    assert set(table_order[: len(drifted)]) == drifted


def test_report_ranks_moved_features_above_unmoved_ones():
    rows = drift_report(features(20_000, seed=3), features(20_000, seed=4, drift=1.0), settings=DEFAULTS)
    severity = {r.feature: r.severity for r in rows}
    assert min(severity[f] for f in MOVED) > max(severity[f] for f in UNMOVED)
    kinds = {r.feature: r.kind for r in rows}
    assert {f for f, k in kinds.items() if k == "categorical"} == {"city_zone", "courier_type", "weather"}


def test_thresholds_per_feature_and_max_drifted():
    ref, cur = features(20_000, seed=1), features(20_000, seed=2, drift=0.6)
    drifted = [r.feature for r in drift_report(ref, cur, settings=DEFAULTS) if r.drifted]
    loose = {f: {"psi": 10.0, "ks_statistic": 0.99, "cramers_v": 0.99} for f in drifted}
    assert assert_no_drift(ref, cur, thresholds=loose, settings=DEFAULTS).passed
    assert assert_no_drift(ref, cur, max_drifted=len(drifted), settings=DEFAULTS).passed
    with pytest.raises(AssertionError):
        assert_no_drift(ref, cur, max_drifted=len(drifted) - 1, settings=DEFAULTS)


def test_large_samples_need_an_effect_size_not_just_a_tiny_p_value():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 200_000)})
    cur = pd.DataFrame({"x": rng.normal(0.03, 1, 200_000)})  # a trivial shift
    (row,) = drift_report(ref, cur, settings=DEFAULTS)
    assert row.pvalue < 1e-6 and not row.drifted
    assert "not significant" not in " ".join(row.reasons)
    # and a real shift on few rows is judged by its p-value too
    small = drift_report(pd.DataFrame({"x": rng.normal(0, 1, 30)}), pd.DataFrame({"x": rng.normal(0, 1, 30)}),
                         ks_statistic=0.01, psi_threshold=50.0, settings=DEFAULTS)
    assert not small[0].drifted


def test_defaults_and_thresholds_come_from_pyproject(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlgates.training]\ntarget = "eta_minutes"\n'
        '[tool.mlgates.drift]\nexclude = ["weekday"]\nthresholds = { distance_km = { psi = 9.0, ks_statistic = 0.9 } }\n'
        'min_rows = 10\n')
    s = load_settings(tmp_path / "pyproject.toml", env={})
    ref = deliveries.generate(5_000, seed=1)
    rows = drift_report(ref, deliveries.generate(5_000, seed=2, drift=0.6), settings=s)
    names = {r.feature for r in rows}
    assert "eta_minutes" not in names and "weekday" not in names
    distance = next(r for r in rows if r.feature == "distance_km")
    assert distance.thresholds["psi"] == 9.0 and not distance.drifted


# -- the statistics against scipy ------------------------------------------------------------------

values = st.lists(st.integers(-5, 5) | st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # scipy, the oracle, on n = 1
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, values)
def test_ks_statistic_and_p_value_match_scipy(a: list, b: list):
    ref, cur = pd.DataFrame({"x": np.asarray(a, float)}), pd.DataFrame({"x": np.asarray(b, float)})
    (row,) = drift_report(ref, cur, settings=DEFAULTS)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert row.statistic == pytest.approx(expected.statistic, abs=1e-12)
    if math.isnan(expected.pvalue):  # scipy rounds n*m/(n+m) = 0.5 down to 0 samples; we use 1
        assert len(a) == len(b) == 1
    else:
        assert row.pvalue == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)
    assert row.psi >= 0


def test_ks_on_large_samples_is_within_the_grid_bound():
    rng = np.random.default_rng(7)
    a = np.round(rng.gamma(2.0, 2.0, 60_000), 2)  # ties, like the example's rounded columns
    b = np.round(rng.gamma(2.0, 2.2, 50_000), 2)
    (row,) = drift_report(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), settings=DEFAULTS)
    exact = stats.ks_2samp(a, b).statistic
    assert abs(row.statistic - exact) <= 1.0 / drift_module.KS_GRID + 1e-9


def test_psi_matches_a_plain_histogram_computation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 10_000), rng.normal(0.5, 1.2, 8_000)
    (row,) = drift_report(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), bins=10, settings=DEFAULTS)
    edges = np.quantile(a, np.linspace(0, 1, 11), method="inverted_cdf")[1:-1]
    p = np.histogram(a, np.concatenate(([-np.inf], edges, [np.inf])))[0] / len(a)
    q = np.histogram(b, np.concatenate(([-np.inf], edges, [np.inf])))[0] / len(b)
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    assert row.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=0.02)


def test_categorical_chi_square_matches_scipy_and_reports_new_categories():
    ref = pd.DataFrame({"c": ["a"] * 500 + ["b"] * 300 + ["c"] * 200})
    cur = pd.DataFrame({"c": ["a"] * 350 + ["b"] * 350 + ["c"] * 250 + ["zz"] * 50})
    (row,) = drift_report(ref, cur, settings=DEFAULTS)
    table = np.array([[500, 300, 200, 0], [350, 350, 250, 50]])
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert row.kind == "categorical"
    assert row.pvalue == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert row.statistic == pytest.approx(math.sqrt(chi2 / table.sum()), rel=1e-9)
    assert row.new_categories == ["zz"] and any("new categories: zz" in r for r in row.reasons)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["x", "y", "z", None]), min_size=5, max_size=80), st.booleans())
def test_identical_frames_never_drift(column: list, as_category: bool):
    frame = pd.DataFrame({"c": pd.Series(column, dtype="category" if as_category else object),
                          "n": np.arange(len(column), dtype=float)})
    rows = drift_report(frame, frame.copy(), settings=DEFAULTS)
    assert all(r.psi == pytest.approx(0.0, abs=1e-12) and not r.drifted for r in rows)


def test_forced_categorical_and_missing_values():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"hour": rng.integers(0, 24, 5_000), "v": rng.normal(size=5_000)})
    cur = ref.copy()
    cur.loc[: 2_000, "v"] = np.nan  # the feed lost 40% of the values: a missingness shift
    rows = {r.feature: r for r in drift_report(ref, cur, categorical=["hour"], settings=DEFAULTS)}
    assert rows["hour"].kind == "categorical" and not rows["hour"].drifted
    assert rows["v"].drifted and rows["v"].missing_current == pytest.approx(2_001 / 5_000)


# -- fail closed -----------------------------------------------------------------------------------


def test_too_few_rows_is_inconclusive_and_does_not_claim_drift(recorded):
    with pytest.raises(AssertionError, match="INCONCLUSIVE") as exc:
        assert_no_drift(features(500, 1), features(40, 2), settings=DEFAULTS)
    assert "min_rows=100" in str(exc.value)
    (verdict,) = drain(recorded)
    assert "drift_detected" not in verdict.outputs


def test_a_feature_without_values_is_inconclusive():
    ref = pd.DataFrame({"a": np.arange(200.0), "b": np.full(200, np.nan)})
    with pytest.raises(AssertionError, match="feature 'b' has no values"):
        assert_no_drift(ref, ref.copy(), settings=DEFAULTS)


@pytest.mark.parametrize("change, error, needle", [
    (lambda r, c: (r, c.drop(columns="hour")), ValueError, "current frame has no column"),
    (lambda r, c: (r, c.iloc[:0]), ValueError, "empty frame"),
    (lambda r, c: (r, c.assign(hour=c["hour"].astype(str))), ValueError, "the data feed changed type"),
    (lambda r, c: (r.assign(t=pd.Timestamp("2024-01-01")), c.assign(t=pd.Timestamp("2024-01-02"))), TypeError,
     "cannot judge"),
    (lambda r, c: ([1, 2, 3], c), TypeError, "must be a pandas DataFrame"),
])
def test_bad_inputs_are_errors(change, error, needle, recorded):
    ref, cur = change(features(300, 1), features(300, 2))
    with pytest.raises(error, match=needle):
        assert_no_drift(ref, cur, settings=DEFAULTS)
    assert drain(recorded) == []  # an error is not a verdict


@pytest.mark.parametrize("kwargs, needle", [
    ({"psi_threshold": -0.1}, "psi_threshold must be > 0"),
    ({"ks_pvalue": 1.5}, r"ks_pvalue must be in \(0, 1\)"),
    ({"ks_statistic": float("nan")}, "must be a finite number"),
    ({"thresholds": {"nope": {"psi": 0.3}}}, "not checked"),
    ({"thresholds": {"hour": {"psii": 0.3}}}, "unknown key"),
    ({"bins": 1}, "bins must be an integer"),
    ({"features": "hour"}, "list of column names"),
    ({"categorical": ["nope"]}, "not checked"),
    ({"max_drifted": -1}, "max_drifted must be"),
])
def test_bad_thresholds_are_errors(kwargs, needle):
    with pytest.raises((ValueError, TypeError), match=needle):
        assert_no_drift(features(300, 1), features(300, 2), settings=DEFAULTS, **kwargs)


def test_drift_frames_read_files_with_env_overriding_pyproject(tmp_path: Path):
    features(300, 1).to_csv(tmp_path / "train.csv", index=False)
    features(300, 2).to_parquet(tmp_path / "recent.parquet") if importlib.util.find_spec("pyarrow") else None
    features(300, 3).to_json(tmp_path / "today.jsonl", orient="records", lines=True)
    (tmp_path / "pyproject.toml").write_text('[tool.mlgates.training]\ndata = "train.csv"\n'
                                            '[tool.mlgates.drift]\ncurrent = "today.jsonl"\n')
    s = load_settings(tmp_path / "pyproject.toml", env={})
    reference, current = drift_frames(s, env={})
    assert len(reference) == 300 and list(current.columns) == list(reference.columns)
    assert assert_no_drift(reference, current, settings=s, min_rows=100).passed
    with pytest.raises(ValueError, match="no current data"):
        drift_frames(load_settings(None, env={}), env={"MLGATES_DRIFT_REFERENCE": str(tmp_path / "train.csv")})
    with pytest.raises(ValueError, match="cannot tell the format"):
        drift_frames(s, env={"MLGATES_DRIFT_CURRENT": str(tmp_path / "today.xlsx")})


def test_lazy_export_from_gates_package():
    from pytest_mlgates import gates

    assert gates.assert_no_drift is assert_no_drift
