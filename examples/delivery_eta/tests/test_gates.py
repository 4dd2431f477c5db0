"""The gates of the delivery-ETA model, one marker per pipeline stage."""

import math

import pytest

from pytest_mlgates.gates import assert_beats_baseline, assert_non_inferior


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
