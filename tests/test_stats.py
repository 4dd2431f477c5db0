"""The statistics of the gates, tested by simulation with known truth and agreement with scipy/statsmodels.

Every Monte Carlo here is seeded and vectorised (a few seconds in all). Bounds on simulated rates
allow three binomial standard deviations of Monte Carlo error, so a correct method passes every seed
and a method that is off by a few points fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_mlgates.config import ChampionSettings, MetricSettings, Settings
from pytest_mlgates.gates.paired import Evaluation, Outputs, metric_rules, paired_estimate, paired_verdicts
from pytest_mlgates.stats.bootstrap import cell_counts, paired_cell_bootstrap, scores_from_cells
from pytest_mlgates.stats.delong import auc_and_covariance, paired_auc
from pytest_mlgates.stats.estimate import FAIL, INCONCLUSIVE, PASS, decide
from pytest_mlgates.stats.multiplicity import holm
from pytest_mlgates.stats.paired import paired_mean, per_row_loss
from pytest_mlgates.stats.sequential import (
    BREACH, CLEAR, RateEvidence, confidence_sequence, decide_rate, requests_to_decide)


def mc_upper(rate: float, reps: int) -> float:
    """The largest simulated rate consistent with a true rate of ``rate`` (three standard deviations)."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / reps)


def covers(low: float, high: float, truth: float) -> bool:
    return low <= truth <= high


# -- paired t interval (mean-decomposable metrics) -------------------------------------------------

def test_paired_t_interval_agrees_with_scipy_and_statsmodels() -> None:
    from statsmodels.stats.weightstats import DescrStatsW

    rng = np.random.default_rng(1)
    a, b = rng.exponential(1.0, 500), rng.exponential(1.1, 500)
    est = paired_mean(a, b, weight=1.05)
    d = b - 1.05 * a
    assert est.interval(0.9) == pytest.approx(DescrStatsW(d).tconfint_mean(alpha=0.1), rel=1e-10)
    assert est.p_value() == pytest.approx(stats.ttest_1samp(d, 0.0, alternative="less").pvalue, rel=1e-10)


def test_paired_t_interval_covers_the_true_difference_at_its_level() -> None:
    rng = np.random.default_rng(2)
    reps, n, truth = 2000, 150, 0.1
    e_a = rng.normal(0, 1.0, (reps, n))
    e_b = 0.7 * e_a + rng.normal(0, 0.6, (reps, n))
    loss_a, loss_b = e_a ** 2, e_b ** 2 + truth - (0.49 + 0.36 - 1.0)  # E[loss_b - loss_a] = truth
    hits = sum(covers(*paired_mean(loss_a[i], loss_b[i]).interval(0.95), truth) for i in range(reps))
    assert abs(hits / reps - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / reps)


def test_per_row_losses_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, mean_absolute_error, mean_squared_error

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    p = np.clip(rng.random(300), 0.01, 0.99)
    v = rng.normal(size=300)
    assert per_row_loss("mae", v, v * 0.5).mean() == pytest.approx(mean_absolute_error(v, v * 0.5))
    assert per_row_loss("mse", v, v * 0.5).mean() == pytest.approx(mean_squared_error(v, v * 0.5))
    assert per_row_loss("log_loss", y, p).mean() == pytest.approx(log_loss(y, p))
    assert per_row_loss("brier", y, p).mean() == pytest.approx(brier_score_loss(y, p))
    assert 1 - per_row_loss("accuracy", y, (p > 0.5).astype(int)).mean() == pytest.approx(
        accuracy_score(y, p > 0.5))


# -- count-cell bootstrap (F1, precision, recall) --------------------------------------------------

CELL_P = np.array([0.40, 0.04, 0.05, 0.01, 0.03, 0.05, 0.04, 0.38])
"""Population frequencies of (label, champion, challenger) cells: index 4*label + 2*champion + challenger."""


def draw_rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cells = rng.choice(8, size=n, p=CELL_P)
    return cells // 4, (cells // 2) % 2, cells % 2


def test_cell_counts_give_the_scores_scikit_learn_gives() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    y, a, b = draw_rows(np.random.default_rng(4), 1000)
    cells = cell_counts(y, a, b)
    for kind, fn in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
        champ, chall = scores_from_cells(kind, cells)
        assert (champ, chall) == pytest.approx((fn(y, a), fn(y, b)))


