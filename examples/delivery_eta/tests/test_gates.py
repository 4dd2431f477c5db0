"""The gates of the delivery-ETA model, one marker per pipeline stage."""

import math

import pytest

from pytest_mlgates.gates import assert_beats_baseline, assert_non_inferior, assert_shadow_agreement, assert_slo


@pytest.mark.smoke
def test_smoke_metrics_are_finite(smoke_model):
    assert smoke_model.metrics["val_mae"] > 0
    assert all(math.isfinite(v) for k, v in smoke_model.metrics.items() if k != "validation_fingerprint")


@pytest.mark.smoke
def test_smoke_model_beats_baseline(smoke_model, smoke_sample):
    assert_beats_baseline(smoke_model, smoke_sample)


@pytest.mark.champion_gate
def test_challenger_is_not_worse_than_champion(challenger, champion):
    assert_non_inferior(challenger, champion)


@pytest.mark.load_gate
def test_staging_endpoint_meets_its_slo(staging_endpoint, load_test, mlgates_config):
    # 600 requests are enough to support "p99 < 500 ms" at 95% confidence (299 is the minimum
    # with no slow request); stop there, or after `duration` seconds on a slow machine.
    load = mlgates_config.load
    result = load_test(staging_endpoint, users=load.users, spawn_rate=load.spawn_rate, duration=load.duration,
                       max_requests=600)
    assert_slo(result)


@pytest.mark.shadow_gate
def test_challenger_agrees_with_champion_in_shadow(champion_endpoint, staging_endpoint, shadow_test):
    assert_shadow_agreement(shadow_test(champion_endpoint, staging_endpoint))


@pytest.mark.promotion_gate
def test_progressive_rollout(rollout):
    rollout.run()
