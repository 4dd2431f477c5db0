"""Slack and the pipeline summary carry the direction, the limit and the whole reason of a failure (issue 14)."""

from __future__ import annotations

from pytest_mlgates.gates.champion import compare
from pytest_mlgates.pipeline import StageResult, format_report
from pytest_mlgates.records import ModelVersion
from pytest_mlgates.report.slack import build_message


def version(v: str, mae: float, champion: bool = False) -> ModelVersion:
    tags = {"mlgates.champion_metric.val_mae": repr(mae)} if champion else {}
    return ModelVersion(name="eta", version=v, artifact_uri="file:///x", sha256=v * 8, metrics={"val_mae": mae},
                        tags=tags)


def report_of(verdict) -> dict:
    return {"model_name": "eta", "platform": "local", "metric": "val_mae", "stages": {"champion_gate": "failed"},
            "verdicts": [verdict.to_dict()], "outputs": verdict.outputs, "commit": "abc"}


def slack_text(message: dict) -> str:
    return "\n".join(str(block) for block in message["blocks"]) + message["text"]


def test_slack_says_the_direction_and_limit_of_the_champion_gate() -> None:
    verdict = compare(version("2", 12.0), version("1", 10.0, champion=True), metric="val_mae", greater_is_better=False,
                      tolerance=0.05)
    message = build_message(report_of(verdict), env={})
    text = slack_text(message)
    assert "*Rule:* lower is better, limit 10.5" in text
    assert "(lower is better, limit 10.5)" in message["text"]
    # scale="relative": a higher-is-better metric that is not a known bounded score must say how its
    # margin is sized (issue 13); a relative change of it is declared meaningful here
    higher = compare(version("2", 0.80), version("1", 0.90, champion=True), metric="val_mae", greater_is_better=True,
                     tolerance=0.05, scale="relative")
    assert "higher is better, limit 0.855" in slack_text(build_message(report_of(higher), env={}))


def test_a_fail_closed_reason_reaches_slack_in_full() -> None:
    verdict = compare(version("2", float("nan")), version("1", 10.0, champion=True), metric="val_mae", greater_is_better=False,
                      tolerance=0.05)
    assert not verdict.passed and len(verdict.message.splitlines()) >= 2
    text = slack_text(build_message(report_of(verdict), env={}))
    for line in verdict.message.splitlines()[1:]:
        assert line.strip() in text, f"the reason's line {line!r} is missing from the Slack message"


def test_the_pipeline_summary_says_which_way_is_better_and_the_whole_reason() -> None:
    verdict = compare(version("2", float("inf")), version("1", 10.0, champion=True), metric="val_mae", greater_is_better=False,
                      tolerance=0.05)
    stage = StageResult("champion_gate", "failed", 3.0, 1, report=report_of(verdict), output_tail="1 failed")
    text = format_report([stage], "BLOCKED at stage champion_gate", "2")
    for line in verdict.message.splitlines():
        assert line.strip() in text
    passed = compare(version("2", 9.0), version("1", 10.0, champion=True), metric="val_mae", greater_is_better=False, tolerance=0.05)
    ok = StageResult("champion_gate", "passed", 3.0, 0, report=report_of(passed))
    assert "val_mae 9 vs champion 10 (lower is better, limit 10.5)" in format_report([ok], "PASSED", "2")
