"""Traffic rules of an endpoint, applied by every adapter before anything is sent.

The Azure ML managed-endpoint model, which the other platforms' rules fit
inside: live traffic is a whole percentage per deployment and sums to 100 (or
to 0 while an endpoint has no live deployment); a mirror copies a share (at
most ``max_mirror_percent``) of the requests to one deployment that takes no
live traffic, and its responses are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .records import TrafficError

MAX_MIRROR_PERCENT = 50


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
    max_mirror_percent: int = MAX_MIRROR_PERCENT,
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
        if percent > max_mirror_percent:
            raise TrafficError(f"mirror traffic of {name!r} is {percent}%; at most {max_mirror_percent}% "
                               f"may be mirrored")
        if live.get(name):
            raise TrafficError(f"deployment {name!r} takes {live[name]}% live traffic and cannot also be the "
                               f"mirror; set its live traffic to 0 first")
        if total == 0:
            raise TrafficError("mirroring needs a deployment with live traffic to copy requests from")
    return live, shadow


__all__ = ["MAX_MIRROR_PERCENT", "TrafficError", "check_traffic"]
