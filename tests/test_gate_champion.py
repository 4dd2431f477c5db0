"""The champion gate's arithmetic and every fail-closed case."""

from __future__ import annotations

import math

import unittest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_mlgates.records import ModelVersion
from pytest_mlgates.config import Settings
from pytest_mlgates.gates import assert_non_inferior
from pytest_mlgates.gates.champion import compare

RULE = dict(metric="val_mae", greater_is_better=False, tolerance=0.05)


def version(v: str, value: object, *, sha: str | None = None, stored: object = "same", **metrics: object) -> ModelVersion:
    """A registry entry; the champion's stored metric tag defaults to its metric."""
    tags = {} if stored is None else {"mlgates.champion_metric.val_mae": str(value if stored == "same" else stored)}
    return ModelVersion(name="m", version=v, artifact_uri=f"file:///a/{v}", sha256=sha or v * 64,
                        metrics={"val_mae": value, **metrics}, tags=tags)


def test_within_tolerance_passes_and_reports_both_sides() -> None:
    v = compare(version("2", 10.4), version("1", 10.0), **RULE)
    assert v.passed
    assert v.outputs == {"should_promote": "true", "model_version": "2", "challenger_val_mae": "10.4",
                         "champion_val_mae": "10"}
    assert "m:2" in v.message and "m:1" in v.message and "10.5" in v.message


def test_worse_than_tolerance_fails_with_the_arithmetic() -> None:
    with pytest.raises(AssertionError) as err:
        assert_non_inferior(version("2", 10.6), version("1", 10.0), settings=Settings())
    text = str(err.value)
    assert "challenger m:2: val_mae = 10.6" in text and "champion   m:1: val_mae = 10" in text
    assert "limit = 10 + max(0.05 x |10|, 0) = 10.5; 10.6 <= 10.5 is false" in text


def test_exactly_at_the_limit_passes() -> None:
    assert compare({"val_mae": 10.5}, {"val_mae": 10.0}, **RULE).passed


def test_greater_is_better_direction() -> None:
    rule = dict(metric="score", greater_is_better=True, tolerance=0.01, scale="relative")
    assert compare({"score": 0.895}, {"score": 0.9}, **rule).passed
    assert not compare({"score": 0.89}, {"score": 0.9}, **rule).passed


def test_a_bounded_score_takes_its_tolerance_on_the_error_scale() -> None:
    # 5% of an AUC of 0.997 would let through five times the ranking error; 5% of the error 0.003 does not.
    rule = dict(metric="val_auc", greater_is_better=True, tolerance=0.05)
    assert not compare({"val_auc": 0.985}, {"val_auc": 0.997}, **rule).passed
    v = compare({"val_auc": 0.99685}, {"val_auc": 0.997}, **rule)
    assert v.passed and "0.05 x (1 - 0.997)" in v.message and "of the error (1 - score)" in v.message
    assert compare({"val_auc": 0.985}, {"val_auc": 0.997}, **rule, absolute_tolerance=0.02).passed


def test_a_higher_is_better_metric_without_a_scale_is_a_configuration_error() -> None:
    from pytest_mlgates.config import ConfigError

    with pytest.raises(ConfigError, match="cannot size the margin of 'lift'.*absolute margin"):
        compare({"lift": 2.0}, {"lift": 2.1}, metric="lift", greater_is_better=True, tolerance=0.05)
    assert compare({"lift": 2.0}, {"lift": 2.1}, metric="lift", greater_is_better=True, tolerance=0.05,
                   absolute_tolerance=0.2).passed


def test_negative_and_zero_champions_use_absolute_value() -> None:
    rule = dict(metric="score", greater_is_better=True, tolerance=0.1, scale="relative")
    assert compare({"score": -1.05}, {"score": -1.0}, **rule).passed  # 5% worse than -1.0
    assert not compare({"score": -1.2}, {"score": -1.0}, **rule).passed
    assert not compare({"score": -0.001}, {"score": 0.0}, **rule).passed  # zero baseline: no slack...
    assert compare({"score": -0.001}, {"score": 0.0}, **rule, absolute_tolerance=0.01).passed  # ...unless given