def test_cell_bootstrap_is_the_row_bootstrap_scipy_draws() -> None:
    rng = np.random.default_rng(5)
    y, a, b = draw_rows(rng, 3000)

    def f1_error_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        tp_a, tp_b = (y * a).sum(axis), (y * b).sum(axis)
        f1_a = 2 * tp_a / (y.sum(axis) + a.sum(axis))
        f1_b = 2 * tp_b / (y.sum(axis) + b.sum(axis))
        return (1 - f1_b) - (1 - f1_a)

    ref = stats.bootstrap((y, a, b), f1_error_difference, paired=True, vectorized=True, n_resamples=4000,
                          method="percentile", confidence_level=0.95, random_state=6)
    ours = paired_cell_bootstrap("f1", y, a, b, resamples=4000, seed=7)
    low, high = ours.interval(0.95)
    se = ref.standard_error
    assert ours.spread() == pytest.approx(se, rel=0.06)
    assert abs(low - ref.confidence_interval.low) < 0.15 * se
    assert abs(high - ref.confidence_interval.high) < 0.15 * se


def test_cell_bootstrap_covers_the_true_f1_difference() -> None:
    def f1(p: np.ndarray) -> tuple[float, float]:
        a, b = scores_from_cells("f1", p)
        return float(a), float(b)

    truth_a, truth_b = f1(CELL_P)
    truth = (1 - truth_b) - (1 - truth_a)
    rng = np.random.default_rng(8)
    reps = 600
    hits = 0
    for i in range(reps):
        y, a, b = draw_rows(rng, 400)
        hits += covers(*paired_cell_bootstrap("f1", y, a, b, resamples=1000, seed=i).interval(0.90), truth)
    assert abs(hits / reps - 0.90) <= 3 * math.sqrt(0.9 * 0.1 / reps) + 0.01


# -- DeLong -----------------------------------------------------------------------------------------

def binormal(rng: np.random.Generator, n: int, mu_a: float, mu_b: float, rho: float) -> tuple[np.ndarray, ...]:
    """Scores of two correlated models with known AUCs Phi(mu / sqrt 2)."""
    y = (rng.random(n) < 0.4).astype(int)
    x = rng.normal(size=n) + mu_a * y
    z = rho * (x - mu_a * y) + math.sqrt(1 - rho ** 2) * rng.normal(size=n) + mu_b * y
    return y, x, z


def test_delong_auc_matches_scipy_mann_whitney() -> None:
    y, x, z = binormal(np.random.default_rng(9), 700, 1.0, 0.8, 0.6)
    aucs, cov = auc_and_covariance(y, x, z)
    for auc, s in zip(aucs, (x, z)):
        u = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
        assert auc == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))
    assert cov[0, 1] > 0  # the two models' AUCs are correlated on the same rows: that is what pairing buys


def test_delong_interval_covers_the_true_auc_difference() -> None:
    mu_a, mu_b = 1.2, 1.0
    truth = (1 - stats.norm.cdf(mu_b / math.sqrt(2))) - (1 - stats.norm.cdf(mu_a / math.sqrt(2)))
    rng = np.random.default_rng(10)
    reps = 800
    hits = sum(covers(*paired_auc(*binormal(rng, 300, mu_a, mu_b, 0.7)).interval(0.95), truth)
               for _ in range(reps))
    assert abs(hits / reps - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / reps) + 0.01


# -- the non-inferiority decision -------------------------------------------------------------------

def settings_for(metric: str, tolerance: float = 0.05, confidence: float = 0.95, **rule: object) -> Settings:
    return Settings(metric=metric, greater_is_better=metric in ("val_auc", "f1"), tolerance=tolerance,
                    champion=ChampionSettings(metrics={metric: MetricSettings(**rule)},  # type: ignore[arg-type]
                                              confidence=confidence, resamples=1000))


def test_a_challenger_worse_than_the_margin_passes_at_most_alpha_of_the_time() -> None:
    # At the boundary (MAE exactly 5% worse in the population) is the worst case for the type-I error.
    rng = np.random.default_rng(11)
    reps, n = 3000, 200
    (rule,) = metric_rules(settings_for("val_mae"))
    y = rng.normal(size=(reps, n))
    e_a = rng.normal(size=(reps, n))
    e_b = 1.05 * (0.8 * e_a + 0.6 * rng.normal(size=(reps, n)))
    passes = sum(decide(paired_estimate(rule, y[i], y[i] + e_a[i], y[i] + e_b[i])[0], 0.95)[0] == PASS
                 for i in range(reps))
    assert passes / reps <= mc_upper(0.025, reps)


