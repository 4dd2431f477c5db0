"""What the plugin and the fixtures share through pytest's own stash, in one leaf module.

Both sides import these keys from here, so the plugin never imports the
fixtures and the fixtures never import the plugin.
"""

from __future__ import annotations

from typing import Any

import pytest

from .config import Settings
from .records import ModelVersion

settings_key = pytest.StashKey[Settings]()
"""On the config: the session's settings."""
run_id_key = pytest.StashKey[str]()
"""On the config: shared by the controller and its xdist workers; names the run's shared handle files."""
item_settings_key = pytest.StashKey[Settings]()
"""On an item: the settings with its marker's keyword arguments applied."""
candidate_key = pytest.StashKey[dict[str, str]]()
"""On the config: the model version this run judges."""
job_name_key = pytest.StashKey[str]()
"""On the config: the training job this run submitted or attached to."""
report_key = pytest.StashKey[dict[str, Any]]()
"""On the config: the run's report, once built."""
charts_key = pytest.StashKey[list[dict[str, Any]]]()
"""On the config: chart figures measured by fixtures (report/charts.py), handed to the report."""


def add_chart(config: pytest.Config, figure: dict[str, Any]) -> None:
    """Hand a chart figure (report/charts.py) to this run's report and step summary."""
    config.stash.setdefault(charts_key, []).append(figure)


def run_token(config: pytest.Config) -> str:
    """Eight characters naming this run: the same in every xdist worker, different between runs."""
    return config.stash[run_id_key][:8]


def current_job_name(config: pytest.Config) -> str | None:
    """The training job this run submitted or attached to, or None."""
    return config.stash.get(job_name_key, None)


def current_candidate(config: pytest.Config) -> dict[str, str] | None:
    """The model version this run is judging (for the ledger and outputs), or None."""
    return config.stash.get(candidate_key, None)


def set_candidate(config: pytest.Config, model: ModelVersion, job_name: str | None, champion: str | None) -> None:
    """Name the candidate for the ledger, the outputs and later stages."""
    config.stash[candidate_key] = {"name": model.name, "version": model.version, "sha256": model.sha256,
                                   "job_name": job_name or model.tags.get("mlgates.job", ""),
                                   "champion": champion or ""}
