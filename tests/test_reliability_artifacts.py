"""Harm class: broken artifacts never get a version, through the real champion gate (pytester subprocess runs)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import TRAIN_SCRIPT, processes_mentioning

from leftovers import no_leftover_processes  # noqa: F401 - autouse: nothing outlives a test

pytest_plugins = ["pytester"]

GATE = textwrap.dedent('''
    import pytest
    from pytest_mlgates.gates import assert_non_inferior

    @pytest.mark.champion_gate
    def test_gate(challenger, champion):
        assert_non_inferior(challenger, champion)
''')


def project(pytester: pytest.Pytester, training: str = "", top: str = "") -> pytest.Pytester:
    pytester.makefile(".toml", pyproject=textwrap.dedent(f'''
        [tool.mlgates]
        model_name = "m"
        {top}
        [tool.mlgates.training]
        entry_point = "train.py"
        data = "data.csv"
        timeout_minutes = 1
        {training}
    '''))
    pytester.path.joinpath("train.py").write_text(TRAIN_SCRIPT)
    pytester.path.joinpath("data.csv").write_text("x,y\n1,2\n3,4\n")
    pytester.makepyfile(test_gates=GATE)
    return pytester


def registered_versions(folder: Path) -> list[str]:
    from pytest_mlgates.adapters.local.registry import LocalRegistry

    return [v.version for v in LocalRegistry(folder / ".mlgates").list("m")]


@pytest.mark.parametrize(("kind", "expected"), [
    ("pickle", "*a plain pickle is not a format mlgates serves*"),
    ("missing", "*no model file in*"),
    ("garbage", "*did not prove it loads and predicts: loading it raised*"),
    ("notmodel", "*holds a dict without a predict() method*"),
    ("hostile", "*the loader process was killed by SIGKILL*"),
    ("wrongcount", "*predict() returned 0 predictions for 2 rows*"),
])
def test_a_broken_artifact_is_never_registered(pytester: pytest.Pytester, kind: str, expected: str) -> None:
    p = project(pytester, training=f'hyperparameters = {{ model_kind = "{kind}" }}')
    result = p.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([expected])
    assert "Traceback" not in result.stdout.str()
    assert registered_versions(p.path) == []  # no version: nothing to promote
    assert processes_mentioning(str(p.path)) == []


def test_a_sound_artifact_is_proven_once_and_registered(pytester: pytest.Pytester) -> None:
    p = project(pytester)
    p.runpytest_subprocess().assert_outcomes(passed=1)
    assert registered_versions(p.path) == ["1"]


def test_proof_refuses_a_loader_that_hangs(tmp_path: Path) -> None:
    import joblib

    from pytest_mlgates.artifact_proof import ArtifactProofError, prove_artifact

    class Sleeper:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (eval, ("__import__('time').sleep(60)",))

    joblib.dump(Sleeper(), tmp_path / "model.joblib")
    with pytest.raises(ArtifactProofError, match="took over 1 s"):
        prove_artifact(tmp_path, [{"x": 1}], timeout=1)
    assert processes_mentioning(str(tmp_path)) == []


def test_skops_loads_only_listed_types(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    from pytest_mlgates.artifact_proof import ArtifactProofError, prove_artifact
    from pytest_mlgates.serving.demo import ConstantModel

    sio.dump(ConstantModel(3.0), tmp_path / "model.skops")
    with pytest.raises(ArtifactProofError, match=r"not listed: pytest_mlgates\.serving\.demo\.ConstantModel.*skops_trusted"):
        prove_artifact(tmp_path, [{"x": 1}])
    assert prove_artifact(tmp_path, [{"x": 1}], trusted=["pytest_mlgates.serving.demo.ConstantModel"]) == 1
    other = tmp_path / "sk"
    other.mkdir()
    sio.dump(LinearRegression().fit([[0], [1]], [0, 1]), other / "model.skops")
    assert prove_artifact(other, [{"x": 1}]) == 1  # skops' own safe defaults need no listing