def test_a_worse_auc_passes_at_most_alpha_of_the_time() -> None:
    # True AUCs 0.80 vs 0.7743: the challenger's error (1 - AUC) is 13% above the champion's, and the
    # tolerance allows 13%, so this is the boundary again.
    mu_a = stats.norm.ppf(0.80) * math.sqrt(2)
    err_b = 0.20 * 1.13
    mu_b = stats.norm.ppf(1 - err_b) * math.sqrt(2)
    (rule,) = metric_rules(settings_for("val_auc", tolerance=0.13))
    rng = np.random.default_rng(12)
    reps = 800
    passes = 0
    for _ in range(reps):
        y, x, z = binormal(rng, 400, mu_a, mu_b, 0.8)
        passes += decide(paired_estimate(rule, y, x, z)[0], 0.95)[0] == PASS
    assert passes / reps <= mc_upper(0.025, reps)


def test_a_worse_f1_passes_at_most_alpha_of_the_time() -> None:
    # The tolerance is set so that the population's challenger error (1 - F1) is exactly (1 + t) times
    # the champion's: the boundary, judged by the count-cell bootstrap.
    chall, champ = scores_from_cells("f1", CELL_P)  # the cells' second model plays the champion here
    tolerance = float((1 - chall) / (1 - champ) - 1)
    assert 0.1 < tolerance < 0.2
    (rule,) = metric_rules(settings_for("f1", tolerance=tolerance))
    rng = np.random.default_rng(20)
    reps = 600
    passes = 0
    for i in range(reps):
        y, a, b = draw_rows(rng, 500)
        passes += decide(paired_estimate(rule, y, b, a, resamples=1000, seed=i)[0], 0.95)[0] == PASS
    assert passes / reps <= mc_upper(0.025, reps)


def test_an_equal_challenger_on_enough_rows_passes_and_a_much_worse_one_fails() -> None:
    rng = np.random.default_rng(13)
    (rule,) = metric_rules(settings_for("val_mae"))
    y = rng.normal(size=5000)
    e = rng.normal(size=5000)
    same = paired_estimate(rule, y, y + e, y + 0.9 * e + 0.3 * rng.normal(size=5000))[0]
    assert decide(same, 0.95)[0] == PASS
    worse = paired_estimate(rule, y, y + e, y + 1.5 * e)[0]
    assert decide(worse, 0.95)[0] == FAIL


