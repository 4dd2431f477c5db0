"""`mlgates lint`: one good workflow, one bad workflow per mistake, and the edge cases.

Each bad fixture in tests/data/workflows marks the line where its finding
belongs with a `# expect: MLG00N` comment, so the expected codes and lines are
read from the fixture, not written twice.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from pytest_mlgates.commands import lint as lint_command
from pytest_mlgates.ci.lint import CHECKS, WARNINGS, LintInputError, check_workflow, lint_file, parse_workflow

DATA = Path(__file__).parent / "data" / "workflows"
BAD = sorted(DATA.glob("bad_*.yml"))


def expected(path: Path) -> list[tuple[str, int]]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for code in re.findall(r"# expect: (MLG\d{3})", line):
            found.append((code, number))
    return found


def lint_text(text: str) -> list:
    return check_workflow(parse_workflow(textwrap.dedent(text), "wf.yml"))


def test_there_is_one_bad_fixture_per_check():
    codes = {code for path in BAD for code, _ in expected(path)}
    assert codes == set(CHECKS)


def test_good_workflow_has_no_findings(capsys):
    assert lint_file(DATA / "good.yml") == []
    assert lint_command.main([str(DATA / "good.yml")]) == 0
    assert "no findings" in capsys.readouterr().err


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_workflow_gets_exactly_its_finding(path: Path, capsys):
    want = expected(path)
    assert want, f"{path.name} has no '# expect:' comment"
    findings = lint_file(path)
    assert [(f.code, f.line) for f in findings] == want
    warnings_only = all(f.code in WARNINGS for f in findings)
    assert lint_command.main([str(path)]) == (0 if warnings_only else 1)  # a warning alone does not fail
    out = capsys.readouterr().out
    for finding in findings:
        # file, job and line, why it matters and how to fix it
        assert f"{path}:{finding.line}: {finding.code}" in out
        assert f"job '{finding.job}'" in out
        assert "why: " + CHECKS[finding.code][1] in out
        assert "fix: " + CHECKS[finding.code][2] in out


def test_yaml_11_on_key_is_read_as_written():
    text = (DATA / "good.yml").read_text()
    assert True in yaml.safe_load(text)  # the pitfall: PyYAML turns `on` into True
    workflow = parse_workflow(text, "good.yml")
    assert {"schedule", "workflow_dispatch", "push"} <= set(workflow.triggers)


@pytest.mark.parametrize("condition", [
    "needs.gate.outputs.should_promote == true",
    "needs.gate.outputs.should_promote != 'false'",
    "${{ needs.gate.outputs.should_promote }}",
])
def test_should_promote_compared_wrongly_is_unguarded(condition: str):
    findings = lint_text(f"""
        on: workflow_dispatch
        jobs:
          gate:
            runs-on: ubuntu-latest
            timeout-minutes: 5
            steps: [{{run: "pytest -m champion_gate --mlgates-job x"}}]
          staging:
            needs: gate
            if: needs.gate.outputs.should_promote == 'true'
            runs-on: ubuntu-latest
            timeout-minutes: 5
            steps: [{{run: "pytest -m load_gate"}}]
          production:
            needs: [gate, staging]
            if: always() && {condition}
            environment: production
            runs-on: ubuntu-latest
            timeout-minutes: 5
            steps: [{{run: "pytest -m promotion_gate"}}]
    """)
    assert [f.code for f in findings] == ["MLG003"]
    assert findings[0].job == "production"


def test_pull_request_training_flagged_unless_restricted_to_other_events():
    template = """
        on:
          pull_request:
          schedule: [{{cron: "0 1 * * 1"}}]
        jobs:
          train:
            {condition}
            runs-on: ubuntu-latest
            timeout-minutes: 90
            steps:
              - run: pytest -m champion_gate
              - if: failure() || cancelled()
                run: mlgates cancel --job x
    """
    flagged = lint_text(template.format(condition="name: train"))
    assert [f.code for f in flagged] == ["MLG004"]
    assert flagged[0].line == 3
    restricted = lint_text(template.format(condition="if: github.event_name == 'schedule'"))
    assert restricted == []


def test_smoke_job_on_pull_request_is_not_full_training():
    findings = lint_text("""
        on: [pull_request]
        jobs:
          smoke-train:
            runs-on: ubuntu-latest
            steps: [{run: "pytest -m smoke"}]
    """)
    assert findings == []


def test_cleanup_in_a_separate_job_counts_and_a_success_only_one_does_not():
    template = """
        on: workflow_dispatch
        jobs:
          train:
            runs-on: ubuntu-latest
            timeout-minutes: 90
            steps: [{{run: "gcloud ai custom-jobs create --region=x --display-name=y"}}]
          cleanup:
            needs: train
            if: {condition}
            runs-on: ubuntu-latest
            steps: [{{run: "gcloud ai custom-jobs cancel x"}}]
    """
    assert lint_text(template.format(condition="failure() || cancelled()")) == []
    assert [f.code for f in lint_text(template.format(condition="success()"))] == ["MLG006"]


def test_reusable_workflow_jobs_are_not_asked_for_timeouts():
    findings = lint_text("""
        on: workflow_dispatch
        jobs:
          train:
            uses: ./.github/workflows/train.yml
    """)
    assert findings == []


def test_production_without_any_staging_job_says_so():
    findings = lint_text("""
        on: workflow_dispatch
        jobs:
          promote:
            if: inputs.should_promote == 'true'
            environment: production
            runs-on: ubuntu-latest
            timeout-minutes: 30
            steps: [{run: "mlgates promote --model-version 3"}]
    """)
    assert [f.code for f in findings] == ["MLG002"]
    assert "no staging job" in findings[0].message


def test_ignore_comment_silences_one_check():
    text = (DATA / "bad_no_timeout.yml").read_text().replace("# expect: MLG001", "# mlgates-lint: ignore[MLG001]")
    assert check_workflow(parse_workflow(text, "x.yml")) == []
    other = text.replace("ignore[MLG001]", "ignore[MLG005]")
    assert [f.code for f in check_workflow(parse_workflow(other, "x.yml"))] == ["MLG001"]


def test_json_and_github_formats(capsys):
    path = DATA / "bad_no_environment.yml"
    assert lint_command.main(["--format", "json", str(path)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["code"], d["job"], d["file"]) for d in data] == [("MLG005", "deploy-prod", str(path))]
    assert lint_command.main(["--format", "github", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"::error file={path},line={expected(path)[0][1]},title=MLG005")


def test_select_and_ignore(capsys):
    path = DATA / "bad_no_cleanup.yml"
    assert lint_command.main(["--ignore", "MLG006", str(path)]) == 0
    assert lint_command.main(["--select", "MLG006,MLG001", str(path)]) == 1
    with pytest.raises(SystemExit) as exc:
        lint_command.main(["--select", "MLG999", str(path)])
    assert exc.value.code == 2


def test_folder_lints_every_workflow(tmp_path: Path, capsys):
    for path in [DATA / "good.yml", DATA / "bad_no_cleanup.yml"]:
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "notes.txt").write_text("not a workflow")
    assert lint_command.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "MLG006" in out and "1 finding(s) in 2 file(s)" in out


@pytest.mark.parametrize("content, needle", [
    ("on: [push\njobs: {}", "not valid YAML"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("name: no jobs here\non: push\n", "not a GitHub Actions workflow"),
    ("", "must be a YAML mapping"),
])
def test_unreadable_input_exits_2(tmp_path: Path, capsys, content: str, needle: str):
    path = tmp_path / "broken.yml"
    path.write_text(content)
    with pytest.raises(LintInputError, match=needle):
        lint_file(path)
    assert lint_command.main([str(path)]) == 2
    assert needle in capsys.readouterr().err


def test_missing_path_and_empty_folder_exit_2(tmp_path: Path, capsys):
    assert lint_command.main([str(tmp_path / "nope.yml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert lint_command.main([str(tmp_path)]) == 2
    assert "no .yml or .yaml" in capsys.readouterr().err


def test_unreadable_file_beside_a_bad_one_still_reports_findings(tmp_path: Path, capsys):
    (tmp_path / "a.yml").write_text((DATA / "bad_no_timeout.yml").read_text())
    (tmp_path / "b.yml").write_text("on: [push\n")
    assert lint_command.main([str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "MLG001" in captured.out and "b.yml" in captured.err
