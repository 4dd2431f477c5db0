"""A model class defined in the project unpickles in the local model server (issue 14's contract detail)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import joblib
import pytest

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import load_settings

from conftest import processes_mentioning, write_project


def test_the_local_model_server_imports_the_projects_own_model_class(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project = write_project(tmp_path / "proj")
    module = f"projmodel_{tmp_path.name.replace('-', '_')}"  # a name no other test or process has imported
    (project / f"{module}.py").write_text(textwrap.dedent('''
        class Tripler:
            """A model class that exists only in this project."""
            def predict(self, rows):
                return [3 * float(x) for x in rows["x"]]
    '''))
    monkeypatch.syspath_prepend(str(project))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    joblib.dump(getattr(__import__(module), "Tripler")(), model_dir / "model.joblib")
    (model_dir / "metrics.json").write_text(json.dumps({"val_mae": 1.0}))
    sys.modules.pop(module, None)

    settings = load_settings(project / "pyproject.toml", env={})
    state = tmp_path / "state"
    adapter = LocalAdapter(settings, state_dir=state)
    model = adapter.registry.register("m", model_dir, {"val_mae": 1.0}, {})
    try:
        adapter.deploy_to_endpoint("custom", model, "blue")
        answer = adapter.invoke_endpoint("custom", {"instances": [{"x": 1.0}, {"x": 2.5}]})
        assert answer["predictions"] == [3.0, 7.5]
    finally:
        adapter.delete_endpoint("custom")
        adapter.close()
    assert processes_mentioning(str(state)) == []
