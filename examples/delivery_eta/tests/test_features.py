"""Ordinary unit tests of the team's own code: the gates sit beside them."""

import numpy as np

from deliveries import generate
from train import split


def test_generator_is_deterministic():
    assert generate(100, seed=3).equals(generate(100, seed=3))
    assert not generate(100, seed=3).equals(generate(100, seed=4))


def test_split_is_disjoint_and_stable():
    frame = generate(1000)
    train, val = split(frame)
    assert len(train) + len(val) == len(frame)
    assert set(train.index).isdisjoint(val.index)
    assert np.array_equal(split(frame)[1].index, val.index)
