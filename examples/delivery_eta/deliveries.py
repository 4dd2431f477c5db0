"""A deterministic food-delivery data set whose drift can be dialled.

``generate(n_rows, seed, drift)`` returns the same rows for the same arguments.
``drift`` in [0, 1] moves the feature distributions (longer distances, more
rain, more evening orders) and the relation to the target, the way a new city
or a change of courier fleet would.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

ZONES = ["center", "north", "south", "east", "west"]
COURIERS = ["bike", "scooter", "car"]
WEATHER = ["clear", "cloudy", "rain", "storm"]
TARGET = "eta_minutes"


def generate(n_rows: int, seed: int = 0, drift: float = 0.0) -> pd.DataFrame:
    """``n_rows`` deliveries with features and the target ``eta_minutes``."""
    rng = np.random.default_rng(seed)
    distance = rng.gamma(shape=2.0, scale=2.0 + 2.0 * drift, size=n_rows)
    prep = rng.normal(12.0 + 4.0 * drift, 4.0, size=n_rows).clip(2.0, None)
    hour = rng.choice(24, size=n_rows, p=_hour_weights(drift))
    weekday = rng.integers(0, 7, size=n_rows)
    items = rng.poisson(2.5, size=n_rows) + 1
    zone = rng.choice(ZONES, size=n_rows, p=[0.3, 0.2, 0.2, 0.15, 0.15])
    courier = rng.choice(COURIERS, size=n_rows, p=[0.4, 0.4, 0.2])
    weather_p = np.array([0.55, 0.25, 0.15, 0.05]) * (1 - drift) + np.array([0.2, 0.3, 0.35, 0.15]) * drift
    weather = rng.choice(WEATHER, size=n_rows, p=weather_p)
    speed = np.select([courier == "bike", courier == "scooter"], [14.0, 22.0], 28.0)
    rush = ((hour >= 11) & (hour <= 13)) | ((hour >= 18) & (hour <= 20))
    weather_delay = np.select([weather == "rain", weather == "storm"], [4.0, 11.0], 0.0)
    eta = (prep + distance / speed * 60.0 * (1.0 + 0.35 * rush) + weather_delay + 0.8 * items
           + 3.0 * (zone == "center") + rng.normal(0.0, 2.5, size=n_rows))
    return pd.DataFrame({
        "distance_km": distance.round(3),
        "prep_minutes": prep.round(2),
        "hour": hour,
        "weekday": weekday,
        "items": items,
        "city_zone": zone,
        "courier_type": courier,
        "weather": weather,
        TARGET: eta.round(2),
    })


def _hour_weights(drift: float) -> np.ndarray:
    base = np.ones(24)
    base[11:14] += 3.0
    base[18:21] += 3.0 + 4.0 * drift
    base[0:7] *= 0.2
    return base / base.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drift", type=float, default=0.0)
    parser.add_argument("--out", default="data/deliveries.csv")
    args = parser.parse_args()
    generate(args.rows, args.seed, args.drift).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
