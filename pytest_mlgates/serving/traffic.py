"""Traffic rules of an endpoint, shared by the router and the local adapter (no heavy imports).

The Azure ML managed-endpoint model: live traffic is a percentage per
deployment and sums to 100 (or to 0 while an endpoint has no live
deployment); a mirror copies a share (at most 50%) of the requests to one
deployment that takes no live traffic, and its responses are dropped.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Mapping

MAX_MIRROR_PERCENT = 50


class TrafficError(ValueError):
    """A traffic or mirror split that breaks the rules; the message says which and how to fix it."""


def _percent(name: str, value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise TrafficError(f"{what} of deployment {name!r} must be a whole percentage, got {value!r}")
    if not 0 <= int(value) <= 100:
        raise TrafficError(f"{what} of deployment {name!r} must be within 0..100, got {value!r}")
    return int(value)


def check_traffic(
    deployments: Iterable[str],
    traffic: Mapping[str, object],
    mirror: Mapping[str, object] | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Validated (traffic, mirror) with every deployment named; raises TrafficError."""
    names = list(deployments)
    unknown = sorted(set(traffic).union(mirror or {}).difference(names))
    if unknown:
        raise TrafficError(f"no deployment named {', '.join(map(repr, unknown))} on this endpoint; "
                           f"deployments: {', '.join(names) or '(none)'}")
    live = {name: _percent(name, traffic.get(name, 0), "traffic") for name in names}
    total = sum(live.values())
    if total not in (0, 100):
        raise TrafficError(f"traffic must sum to 100, got {total} ({', '.join(f'{k}={v}' for k, v in live.items())})")
    shadow = {name: _percent(name, value, "mirror traffic") for name, value in (mirror or {}).items()}
    shadow = {k: v for k, v in shadow.items() if v}
    if len(shadow) > 1:
        raise TrafficError(f"only one deployment can receive mirrored traffic, got {', '.join(shadow)}")
    for name, percent in shadow.items():
        if percent > MAX_MIRROR_PERCENT:
            raise TrafficError(f"mirror traffic of {name!r} is {percent}%; at most {MAX_MIRROR_PERCENT}% "
                               f"may be mirrored")
        if live.get(name):
            raise TrafficError(f"deployment {name!r} takes {live[name]}% live traffic and cannot also be the "
                               f"mirror; set its live traffic to 0 first")
        if total == 0:
            raise TrafficError("mirroring needs a deployment with live traffic to copy requests from")
    return live, shadow


class WeightedChoice:
    """Pick a deployment in proportion to its percentage (immutable; swap a new one in to change)."""

    def __init__(self, traffic: Mapping[str, int], rng: random.Random | None = None) -> None:
        self.names = [k for k, v in traffic.items() if v > 0]
        self.cumulative: list[int] = []
        running = 0
        for name in self.names:
            running += traffic[name]
            self.cumulative.append(running)
        self.total = running
        self.rng = rng or random.Random()

    def pick(self) -> str | None:
        if not self.total:
            return None
        return self.names[bisect.bisect_right(self.cumulative, self.rng.random() * self.total)]
