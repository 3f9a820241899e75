"""`gitorch action` end to end: a real event payload in, the REST double's state and the step files out."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitorch import config as config_module
from gitorch.cli import cli
from gitorch.commands.action import run_action
from gitorch.commands.table import Outcome
from gitorch.errors import GitorchError
from gitorch.model import Metric, Run, Usage
from gitorch.run.state import RunResult
from gitorch.simulate.github_api import GitHubDouble
from gitorch.store.sqlite import SqliteStore

EXAMPLES = Path(__file__).resolve().parents[1] / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"
TOKEN = "ghs_" + "c" * 36


@pytest.fixture(scope="module")
def examples() -> dict[str, list[dict]]:
    return {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}


@pytest.fixture
def gh():
    with GitHubDouble(owner="octo-org", repo="sample") as double:
        yield double


class Action:
    """Runs `gitorch action` as the Actions runner would: event file, env vars, step files."""

    def __init__(self, gh: GitHubDouble, folder: Path):
        self.gh = gh
        self.folder = folder
        self.summary = folder / "summary.md"
        self.output = folder / "output.txt"

    def env(self, name: str, payload: dict) -> dict[str, str]:
        event = self.folder / f"{name}.json"
        event.write_text(json.dumps(payload))
        return {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": self.gh.full_name,
                "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_OUTPUT": str(self.output),
                "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": self.gh.base_url}

    def run(self, name: str, payload: dict, *args: str, env: dict[str, str] | None = None):
        result = CliRunner().invoke(cli, ["action", "--json", *args], env={**self.env(name, payload), **(env or {})},
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output[result.output.index("{"):])

    def outputs(self) -> dict[str, str]:
        lines = self.output.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines)


@pytest.fixture
def action(gh, tmp_path, repo):
    return Action(gh, tmp_path)


def comment_event(examples, gh: GitHubDouble, issue: int, body: str, *, association: str = "OWNER",
                  login: str = "octocat", pull: bool = False) -> dict:
    payload = copy.deepcopy(next(p for p in examples["issue_comment"] if p["action"] == "created"))
    payload["repository"]["full_name"] = gh.full_name
    payload["issue"].update(number=issue, state="open", locked=False)
    if pull:
        payload["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{gh.full_name}/pulls/{issue}"}
    else:
        payload["issue"].pop("pull_request", None)
    payload["comment"].update(body=body, author_association=association, id=issue * 1000 + len(body))
    payload["comment"]["user"].update(login=login, type="User")
    payload["sender"].update(login=login, type="User")
    return payload


def test_events_gitorch_does_not_act_on_end_with_one_line_and_no_api_call(action, gh, examples):
    payload = copy.deepcopy(examples["star"][0])
    out = action.run("star", payload)
    assert out["status"] == "ignored" and "not an event gitorch acts on" in out["message"]
    assert gh.requests == []
    assert action.outputs() == {"pr-number": "", "verdict": "", "cost-usd": "0.0000"}
    assert "ignored" in action.summary.read_text()


def test_strangers_are_refused_silently(action, gh, examples):
    issue = gh.add_issue("Add a flag")
    out = action.run("issue_comment", comment_event(examples, gh, issue, "/gitorch proceed", association="NONE",
                                                    login="mallory"))
    assert out["status"] == "refused" and "mallory is NONE" in out["message"]
    assert gh.issue_comments(issue) == []
    assert all(method == "GET" for method, _, _ in gh.requests)  # it only read the config


def test_unknown_command_gets_help_once(action, gh, examples):
    issue = gh.add_issue("Add a flag")
    payload = comment_event(examples, gh, issue, "/gitorch deploy please")
    assert action.run("issue_comment", payload)["status"] == "answered"
    assert action.run("issue_comment", payload)["status"] == "answered"  # the same event delivered again
    comments = gh.issue_comments(issue)
    assert len(comments) == 1 and "unknown command 'deploy'" in comments[0]["body"]
    assert "`/gitorch override`" in comments[0]["body"]


def test_status_command_says_where_the_run_is(action, gh, examples):
    issue = gh.add_issue("Add a flag", labels=["gitorch", "gitorch:building"])
    action.run("issue_comment", comment_event(examples, gh, issue, "/gitorch status"))
    assert "`gitorch:building`" in gh.issue_comments(issue)[0]["body"]


def test_gitorch_own_comment_does_not_start_gitorch(action, gh, examples):
    issue = gh.add_issue("Add a flag")
    payload = comment_event(examples, gh, issue, "<!-- gitorch:comment reply-1 -->\n/gitorch status")
    payload["comment"]["user"].update(login="github-actions[bot]", type="Bot")
    payload["sender"].update(login="github-actions[bot]", type="Bot")
    assert action.run("issue_comment", payload)["status"] == "refused"
    assert gh.issue_comments(issue) == []


def test_commands_on_someone_elses_pr_are_ignored(action, gh, examples):
    gh.push_branch("feature/login", diff="")
    pr = gh._create_pull(gh.default_identity, {"title": "t", "head": "feature/login", "base": "main"})["number"]
    out = action.run("issue_comment", comment_event(examples, gh, pr, "/gitorch review", pull=True))
    assert out["status"] == "ignored" and "not a gitorch pull request" in out["message"]


def test_config_comes_from_the_default_branch(action, gh, examples):
    gh.set_file(".gitorch.yml", "github:\n  trigger_label: build-me\n")
    payload = copy.deepcopy(next(p for p in examples["issues"] if p["action"] == "labeled"))
    payload["label"]["name"] = "gitorch"
    out = action.run("issues", payload)
    assert out["status"] == "ignored" and "'build-me'" in out["message"]


def test_broken_config_on_the_default_branch_is_a_clear_error(action, gh, examples):
    gh.set_file(".gitorch.yml", "github:\n  trigger_lable: x\n")
    issue = gh.add_issue("Add a flag")
    env = action.env("issue_comment", comment_event(examples, gh, issue, "/gitorch status"))
    result = CliRunner().invoke(cli, ["action"], env=env)
    error = result.exception
    assert isinstance(error, GitorchError)  # main() prints it with its hint and exits 1
    assert ".gitorch.yml on the default branch is invalid" in error.message and "trigger_label" in error.message


def test_the_pipeline_takes_over_at_one_call_site(gh, examples, tmp_path, repo):
    issue = gh.add_issue("Add a flag")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(comment_event(examples, gh, issue, "/gitorch proceed")))
    env = config_module.ActionEnv(event_name="issue_comment", event_path=str(event), repository=gh.full_name,
                                  step_summary=str(tmp_path / "summary.md"), output=str(tmp_path / "out.txt"))
    cfg = config_module.load(env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url})
    seen = []

    class Recorded:
        """Stands in for the run pipeline: what the command asked of it, and a finished run."""

        def __init__(self, ctx):
            self.store = ctx.store
            seen.append(ctx.github.repo)

        def start(self, request, run_id=None):
            seen.append((run_id, request.issue_number, request.confirmed))
            run = Run(id=run_id, text=request.text, status="done", pr_number=7, verdict="approve")
            usage = Usage(input_tokens=1000, output_tokens=500)
            self.store.record_metric(Metric("claude", "claude-sonnet-5-5", usage, 0.0105, 0.0105, run_id=run_id))
            self.store.record_metric(Metric("chatgpt-pro", "chatgpt", usage, 0.0, 0.0105, run_id=run_id))
            return RunResult(run=run)

    with SqliteStore(tmp_path / "state.db") as store:
        result = run_action(cfg, env, store=store, pipeline=Recorded)
    assert isinstance(result, Outcome) and seen == [gh.full_name, (f"run-issue-{issue}", issue, True)]
    outputs = dict(line.split("=", 1) for line in (tmp_path / "out.txt").read_text().splitlines())
    assert outputs == {"pr-number": "7", "verdict": "approve", "cost-usd": "0.0105"}
    summary = (tmp_path / "summary.md").read_text()
    assert "| chatgpt-pro | 1 | 1,500 | $0.00 | $0.01 |" in summary
    assert "saving $0.01 (50%)" in summary


def test_closed_pr_without_a_known_decision_is_noted(action, gh, examples):
    payload = copy.deepcopy(next(p for p in examples["pull_request"] if p["action"] == "closed"))
    payload["pull_request"]["head"]["ref"] = "gitorch/run-9"
    payload["sender"]["login"] = "octocat"
    gh.add_collaborator("octocat", "admin")
    out = action.run("pull_request", payload)
    assert out["status"] == "ignored" and "no routing decision" in out["message"]


def test_dry_run_writes_markdown_instead_of_calling_github(examples, tmp_path, repo, gh):
    issue = 12
    payload = comment_event(examples, gh, issue, "/gitorch")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    out_dir = tmp_path / "dry"
    result = CliRunner().invoke(cli, ["action", "--dry-run", str(out_dir)], catch_exceptions=False,
                                env={"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(event)})
    assert result.exit_code == 0, result.output
    written = list((out_dir / "comments").glob("issue-12--reply-*.md"))
    assert len(written) == 1 and "gitorch commands" in written[0].read_text()
    assert gh.requests == []


# -- with the router ---------------------------------------------------------------------------------


def labeled_event(examples, gh: GitHubDouble, issue: int, *, login: str = "maintainer") -> dict:
    payload = copy.deepcopy(next(p for p in examples["issues"] if p["action"] == "labeled"))
    payload["repository"]["full_name"] = gh.full_name
    payload["label"]["name"] = "gitorch"
    payload["issue"].update(number=issue, title="Generate CRUD endpoints for the user model",
                            body="Create, read, update and delete, with tests.", state="open", locked=False)
    payload["sender"].update(login=login, type="User")
    return payload


def test_labelled_issue_gets_one_suggestion_comment_and_the_planning_label(action, gh, examples):
    gh.add_collaborator("maintainer", "write")
    issue = gh.add_issue("Generate CRUD endpoints for the user model", labels=["gitorch"])
    payload = labeled_event(examples, gh, issue)
    # Routing set to ask a person: the run is handed to the pipeline, which waits for `/gitorch proceed`
    # before spending anything (the full issue-to-PR exchange is in tests/test_github_pipeline.py).
    waits = {"AUTO_ROUTING_ENABLED": "false", "ANTHROPIC_API_KEY": "sk-ant-never-used-in-this-test"}
    out = action.run("issues", payload, env=waits)
    assert out["status"] == "awaiting_confirmation" and out["decision_id"]
    again = action.run("issues", payload, env=waits)  # GitHub delivers the same event again
    assert again["status"] == "awaiting_confirmation"
    comments = gh.issue_comments(issue)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert "routing suggestion" in body and "Suggested agent" in body and "`gitorch:planning`" in body
    assert "/gitorch proceed" in body
    assert gh.issue_labels(issue) == ["gitorch", "gitorch:planning"]
    summary = action.summary.read_text()
    assert "### Routing" in summary and "### Cost" in summary
    assert action.outputs()["cost-usd"] == "0.0000"

    override = comment_event(examples, gh, issue, "/gitorch override claude")
    assert action.run("issue_comment", override)["status"] == "answered"
    comments = gh.issue_comments(issue)
    assert len(comments) == 1 and "a maintainer chose **claude**" in comments[0]["body"]
    explain = comment_event(examples, gh, issue, "/gitorch explain")
    action.run("issue_comment", explain)
    assert "<summary>Why</summary>" in gh.issue_comments(issue)[0]["body"]


def test_label_added_by_someone_without_write_access_does_nothing(action, gh, examples):
    issue = gh.add_issue("Generate CRUD endpoints", labels=["gitorch"])
    out = action.run("issues", labeled_event(examples, gh, issue, login="drive-by"))
    assert out["status"] == "refused" and "read permission" in out["message"]
    assert gh.issue_comments(issue) == [] and gh.issue_labels(issue) == ["gitorch"]


def test_merged_gitorch_pr_teaches_the_router(gh, examples, tmp_path, repo):
    from gitorch.model import Run
    from gitorch.routing import Router

    cfg = config_module.load(env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url})
    gh.add_collaborator("maintainer", "write")
    payload = copy.deepcopy(next(p for p in examples["pull_request"] if p["action"] == "closed"))
    payload["repository"]["full_name"] = gh.full_name
    payload["pull_request"].update(number=42, merged=True)
    payload["pull_request"]["head"]["ref"] = "gitorch/run-7"
    payload["sender"].update(login="maintainer", type="User")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    env = config_module.ActionEnv(event_name="pull_request", event_path=str(event), repository=gh.full_name)
    with SqliteStore(tmp_path / "state.db") as store:
        router = Router(cfg, store, gh.full_name)
        decision = router.route("Generate CRUD endpoints for the user model")
        decision.run_id = "run-7"
        store.record_decision(decision)
        store.save_run(Run(id="run-7", text=decision.text, repo=gh.full_name, pr_number=42))
        result = run_action(cfg, env, store=store, router=router)
        assert result.status == "learned" and "merged" in result.message
        assert store.get_decision(decision.id).outcome == "success"


def test_a_review_comment_deleted_before_the_job_ran_is_reworked_and_the_job_ends_well(gh, examples, tmp_path, repo):
    """The rework is pushed; the reply finds no thread (GitHub answers 404 there), so gitorch says the
    comment was deleted, blames no permission, exits 0 and writes its outputs."""
    cfg = config_module.load(env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url})
    gh.push_branch("gitorch/run-7", diff="")
    pr = gh._create_pull(gh.default_identity, {"title": "t", "head": "gitorch/run-7", "base": "main"})["number"]
    comment = gh.add_review_comment(pr, "cli.py", 2, "Rename run()", user="octocat")
    payload = copy.deepcopy(next(p for p in examples["pull_request_review_comment"] if p["action"] == "created"))
    payload["repository"]["full_name"] = gh.full_name
    payload["pull_request"].update(number=pr, state="open", locked=False)
    payload["pull_request"]["head"]["ref"] = "gitorch/run-7"
    payload["comment"].update(id=comment, path="cli.py", line=2, body="Rename run()", author_association="OWNER")
    payload["comment"]["user"].update(login="octocat", type="User")
    payload["sender"].update(login="octocat", type="User")
    del gh.review_comments[comment]  # deleted before the job ran
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    env = config_module.ActionEnv(event_name="pull_request_review_comment", event_path=str(event),
                                  repository=gh.full_name, output=str(tmp_path / "out.txt"))
    reworked = []

    class Recorded:
        """Stands in for the run pipeline: the rework is done and pushed."""

        def __init__(self, ctx):
            self.store = ctx.store

        def rework(self, run_id, tasks, key):
            reworked.append((run_id, key))
            run = Run(id=run_id, text="t", status="done", pr_number=pr, verdict="approve")
            return RunResult(run=run, commits=["c0ffee" * 6 + "abcd"])

    with SqliteStore(tmp_path / "state.db") as store:
        store.save_run(Run(id="run-7", text="t", repo=gh.full_name, pr_number=pr, branch="gitorch/run-7"))
        result = run_action(cfg, env, store=store, pipeline=Recorded)
    assert reworked == [("run-7", str(comment))]
    assert result.status == "done" and f"review comment {comment} on #{pr} was deleted" in result.message
    assert "permission" not in result.message
    assert not [c for c in gh.pull_review_comments(pr)]  # no reply anywhere
    outputs = dict(line.split("=", 1) for line in (tmp_path / "out.txt").read_text().splitlines())
    assert outputs == {"pr-number": str(pr), "verdict": "approve", "cost-usd": "0.0000"}


def test_the_same_override_delivered_again_teaches_the_router_once(action, gh, examples):
    from gitorch.routing.learned import RepoState
    from gitorch.store import open_store

    gh.add_collaborator("maintainer", "write")
    issue = gh.add_issue("Generate CRUD endpoints for the user model", labels=["gitorch"])
    waits = {"AUTO_ROUTING_ENABLED": "false", "ANTHROPIC_API_KEY": "sk-ant-never-used-in-this-test"}
    action.run("issues", labeled_event(examples, gh, issue), env=waits)
    override = comment_event(examples, gh, issue, "/gitorch override claude")

    def learned():
        with open_store(config_module.load()) as store:
            return RepoState.from_bytes(store.load_router_state(gh.full_name)).agents

    action.run("issue_comment", override, env=waits)
    once = learned()
    action.run("issue_comment", override, env=waits)  # GitHub delivers it again (or a job catches it up)
    assert learned() == once
