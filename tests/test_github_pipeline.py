"""The whole issue-to-PR exchange: `gitorch action` on a labelled issue, against the REST double.

The double keeps issues, comments, PRs, reviews and statuses, checks every request against GitHub's
OpenAPI description, and reads branches and diffs from the bare remote gitorch really pushes to.
Claude and the browser builder are the real clients against their local stand-ins.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitorch.cli import cli
from gitorch.simulate import demo_scenario
from gitorch.simulate.demo import DEMO_CONFIG, StandIns, git, make_repository

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[1] / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"
TOKEN = "ghs_" + "d" * 36


ASK_FIRST = DEMO_CONFIG + "routing:\n  auto: false\n"


def _examples() -> dict[str, list[dict]]:
    return {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}


def proceed(issue: int, full_name: str) -> dict:
    payload = copy.deepcopy(next(p for p in _examples()["issue_comment"] if p["action"] == "created"))
    payload["repository"]["full_name"] = full_name
    payload["issue"].update(number=issue, state="open", locked=False)
    payload["issue"].pop("pull_request", None)
    payload["comment"].update(body="/gitorch proceed", author_association="MEMBER", id=7001)
    payload["comment"]["user"].update(login="maintainer", type="User")
    payload["sender"].update(login="maintainer", type="User")
    return payload


def labeled(issue: int, full_name: str) -> dict:
    examples = _examples()
    payload = copy.deepcopy(next(p for p in examples["issues"] if p["action"] == "labeled"))
    payload["repository"]["full_name"] = full_name
    payload["label"]["name"] = "gitorch"
    payload["issue"].update(number=issue, title=demo_scenario.ISSUE_TITLE, body=demo_scenario.ISSUE_BODY,
                            state="open", locked=False)
    payload["sender"].update(login="maintainer", type="User")
    return payload


@pytest.fixture
def world(tmp_path, monkeypatch):
    repo = make_repository(tmp_path, config_yaml=DEMO_CONFIG)
    with StandIns(github=True, github_git_dir=str(tmp_path / "origin.git")) as s:
        s.hub.add_collaborator("maintainer", "write")
        s.hub.set_file(".gitorch.yml", ASK_FIRST)  # read from the default branch through the API
        monkeypatch.chdir(repo)
        yield s, repo, tmp_path


def action(standins, tmp_path, payload: dict, event_name: str = "issues") -> dict:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    env = {**standins.env(tmp_path / "state"), "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(event),
           "GITHUB_REPOSITORY": standins.hub.full_name, "GITHUB_TOKEN": TOKEN,
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_OUTPUT": str(tmp_path / "output.txt")}
    result = CliRunner().invoke(cli, ["action", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])


def test_a_labelled_issue_becomes_a_reviewed_pull_request_once(world):
    standins, repo, tmp = world
    hub = standins.hub
    issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])

    waiting = action(standins, tmp, labeled(issue, hub.full_name))
    assert waiting["status"] == "awaiting_confirmation"
    assert standins.page.prompts == [] and not hub.pulls  # nothing built or opened before a person agrees
    assert "/gitorch proceed" in hub.issue_comments(issue)[0]["body"]

    out = action(standins, tmp, proceed(issue, hub.full_name), "issue_comment")
    assert out["status"] == "done" and out["verdict"] == "approve"
    pr = out["pr_number"]
    assert list(hub.pulls) == [pr]
    pull = hub.pulls[pr]
    assert pull["head"]["ref"].startswith("gitorch/") and f"Closes #{issue}" in hub.issues[pr]["body"]
    # The branch is on the remote: seven commits (five tasks, two fixes) on top of main.
    remote = str(tmp / "origin.git")
    assert len(git(repo, "--git-dir", remote, "rev-list", f"main..{pull['head']['ref']}").split()) == 7
    # Two rounds of review: the first asks for changes with inline comments on the diff, the second approves.
    reviews = hub.pull_reviews(pr)
    assert len(reviews) == 2
    assert hub.pull_review_comments(pr), "the rejection carries inline comments on the changed lines"
    head = git(repo, "--git-dir", remote, "rev-parse", pull["head"]["ref"]).strip()
    assert [s["state"] for s in hub.commit_statuses(head) if s["context"] == "gitorch/review"][-1] == "success"
    assert hub.issue_labels(issue) == ["gitorch", "gitorch:done"]
    comments = hub.issue_comments(issue)
    assert len(comments) == 1 and "routing suggestion" in comments[0]["body"]
    outputs = dict(line.split("=", 1) for line in (tmp / "output.txt").read_text().splitlines())
    assert outputs["pr-number"] == str(pr) and outputs["verdict"] == "approve"
    summary = (tmp / "summary.md").read_text()
    assert "Claude alone would have cost" in summary

    # GitHub delivers the same event again: nothing is done twice.
    counts = (len(hub.comments), len(hub.pulls), len(hub.pull_reviews(pr)), len(standins.page.prompts))
    again = action(standins, tmp, proceed(issue, hub.full_name), "issue_comment")
    assert again["status"] == "done" and again["pr_number"] == pr
    action(standins, tmp, labeled(issue, hub.full_name))
    assert (len(hub.comments), len(hub.pulls), len(hub.pull_reviews(pr)), len(standins.page.prompts)) == counts


def test_a_finished_run_delivered_again_to_an_empty_store_is_not_done_again(world):
    """The state folder is gone (moved aside, a new runner): the run is rebuilt from its comment, its
    pull request, its reviews and its branch, and nothing is built, asked or posted again."""
    import shutil

    standins, repo, tmp = world
    hub = standins.hub
    issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])
    action(standins, tmp, labeled(issue, hub.full_name))
    done = action(standins, tmp, proceed(issue, hub.full_name), "issue_comment")
    pr = done["pr_number"]
    branch = hub.pulls[pr]["head"]["ref"]
    remote = str(tmp / "origin.git")

    def world_now():
        return (len(hub.comments), len(hub.pulls), len(hub.pull_reviews(pr)), len(hub.pull_review_comments(pr)),
                hub.issue_labels(issue), len(standins.page.prompts), len(standins.api.message_requests),
                git(repo, "--git-dir", remote, "rev-parse", branch).strip())

    before = world_now()
    writes = sum(m != "GET" for m, _, _ in hub.requests)
    shutil.rmtree(tmp / "state")  # the store is lost

    label_again = action(standins, tmp, labeled(issue, hub.full_name))
    proceed_again = action(standins, tmp, proceed(issue, hub.full_name), "issue_comment")
    assert label_again["status"] == proceed_again["status"] == "done"
    assert proceed_again["pr_number"] == pr and proceed_again["verdict"] == "approve"
    assert world_now() == before  # 0 builds, 0 Claude calls, 0 new commits, reviews, comments, labels
    assert sum(m != "GET" for m, _, _ in hub.requests) == writes  # nothing written to GitHub at all
    assert len(git(repo, "--git-dir", remote, "rev-list", f"main..{branch}").split()) == 7
    assert before[2] == 2
    from gitorch.store.sqlite import SqliteStore

    with SqliteStore(tmp / "state" / "state.db") as store:  # the new store knows the run as GitHub keeps it
        run = store.get_run(f"run-issue-{issue}")
        assert run.status == "done" and run.pr_number == pr and run.branch == branch
        keys = [row["key"] for row in store.journal(run.id)]
        assert sum(k.startswith("commit:") for k in keys) == 7 and "review:r2" in keys
        assert [r.verdict for r in store.reviews(run.id)] == ["reject", "approve"]


def review_comment(pr: int, branch: str, comment_id: int, full_name: str, path: str, line: int, body: str) -> dict:
    payload = copy.deepcopy(next(p for p in _examples()["pull_request_review_comment"] if p["action"] == "created"))
    payload["repository"]["full_name"] = full_name
    payload["pull_request"].update(number=pr, state="open", locked=False)
    payload["pull_request"]["head"]["ref"] = branch
    payload["comment"].update(id=comment_id, path=path, line=line, body=body, author_association="MEMBER")
    payload["comment"]["user"].update(login="maintainer", type="User")
    payload["sender"].update(login="maintainer", type="User")
    return payload


def test_a_review_comment_on_the_pr_is_reworked_on_the_same_branch_and_answered_in_its_thread(world):
    standins, repo, tmp = world
    hub = standins.hub
    issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])
    action(standins, tmp, labeled(issue, hub.full_name))
    done = action(standins, tmp, proceed(issue, hub.full_name), "issue_comment")
    pr = done["pr_number"]
    branch = hub.pulls[pr]["head"]["ref"]
    path = "shop/notifications/templates.py"
    greeting = demo_scenario.ANSWERS[path].replace("Hello {user.name}", "Hello {user.name.split()[0]}")

    def answer(prompt: str) -> str:
        if "Address this review comment" in prompt:
            return f"{path}\n```python\n{greeting}```\n"
        return demo_scenario.builder_answer(prompt)

    standins.page.respond(answer)
    cid = hub.add_review_comment(pr, path, 5, "Greet the customer by their first name", user="maintainer")
    payload = review_comment(pr, branch, cid, hub.full_name, path, 5, "Greet the customer by their first name")
    reviews = len(hub.pull_reviews(pr))
    out = action(standins, tmp, payload, "pull_request_review_comment")
    assert out["status"] == "done" and out["pr_number"] == pr
    remote = str(tmp / "origin.git")
    assert "split()[0]" in git(repo, "--git-dir", remote, "show", f"{branch}:{path}")
    assert len(hub.pull_reviews(pr)) == reviews + 1  # the new change was reviewed
    replies = [c for c in hub.pull_review_comments(pr) if c.get("in_reply_to") == cid]
    assert len(replies) == 1 and "verdict" in replies[0]["body"]
    # Delivered again: nothing new.
    action(standins, tmp, payload, "pull_request_review_comment")
    assert len(hub.pull_reviews(pr)) == reviews + 1
    assert len([c for c in hub.pull_review_comments(pr) if c.get("in_reply_to") == cid]) == 1


def test_a_usage_cap_pauses_the_issue_run_and_the_schedule_resumes_it_after_the_reset(world):
    from datetime import timedelta

    from gitorch import config as config_module
    from gitorch.model import utcnow
    from gitorch.simulate.chatgpt_page import Answer
    from gitorch.store.sqlite import SqliteStore

    standins, repo, tmp = world
    hub = standins.hub
    hub.set_file(".gitorch.yml", ASK_FIRST + "agents:\n  allow_claude_fallback: false\n")
    issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])
    action(standins, tmp, labeled(issue, hub.full_name))
    standins.page.respond(lambda prompt: Answer(fault="usage_cap", reset="4:12 PM"))

    paused = action(standins, tmp, proceed(issue, hub.full_name), "issue_comment")
    assert paused["status"] == "paused" and not hub.pulls
    assert hub.issue_labels(issue) == ["gitorch", "gitorch:paused"]  # not failed: it goes on by itself
    assert any("goes on by itself after" in c["body"] for c in hub.issue_comments(issue))

    schedule = {"schedule": "17,47 * * * *", "repository": {"full_name": hub.full_name}}
    early = action(standins, tmp, schedule, "schedule")
    assert early["status"] == "ignored" and "no paused run is due" in early["message"]

    # The cap resets: move the run's wait into the past, as the clock would.
    cfg = config_module.load(env=standins.env(tmp / "state"))
    with SqliteStore(cfg.db_path) as store:
        run = store.get_run(f"run-issue-{issue}")
        run.resume_after = utcnow() - timedelta(minutes=1)
        store.save_run(run)
    standins.page.respond(demo_scenario.builder_answer)

    resumed = action(standins, tmp, schedule, "schedule")
    assert resumed["status"] == "resumed" and f"run-issue-{issue}: done" in resumed["message"]
    assert len(hub.pulls) == 1 and hub.issue_labels(issue) == ["gitorch", "gitorch:done"]
    again = action(standins, tmp, schedule, "schedule")  # the next tick finds nothing to do
    assert again["status"] == "ignored" and len(hub.pulls) == 1


def plan_command(issue: int, full_name: str) -> dict:
    payload = proceed(issue, full_name)
    payload["comment"].update(body="/gitorch plan", id=7002)
    return payload


def test_gitorch_plan_waits_with_a_checklist_and_proceed_builds_the_plan_as_edited(world):
    standins, repo, tmp = world
    hub = standins.hub
    issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])
    action(standins, tmp, labeled(issue, hub.full_name))

    waiting = action(standins, tmp, plan_command(issue, hub.full_name), "issue_comment")
    assert waiting["status"] == "awaiting_plan_approval"
    assert standins.page.prompts == [] and not hub.pulls  # planned, nothing built
    again = action(standins, tmp, plan_command(issue, hub.full_name), "issue_comment")
    assert again["status"] == "awaiting_plan_approval" and standins.page.prompts == []  # plan again: still waits
    [comment] = [c for c in hub.issue_comments(issue) if "- [x] **t5**" in c["body"]]
    # A person unticks the tests task in the comment.
    comment["body"] = comment["body"].replace("- [x] **t5**", "- [ ] **t5**")

    done = action(standins, tmp, proceed(issue, hub.full_name), "issue_comment")
    assert done["status"] == "done" and done["verdict"] == "approve"
    branch = hub.pulls[done["pr_number"]]["head"]["ref"]
    files = git(repo, "--git-dir", str(tmp / "origin.git"), "ls-tree", "-r", "--name-only", branch).split()
    assert "shop/notifications/templates.py" in files and "tests/test_notifications.py" not in files
    assert not any("test_notifications" in p for p in standins.page.prompts)  # t5 was never sent
