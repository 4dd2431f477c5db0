"""The paired champion gate end to end on the local platform: real models, re-scored on the same rows.

A user's project trains a scikit-learn classifier; runs of ``pytest -m champion_gate`` register
challengers, and the champion is promoted between runs as the rollout would. Each metric, slice group
and lineage comparison is its own parametrized test, and the verdict's interval, margin, rows and word
reach the terminal, the JSON report, the step summary and the JUnit properties.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from pytest_mlgates.adapters.local import LocalAdapter
from pytest_mlgates.config import load_settings
from pytest_mlgates.release.promotion import promote_version

TRAIN = textwrap.dedent('''
    import argparse, json, os
    import joblib, pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--model-dir")
    p.add_argument("--drop", type=int, default=0, help="never learn from the last DROP features (a worse model)")
    p.add_argument("--reg_c", type=float, default=1.0)
    a = p.parse_args()
    frame = pd.read_csv(a.data)
    val = frame.iloc[::5]
    train = frame.drop(val.index)
    numeric = ["x1", "x2", "x3"][: 3 - a.drop]
    model = Pipeline([("features", ColumnTransformer([("seg", OneHotEncoder(), ["segment"]),
                                                      ("num", "passthrough", numeric)])),
                      ("lr", LogisticRegression(C=a.reg_c, max_iter=500))])
    model.fit(train.drop(columns=["label"]), train["label"])
    os.makedirs(a.model_dir, exist_ok=True)
    joblib.dump(model, os.path.join(a.model_dir, "model.joblib"))
    proba = model.predict_proba(val.drop(columns=["label"]))[:, 1]
    json.dump({"val_auc": roc_auc_score(val["label"], proba),
               "val_accuracy": accuracy_score(val["label"], proba > 0.5)},
              open(os.path.join(a.model_dir, "metrics.json"), "w"))
    from pytest_mlgates.contract import write_validation_rows
    write_validation_rows(a.model_dir, val)
''')

GATES = textwrap.dedent('''
    import pytest

    @pytest.mark.champion_gate
    def test_challenger_holds(champion_check):
        champion_check()
''')


def rows(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    segment = rng.choice(["a", "b"], n)
    logit = 1.5 * x[:, 0] + 1.0 * x[:, 1] + 0.8 * x[:, 2] + (segment == "b") * 0.3
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = ["x1,x2,x3,segment,label"] + [f"{a:.5f},{b:.5f},{c:.5f},{s},{y}"
                                          for (a, b, c), s, y in zip(x, segment, label)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", pyproject=textwrap.dedent('''
        [tool.mlgates]
        model_name = "clf"
        metric = "val_auc"
        greater_is_better = true
        tolerance = 0.10

        [tool.mlgates.training]
        entry_point = "train.py"
        data = "data.csv"
        target = "label"
        timeout_minutes = 2

        [tool.mlgates.champion]
        data = "holdout.csv"
        slices = ["segment"]
        min_slice_rows = 50
        metrics = { val_auc = {}, val_accuracy = { margin = 0.03 }, val_log_loss = { tolerance = 0.10 } }
    '''))
    (pytester.path / "train.py").write_text(TRAIN)
    (pytester.path / "data.csv").write_text(rows(3000, 1))
    (pytester.path / "holdout.csv").write_text(rows(6000, 2))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_gates.py").write_text(GATES)
    return pytester


def promote(folder: Path, version: str) -> None:
    settings = load_settings(folder / "pyproject.toml", env={})
    adapter = LocalAdapter(settings)
    try:
        promote_version(adapter, settings, version, required=[])
    finally:
        adapter.close()


def run(p: pytest.Pytester, *hyper: str, workers: int = 0) -> pytest.RunResult:
    args = ["-n", str(workers)] if workers else []
    args += ["-m", "champion_gate", "-p", "no:randomly", "-p", "no:cacheprovider", "--mlgates-report", "report.json",
            f"--junitxml={p.path / 'junit.xml'}", "-rA"]
    for h in hyper:
        args += ["--mlgates-hyperparameter", h]
    return p.runpytest_subprocess(*args, timeout=180)


def checks_in(report: Path) -> dict[str, dict]:
    verdicts = json.loads(report.read_text())["verdicts"]
    return {v["figures"]["test"]: v for v in verdicts if "test" in v["figures"]}


def test_each_metric_slice_and_the_lineage_is_its_own_test_judged_on_the_same_rows(project, monkeypatch) -> None:
    summary = project.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    first = run(project)
    # No champion yet: every check follows no_champion = promote (a first deployment), said loudly.
    first.assert_outcomes(passed=18)
    assert "FIRST DEPLOYMENT" in first.stdout.str()
    promote(project.path, "1")

    second = run(project, "reg_c=0.5")
    ids = ["val_auc", "val_auc[segment=a]", "val_auc[segment=b]", "val_accuracy", "val_log_loss"]
    for name in ids:
        assert f"PASSED tests/test_gates.py::test_challenger_holds[{name}]" in second.stdout.str()
    second.assert_outcomes(passed=9, skipped=9)  # the lineage's best is the current champion: skipped, said why
    assert "is the best champion the lineage has had" in second.stdout.str()
    checks = checks_in(project.path / "report.json")
    auc = checks["val_auc"]["figures"]
    assert auc["verdict"] == "PASS" and auc["rows"] == 6000 and auc["method"] == "DeLong"
    assert auc["interval_low"] <= auc["worsening"] <= auc["interval_high"] < auc["margin"]
    assert auc["family_size"] == 9 and auc["rows_source"].endswith("holdout.csv")
    assert checks["val_accuracy"]["figures"]["method"] == "paired t"
    text = second.stdout.str()
    assert "PASS: the whole interval lies inside the margin" in text and "point rule:" in text
    props = {p.get("name"): p.get("value") for p in ET.parse(project.path / "junit.xml").iter("property")}
    assert props["mlgates.champion.verdict"] == "PASS" and "mlgates.champion.interval_high" in props
    assert "interval_high=" in summary.read_text() and "margin=" in summary.read_text()
    promote(project.path, "2")

    # A challenger that never learnt two of the three features: worse than the margin on all rows.
    third = run(project, "drop=2")
    outcome = third.parseoutcomes()
    assert outcome.get("failed", 0) >= 3
    assert "FAIL: the whole interval lies outside the margin" in third.stdout.str()
    checks = checks_in(project.path / "report.json")
    # The lineage ratchet: the former champion with the best stored AUC is held against too, by name.
    stored = {v.version: float(v.tags["mlgates.champion_metric.val_auc"])
              for v in LocalAdapter(load_settings(project.path / "pyproject.toml", env={})).list_model_versions("clf")
              if "mlgates.champion_metric.val_auc" in v.tags}
    if stored["1"] > stored["2"]:
        lineage = checks["val_auc@lineage-best"]
        assert lineage["figures"]["champion"] == "clf:1" and "vs lineage best clf:1" in lineage["message"]
    else:
        assert "val_auc@lineage-best" not in checks
    assert checks["val_auc"]["figures"]["verdict"] == "FAIL"
    assert json.loads((project.path / "report.json").read_text())["outputs"]["should_promote"] == "false"
    assert third.ret == 1


def test_too_few_rows_are_inconclusive_fail_closed_and_say_how_many_would_decide(project) -> None:
    (project.path / "holdout.csv").write_text(rows(150, 3))
    text = (project.path / "pyproject.toml").read_text()
    (project.path / "pyproject.toml").write_text(
        text.replace('slices = ["segment"]\n', "").replace(
            "metrics = { val_auc = {}, val_accuracy = { margin = 0.03 }, val_log_loss = { tolerance = 0.10 } }",
            "lineage = false"))
    run(project).assert_outcomes(passed=1)
    promote(project.path, "1")
    result = run(project, "drop=1")  # a challenger that lost one feature, judged on 150 rows
    result.assert_outcomes(failed=1)
    (check,) = checks_in(project.path / "report.json").values()
    figures = check["figures"]
    assert figures["verdict"] == "INCONCLUSIVE" and figures["rows"] == 150
    assert figures["interval_low"] < figures["margin"] < figures["interval_high"]
    assert figures["rows_to_decide"] > 150
    assert f"about {figures['rows_to_decide']:,} rows would decide" in result.stdout.str()


def test_without_configured_rows_both_models_are_rescored_on_the_challengers_validation_rows(project) -> None:
    text = (project.path / "pyproject.toml").read_text()
    (project.path / "pyproject.toml").write_text(
        text.replace('data = "holdout.csv"\n', "").replace('slices = ["segment"]\n', "").replace(
            "metrics = { val_auc = {}, val_accuracy = { margin = 0.03 }, val_log_loss = { tolerance = 0.10 } }",
            "lineage = false"))
    run(project).assert_outcomes(passed=1)
    promote(project.path, "1")
    (project.path / "pyproject.toml").write_text((project.path / "pyproject.toml").read_text().replace(
        "lineage = false", "lineage = false\nslices = [\"segment\"]"))
    run(project, "reg_c=0.5", workers=2).assert_outcomes(passed=2)  # two xdist workers, one re-scoring
    checks = checks_in(project.path / "report.json")
    assert checks["val_auc"]["figures"]["family_size"] == 3  # all rows and both segments: one Holm family
    assert checks["val_auc[segment]"]["figures"] == {"test": "val_auc[segment]", "tests": 2, "failed": 0}
    check = checks["val_auc"]
    assert check["figures"]["rows_source"] == "validation.csv in the challenger's model folder"
    assert check["figures"]["rows"] == 600 and check["figures"]["verdict"] == "PASS"
