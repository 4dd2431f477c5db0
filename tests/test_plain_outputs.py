"""Small things (issue 14): numpy scalars print as plain numbers, each output key is written once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pytest_mlgates.gates import assert_beats_baseline
from pytest_mlgates.gates.verdict import fmt
from pytest_mlgates.report import summary_markdown, write_github_output, write_json_report


@pytest.mark.parametrize("value, text", [(np.float32(0.25), "0.25"), (np.float64(1 / 3), "0.333333"),
                                         (np.int64(7), "7"), (np.bool_(True), "True"), (2.5, "2.5")])
def test_numpy_scalars_read_as_plain_numbers(value, text: str) -> None:
    assert fmt(value) == text
    report = {"verdicts": [{"gate": "g", "passed": True, "figures": {"x": value}}]}
    assert f"x={text}" in summary_markdown(report) and "np." not in summary_markdown(report)


def test_the_json_report_holds_numbers_not_their_repr(tmp_path: Path) -> None:
    path = write_json_report({"figures": {"p99": np.float64(12.5), "n": np.int64(3)}}, tmp_path / "r.json")
    assert json.loads(path.read_text())["figures"] == {"p99": 12.5, "n": 3}


def test_majority_class_is_named_plainly() -> None:
    rows = pd.DataFrame({"x": range(30), "y": np.array(["no"] * 20 + ["yes"] * 10)})

    class Always:
        def predict(self, frame):
            return np.array(["yes"] * len(frame))

    with pytest.raises(AssertionError) as err:
        assert_beats_baseline(Always(), rows, target="y", task="classification")
    assert "majority class 'no'" in str(err.value) and "np.str_" not in str(err.value)


def test_each_output_key_is_written_once(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    env = {"GITHUB_OUTPUT": str(out)}
    write_github_output({"job_name": "m-1"}, env)  # at submit
    write_github_output({"job_name": "m-1", "model_version": "2", "should_promote": "true"}, env)  # at the end
    write_github_output({"should_promote": "false"}, env)  # a changed value is written: the last one wins
    assert out.read_text().splitlines() == ["job_name=m-1", "model_version=2", "should_promote=true",
                                            "should_promote=false"]
