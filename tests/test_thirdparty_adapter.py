"""A third-party adapter registered through the entry-point group passes the shipped conformance suite.

The toy platform (tests/thirdparty/toy_platform.py) is installed the way a
package would be, as a distribution whose entry point names it, and its own
test module (tests/thirdparty/toy_conformance.py) subclasses
``pytest_mlgates.testing``'s classes. Both run in a fresh pytest process, so
nothing of this test session stands in for the registry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "thirdparty"


def install_toy(site: Path) -> None:
    """Put toy_platform and its dist-info (with the entry point) on a folder that goes on sys.path."""
    site.mkdir()
    shutil.copy(HERE / "toy_platform.py", site / "toy_platform.py")
    dist = site / "toy_platform-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-platform\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pytest_mlgates.adapters]\ntoy = toy_platform:ToyAdapter\n")


def test_a_third_party_adapter_passes_the_shipped_conformance_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = pytester.path / "site"
    install_toy(site)
    shutil.copy(HERE / "toy_conformance.py", pytester.path / "test_toy_conformance.py")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess("-q", "-p", "no:randomly", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    # every conformance class ran: jobs, registry and endpoints, plus the entry-point check
    assert outcomes["passed"] >= 30
    result.stdout.no_fnmatch_line("*skipped*")


def test_the_toy_platform_has_its_own_config_table(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """[tool.mlgates.toy] is accepted because "toy" is a registered platform, and reaches the adapter."""
    site = pytester.path / "site"
    install_toy(site)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyprojecttoml('[tool.mlgates]\nplatform = "toy"\n[tool.mlgates.toy]\nstore = "cloud"\n')
    pytester.makepyfile(test_it='''
        def test_platform(ml_platform):
            assert ml_platform.name == "toy" and ml_platform.root.name == "cloud"
    ''')
    pytester.runpytest_subprocess("-q", "-p", "no:randomly").assert_outcomes(passed=1)
    pytester.makepyprojecttoml('[tool.mlgates]\nplatform = "toy"\n[tool.mlgates.nosuch]\nstore = "cloud"\n')
    result = pytester.runpytest_subprocess("-q", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key nosuch in [[]tool.mlgates[]]*"])
