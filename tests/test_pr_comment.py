"""The sticky pull-request comment (issue 14): the plugin writes the markdown, the workflow posts it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_mlgates.ci import scaffold as init
from pytest_mlgates.report.comment import MARKER, write_pr_comment

from test_smoke_early import GATES, smoke_project


def test_the_comment_file_is_this_runs_tables_replaced_not_appended(tmp_path: Path) -> None:
    target = tmp_path / "out" / "comment.md"
    report = {"model_name": "eta", "platform": "local", "stages": {"smoke": "passed"},
              "verdicts": [{"gate": "baseline", "passed": True, "message": "ok",
                            "figures": {"model_score": 2.5, "baseline_score": 9.0}}]}
    assert write_pr_comment(report, env={}) is None
    assert write_pr_comment(report, env={"MLGATES_PR_COMMENT": str(target)}) == target
    write_pr_comment({**report, "stages": {"smoke": "failed"}}, env={"MLGATES_PR_COMMENT": str(target)})
    text = target.read_text()
    assert text.startswith(MARKER) and text.count(MARKER) == 1
    assert "| smoke | failed |" in text and "| smoke | passed |" not in text
    assert "model_score=2.5" in text


def test_a_smoke_run_writes_the_comment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    smoke_project(pytester, monkeypatch)
    pytester.makepyfile(test_gates=GATES)
    comment = pytester.path / "mlgates-pr-comment.md"
    monkeypatch.setenv("MLGATES_PR_COMMENT", str(comment))
    pytester.runpytest_subprocess("-m", "smoke", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    text = comment.read_text()
    assert "| smoke | passed |" in text and "| baseline | passed |" in text and "baseline_score=" in text


def test_the_pr_workflow_posts_it_as_one_sticky_comment_with_a_pinned_action() -> None:
    pr = yaml.safe_load(init.render_workflows(init.Options(platforms=("local",), model_name="m"))["mlgates-pr.yml"])
    smoke = pr["jobs"]["smoke"]
    assert smoke["permissions"] == {"contents": "read", "pull-requests": "write"}
    (post,) = [s for s in smoke["steps"] if "sticky-pull-request-comment" in s.get("uses", "")]
    sha, tag = init.PINNED_ACTIONS["marocchino/sticky-pull-request-comment"]
    assert post["uses"] == f"marocchino/sticky-pull-request-comment@{sha}"
    assert post["with"] == {"header": "mlgates-smoke", "path": smoke["env"]["MLGATES_PR_COMMENT"]}
    assert post["if"].startswith("always()") and "head.repo.full_name == github.repository" in post["if"]
    assert "permissions" not in pr["jobs"]["unit-tests"]  # only the job that comments may write
