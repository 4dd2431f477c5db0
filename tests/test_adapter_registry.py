"""The lazy adapter registry: built-in names, install hints, third-party entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_mlgates.adapters import (
    PLATFORMS,
    Platform,
    UnknownPlatformError,
    available_platforms,
    get_adapter,
    get_adapter_class,
)
from pytest_mlgates.adapters.local import LocalAdapter


def test_builtin_names_and_lazy_import() -> None:
    assert {"local", "sagemaker", "azureml", "vertex"} <= set(available_platforms())
    assert get_adapter_class("local") is LocalAdapter


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownPlatformError, match="unknown ML platform 'nope'; valid names: .*local.*sagemaker"):
        get_adapter_class("nope")


def test_reserved_name_without_an_adapter_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # a name in the platform table whose package is not shipped (as azureml was before its adapter)
    monkeypatch.setitem(PLATFORMS, "nimbus", Platform("nimbus", "pytest_mlgates.adapters.nimbus:NimbusAdapter"))
    with pytest.raises(UnknownPlatformError, match="not part of this release"):
        get_adapter_class("nimbus")


def test_the_azureml_name_loads_its_adapter() -> None:
    assert get_adapter_class("azureml").__name__ == "AzureMLAdapter"


def test_third_party_adapter_registers_through_the_entry_point_group(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "toy_platform.py").write_text(textwrap.dedent('''
        from pytest_mlgates.adapters.local import LocalAdapter

        class ToyAdapter(LocalAdapter):
            name = "toy"
    '''))
    dist = tmp_path / "toy_platform-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-platform\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pytest_mlgates.adapters]\ntoy = toy_platform:ToyAdapter\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # the toy (a LocalAdapter) keeps its state under ./.mlgates
    assert "toy" in available_platforms()
    adapter = get_adapter("toy", None)
    assert type(adapter).__name__ == "ToyAdapter" and adapter.name == "toy"