@given(champ=st.floats(-1e6, 1e6), delta=st.floats(0, 1e3), tol=st.floats(0, 1), greater=st.booleans())
def test_never_passes_a_challenger_beyond_the_limit(champ: float, delta: float, tol: float, greater: bool) -> None:
    allowed = tol * abs(champ)
    worse = champ - (allowed + delta + 1e-6 * (1 + abs(champ))) if greater else champ + allowed + delta + 1e-6 * (1 + abs(champ))
    better = champ + delta if greater else champ - delta
    rule = dict(metric="x", greater_is_better=greater, tolerance=tol, scale="relative")
    assert not compare({"x": worse}, {"x": champ}, **rule).passed
    assert compare({"x": better}, {"x": champ}, **rule).passed


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None, "abc", True, [1]])
def test_bad_challenger_metric_fails_closed(bad: object) -> None:
    v = compare({"val_mae": bad} if bad is not None else {}, {"val_mae": 10.0}, **RULE)
    assert not v.passed and "fail-closed" in v.message and v.outputs["should_promote"] == "false"


@pytest.mark.parametrize("stored", ["nan", "inf", "twelve", ""])
def test_unreadable_champion_tag_fails_closed(stored: str) -> None:
    v = compare(version("2", 10.0), version("1", 10.0, stored=stored), **RULE)
    assert not v.passed and "tag 'mlgates.champion_metric.val_mae'" in v.message


def test_champion_without_stored_metric_fails_closed() -> None:
    v = compare(version("2", 10.0), version("1", 10.0, stored=None), **RULE)
    assert not v.passed and "has no stored val_mae" in v.message


def test_champion_metric_is_read_from_its_tag_not_its_training_metrics() -> None:
    champ = version("1", 99.0, stored=10.0)  # training metrics say 99, the promotion recorded 10
    assert not compare(version("2", 11.0), champ, **RULE).passed
    assert compare(version("2", 10.2), champ, **RULE).passed


def test_sanity_range_fails_closed_on_either_side() -> None:
    sanity = {"val_mae": [0.0, 120.0]}
    v = compare(version("2", 130.0), version("1", 125.0), **RULE, sanity=sanity)
    assert not v.passed and "outside its sanity range [0, 120]" in v.message
    v = compare(version("2", 10.0), version("1", 500.0), **RULE, sanity=sanity)
    assert not v.passed and "champion m:1 val_mae = 500 is outside" in v.message


def test_model_is_never_compared_with_itself() -> None:
    assert "same version" in compare(version("1", 10.0), version("1", 10.0), **RULE).message
    v = compare(version("2", 10.0, sha="a" * 64), version("1", 10.0, sha="a" * 64), **RULE)
    assert not v.passed and "same artifact sha256" in v.message


def test_different_validation_rows_are_refused() -> None:
    v = compare(version("2", 9.0, validation_fingerprint="sha256:aa"),
                version("1", 10.0, validation_fingerprint="sha256:bb"), **RULE)
    assert not v.passed and "different validation rows" in v.message
    assert compare(version("2", 9.0, validation_fingerprint="sha256:aa"),
                   version("1", 10.0, validation_fingerprint="sha256:aa"), **RULE).passed


def test_no_champion_promote_is_said_loudly() -> None:
    v = assert_non_inferior(version("1", 10.0), None, settings=Settings())
    assert v.passed and v.outputs["should_promote"] == "true" and "FIRST DEPLOYMENT" in v.message


def test_no_champion_fail() -> None:
    with pytest.raises(AssertionError, match="no_champion = 'fail'"):
        assert_non_inferior(version("1", 10.0), None, settings=Settings(no_champion="fail"))


def test_no_champion_skip() -> None:
    # unittest.SkipTest: a skip pytest reports as such, raised without the gates importing pytest
    with pytest.raises(unittest.SkipTest, match="not compared"):
        assert_non_inferior(version("1", 10.0), None, settings=Settings(no_champion="skip"))


def test_first_deployment_still_checks_the_challenger() -> None:
    with pytest.raises(AssertionError, match="fail-closed"):
        assert_non_inferior(version("1", math.nan), None, settings=Settings())


def test_explicit_arguments_override_settings() -> None:
    settings = Settings(tolerance=0.0)
    with pytest.raises(AssertionError):
        assert_non_inferior({"val_mae": 10.4}, {"val_mae": 10.0}, settings=settings)
    assert assert_non_inferior({"val_mae": 10.4}, {"val_mae": 10.0}, tolerance=0.05, settings=settings).passed
    with pytest.raises(ValueError, match="tolerance"):
        assert_non_inferior({"val_mae": 1}, {"val_mae": 1}, tolerance=math.nan, settings=settings)
