"""[tool.mlgates.champion] and the margin rule: what a user can write, and the errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlgates.config import ConfigError, load_settings, margin_scale, metric_kind
from pytest_mlgates.gates.paired import metric_rules


def settings(tmp_path: Path, text: str):
    (tmp_path / "pyproject.toml").write_text(text)
    return load_settings(tmp_path / "pyproject.toml", env={})


def test_metric_names_are_read_as_kinds() -> None:
    assert [metric_kind(n) for n in ("val_auc", "test_f1", "val_mae", "logloss", "lift")] == [
        "roc_auc", "f1", "mae", "log_loss", "lift"]


def test_margins_are_sized_on_the_error_scale_for_bounded_scores() -> None:
    assert margin_scale("val_auc", True, 0.05, None) == "error"
    assert margin_scale("val_mae", False, 0.05, None) == "relative"
    assert margin_scale("lift", True, 0.05, 0.1) == "absolute"
    assert margin_scale("lift", True, 0.05, None, relative=True) == "relative"
    with pytest.raises(ConfigError, match="cannot size the margin of 'lift'"):
        margin_scale("lift", True, 0.05, None)


def test_an_unsizable_primary_metric_is_a_configuration_error_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"greater_is_better \(pyproject.toml\) is true and cannot size the margin "
                                          r"of 'uplift'"):
        settings(tmp_path, '[tool.mlgates]\nmetric = "uplift"\ngreater_is_better = true\n')
    ok = settings(tmp_path, '[tool.mlgates]\nmetric = "uplift"\ngreater_is_better = true\nabsolute_tolerance = 0.1\n')
    assert ok.absolute_tolerance == 0.1


def test_the_champion_table_is_parsed_and_each_metric_gets_its_rule(tmp_path: Path) -> None:
    s = settings(tmp_path, '''
[tool.mlgates]
metric = "val_mae"
tolerance = 0.05
sanity = { val_mae = [0, 100] }
[tool.mlgates.champion]
slices = ["zone", "km > 10"]
confidence = 0.9
[tool.mlgates.champion.metrics]
val_mae = {}
val_auc = { margin = 0.002 }
val_f1 = { tolerance = 0.1, sanity = [0.2, 1.0] }
''')
    rules = {r.name: r for r in metric_rules(s)}
    assert (rules["val_mae"].scale, rules["val_mae"].tolerance, rules["val_mae"].sanity) == ("relative", 0.05, (0, 100))
    assert (rules["val_auc"].kind, rules["val_auc"].scale, rules["val_auc"].margin) == ("roc_auc", "absolute", 0.002)
    assert (rules["val_f1"].scale, rules["val_f1"].greater_is_better) == ("error", True)
    assert s.champion.slices == ["zone", "km > 10"] and s.champion.confidence == 0.9


@pytest.mark.parametrize(("table", "message"), [
    ('metrics = { val_score = {} }', "metric 'val_score' is not one the gate can re-score"),
    ('metrics = { val_auc = { greater_is_better = false } }', "roc_auc) is higher-is-better"),
    ('small_slices = "drop"', "small_slices must be one of inconclusive, skip"),
    ('confidence = 1.5', "confidence must be in [0.5, 1)"),
    ('metrics = { val_mae = { tolerance = "5%" } }', "must be of type"),
    ('colour = 1', "unknown key colour in [tool.mlgates.champion]"),
])
def test_bad_champion_settings_say_what_is_wrong(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        settings(tmp_path, f"[tool.mlgates.champion]\n{table}\n")


def test_rmse_with_an_absolute_margin_is_refused(tmp_path: Path) -> None:
    s = settings(tmp_path, '[tool.mlgates]\nmetric = "val_rmse"\n[tool.mlgates.champion.metrics]\n'
                           'val_rmse = { margin = 0.5 }\n')
    with pytest.raises(ConfigError, match="rmse\\) takes a relative tolerance"):
        metric_rules(s)
