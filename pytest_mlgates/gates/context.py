"""Which settings a gate helper judges by, and where its verdicts go, without a module global.

The pytest plugin makes the running test item current (``running``) for the
duration of each test; the item's settings (the session's, with its marker's
arguments applied) live in its own ``stash``, and the verdicts the helpers
conclude are appended to a list in that stash, where the plugin's report hook
finds them. Outside pytest nothing is current: helpers judge by the nearest
pyproject's settings and only return their verdicts.

The current item is held in a :class:`contextvars.ContextVar`, the standard
library's way to say "the thing this code runs on behalf of" (threads and
nested pytester runs each see their own).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from ..config import Settings, find_pyproject, load_settings
from .verdict import Verdict


class Sink(Protocol):
    """What the plugin makes current: the running test's settings and its verdict list."""

    settings: Settings
    verdicts: list[Verdict]


_current: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("mlgates_current_test", default=None)


@contextmanager
def running(sink: Sink) -> Iterator[Sink]:
    """Make ``sink`` current while a test runs (used by the plugin around each test)."""
    token = _current.set(sink)
    try:
        yield sink
    finally:
        _current.reset(token)


class _Collector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verdicts: list[Verdict] = []


@contextmanager
def collecting(settings: Settings | None = None) -> Iterator[list[Verdict]]:
    """Collect the verdicts the helpers conclude inside the block (scripts, and tests of the helpers).

    The helpers in the block judge by ``settings`` (default: the current ones).
    """
    with running(_Collector(current_settings(settings))) as sink:
        yield sink.verdicts


def current_settings(settings: Settings | None = None) -> Settings:
    """``settings`` if given, else the running test's, else the nearest pyproject's (outside pytest)."""
    if settings is not None:
        return settings
    sink = _current.get()
    if sink is not None:
        return sink.settings
    return load_settings(find_pyproject(Path.cwd()))


def record(verdict: Verdict) -> Verdict:
    """Attach ``verdict`` to the running test, if any (the plugin reports it); return it."""
    sink = _current.get()
    if sink is not None:
        sink.verdicts.append(verdict)
    return verdict


def conclude(verdict: Verdict) -> Verdict:
    """Record the verdict, then raise AssertionError with its message if it failed."""
    __tracebackhide__ = True
    record(verdict)
    if not verdict.passed:
        raise AssertionError(verdict.message)
    return verdict


__all__ = ["Sink", "collecting", "conclude", "current_settings", "record", "running"]