def test_inconclusive_says_how_many_rows_would_decide_and_that_many_do() -> None:
    rng = np.random.default_rng(14)
    (rule,) = metric_rules(settings_for("val_mae"))

    def rows(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y, e = rng.normal(size=n), rng.normal(size=n)
        return y, y + e, y + 1.02 * (0.9 * e + math.sqrt(1 - 0.81) * rng.normal(size=n))

    est = paired_estimate(rule, *rows(150))[0]
    assert decide(est, 0.95)[0] == INCONCLUSIVE
    needed = est.rows_to_decide(0.95)
    assert needed is not None and needed > 150
    decided = [decide(paired_estimate(rule, *rows(2 * needed))[0], 0.95)[0] != INCONCLUSIVE for _ in range(20)]
    assert sum(decided) >= 10


def test_holm_controls_the_family_and_judges_the_smallest_p_at_alpha_over_m() -> None:
    reject, adjusted, steps = holm([0.001, 0.04, 0.2], 0.05)
    assert reject == [True, False, False] and steps == pytest.approx([0.05 / 3, 0.05 / 2, 0.05])
    from statsmodels.stats.multitest import multipletests

    assert adjusted == pytest.approx(list(multipletests([0.001, 0.04, 0.2], method="holm")[1]))
    # Four slices, each at the boundary: any of them passing is a family-wise error, kept at alpha.
    rng = np.random.default_rng(15)
    reps, n = 1500, 100
    p = stats.t.cdf(rng.standard_t(n - 1, size=(reps, 4)), n - 1)  # p-values of true nulls
    any_pass = np.mean([any(holm(list(row), 0.025)[0]) for row in p])
    assert any_pass <= mc_upper(0.025, reps)


def test_slices_and_metrics_are_one_holm_family_with_their_own_verdicts() -> None:
    import pandas as pd

    from pytest_mlgates.gates.paired import slice_groups

    rng = np.random.default_rng(16)
    n = 3000
    y = rng.normal(size=n)
    zone = rng.choice(["north", "south", "tiny"], n, p=[0.5, 0.49, 0.01])
    e = rng.normal(size=n)
    bad = np.where(zone == "south", 1.6, 0.95)  # the challenger is much worse in the south only
    frame = pd.DataFrame({"zone": zone})
    settings = Settings(metric="val_mae", champion=ChampionSettings(slices=["zone"], min_slice_rows=50))
    ev = Evaluation(y, Outputs("m:1", y + e), Outputs("m:2", y + bad * e), "test", slice_groups(frame, ["zone"]))
    verdicts = {v.figures["test"]: v for v in paired_verdicts(ev, settings, "m:2", "m:1")}
    assert set(verdicts) == {"val_mae", "val_mae[zone=north]", "val_mae[zone=south]", "val_mae[zone=tiny]"}
    assert verdicts["val_mae[zone=north]"].figures["verdict"] == PASS
    assert verdicts["val_mae[zone=south]"].figures["verdict"] == FAIL
    tiny = verdicts["val_mae[zone=tiny]"]
    assert tiny.figures["verdict"] == INCONCLUSIVE and not tiny.passed and "fewer than min_slice_rows" in tiny.message
    north = verdicts["val_mae[zone=north]"]
    assert north.figures["family_size"] == 3 and north.figures["confidence"] > 0.95
    assert "point rule" in north.message and north.figures["interval_high"] < north.figures["margin"]


# -- sequential (anytime-valid) test on a rate -----------------------------------------------------

def test_the_sequential_test_keeps_its_type_one_error_under_a_look_after_every_request() -> None:
    rng = np.random.default_rng(17)
    reps, horizon, threshold, alpha = 2000, 1500, 0.05, 0.05
    events = np.cumsum(rng.random((reps, horizon)) < threshold, axis=1)
    n = np.arange(1, horizon + 1)
    breached = (decide_rate(events, n, threshold, alpha) == BREACH).any(axis=1)
    assert breached.mean() <= mc_upper(alpha, reps)
    # The fixed-sample test looked at after every request would not: it breaches far more often.
    naive = (stats.binom.sf(events - 1, n, threshold) < alpha).any(axis=1)
    assert naive.mean() > 3 * alpha


def test_the_sequential_test_never_clears_a_breaching_rate_more_than_alpha_of_the_time() -> None:
    rng = np.random.default_rng(18)
    reps, horizon, threshold, alpha = 2000, 1500, 0.02, 0.05
    events = np.cumsum(rng.random((reps, horizon)) < threshold, axis=1)
    cleared = (decide_rate(events, np.arange(1, horizon + 1), threshold, alpha) == CLEAR).any(axis=1)
    assert cleared.mean() <= mc_upper(alpha, reps)


def test_a_clear_breach_is_called_within_tens_of_requests() -> None:
    rng = np.random.default_rng(19)
    reps, horizon = 1000, 200
    events = np.cumsum(rng.random((reps, horizon)) < 0.25, axis=1)
    calls = decide_rate(events, np.arange(1, horizon + 1), 0.01, 0.05) == BREACH
    first = np.where(calls.any(axis=1), calls.argmax(axis=1) + 1, horizon + 1)
    assert np.median(first) <= 30 and (first <= horizon).mean() > 0.99


def test_confidence_sequence_bounds_agree_with_the_decision() -> None:
    for events, n in ((3, 12), (0, 700), (5, 400), (0, 10)):
        ev = RateEvidence.of("errors", events, n, 0.01, 0.05)
        low, high = confidence_sequence(events, n, 0.05)
        assert (ev.verdict == BREACH) == (low > 0.01)
        assert (ev.verdict == CLEAR) == (high < 0.01)
        assert low <= events / n <= high
    needed = requests_to_decide(0, 31, 0.01, 0.05)
    assert needed is not None and decide_rate(0, needed, 0.01, 0.05) == CLEAR
    assert decide_rate(0, needed - 1, 0.01, 0.05) != CLEAR


from hypothesis import given, settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.floats(0.001, 0.2))
def test_holm_agrees_with_statsmodels_on_any_family(p_values: list[float], alpha: float) -> None:
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, steps = holm(p_values, alpha)
    ref_reject, ref_adjusted, _, _ = multipletests(p_values, alpha=alpha, method="holm")
    assert reject == list(ref_reject) and adjusted == pytest.approx(list(ref_adjusted))
    assert all(a >= p for a, p in zip(adjusted, p_values)) and min(steps) == pytest.approx(alpha / len(p_values))
