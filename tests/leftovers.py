"""An autouse check for the reliability tests: nothing a test started outlives it.

Import ``no_leftover_processes`` into a test module; after each test it waits
(briefly) until no process mentions the test's folders, and fails otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conftest import processes_mentioning


@pytest.fixture(autouse=True)
def no_leftover_processes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    folders = []
    if "tmp_path" in request.fixturenames:
        folders.append(str(request.getfixturevalue("tmp_path")))
    if "pytester" in request.fixturenames:
        folders.append(str(request.getfixturevalue("pytester").path))
    yield
    deadline = time.monotonic() + 30
    left = [pid for folder in folders for pid in processes_mentioning(folder)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for folder in folders for pid in processes_mentioning(folder)]
    assert not left, f"processes outlived the test: {left}"
