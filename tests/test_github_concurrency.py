"""No event lost, strangers cost nothing: the example workflow under a simulation of GitHub's
documented `if:` and `concurrency:` rules (tests/standins/actions.py), and gitorch catching up on
the commands whose jobs GitHub cancelled."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from standins.actions import Actions, evaluate, interpolate

from gitorch.cli import cli
from gitorch.model import utcnow
from gitorch.simulate.github_api import GitHubDouble

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / "gitorch" / "workflow.example.yml").read_text()
EXAMPLES = ROOT / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"
TOKEN = "ghs_" + "e" * 36
REPO = "octo-org/sample"


@pytest.fixture(scope="module")
def examples() -> dict[str, list[dict]]:
    return {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}


def comment(examples, issue: int, body: str, *, association: str = "MEMBER", login: str = "maintainer",
            user_type: str = "User", cid: int = 1, created_at: str | None = None) -> dict:
    payload = copy.deepcopy(next(p for p in examples["issue_comment"] if p["action"] == "created"))
    payload["repository"]["full_name"] = REPO
    payload["issue"].update(number=issue, state="open", locked=False)
    payload["issue"].pop("pull_request", None)
    payload["comment"].update(body=body, author_association=association, id=cid,
                              created_at=created_at or payload["comment"]["created_at"])
    payload["comment"]["user"].update(login=login, type=user_type)
    payload["sender"].update(login=login, type=user_type)
    return payload


def labeled(examples, issue: int, *, title: str = "Add a flag", body: str = "", at: str | None = None) -> dict:
    payload = copy.deepcopy(next(p for p in examples["issues"] if p["action"] == "labeled"))
    payload["repository"]["full_name"] = REPO
    payload["label"]["name"] = "gitorch"
    payload["issue"].update(number=issue, title=title, body=body, state="open", locked=False,
                            labels=[{"name": "gitorch"}], updated_at=at or payload["issue"]["updated_at"])
    payload["sender"].update(login="maintainer", type="User")
    return payload


# -- the stand-in is as strict as GitHub's documentation --------------------------------------------


def test_expressions_follow_githubs_documented_rules():
    ctx = {"github": {"event": {"comment": {"body": "Please /GITORCH proceed", "author_association": "member"}},
                      "run_id": 42}}
    assert evaluate("github.event.comment.author_association == 'MEMBER'", ctx) is True  # strings ignore case
    assert evaluate("contains(github.event.comment.body, '/gitorch')", ctx) is True
    assert evaluate("contains(fromJSON('[\"OWNER\", \"MEMBER\"]'), github.event.comment.author_association)", ctx)
    assert evaluate("github.event.issue.number || github.run_id", ctx) == 42  # `||` gives an operand
    assert evaluate("github.event.pull_request == null", ctx) is True  # a missing property is null
    assert evaluate("!startsWith('gitorch/x', 'GITORCH/')", ctx) is False
    assert interpolate("gitorch-${{ github.event.issue.number || github.run_id }}", ctx) == "gitorch-42"
    labels = {"github": {"event": {"issue": {"labels": [{"name": "bug"}, {"name": "GitOrch"}]}}}}
    assert evaluate("github.event.issue.labels.*.name", labels) == ["bug", "GitOrch"]  # an object filter
    assert evaluate("contains(github.event.issue.labels.*.name, 'gitorch')", labels) is True


def test_the_documented_rule_loses_the_middle_of_three_events_in_one_workflow_group(examples):
    """The example workflow as it was: one workflow-level group per issue. A label's job runs; an
    override waits; a proceed replaces the waiting override, which GitHub cancels."""
    old = EXAMPLE.replace("jobs:\n", "concurrency:\n  group: gitorch-${{ github.event.issue.number }}\n"
                                     "  cancel-in-progress: false\n\njobs:\n", 1)
    actions = Actions.from_file(old, REPO)
    events = [actions.deliver("issues", labeled(examples, 7)),
              actions.deliver("issue_comment", comment(examples, 7, "/gitorch override claude", cid=2)),
              actions.deliver("issue_comment", comment(examples, 7, "/gitorch proceed", cid=3))]
    assert [e.state for e in events] == ["running", "cancelled", "pending"]
    # A stranger's comment takes the waiting slot too when the group is on the workflow.
    actions.deliver("issue_comment", comment(examples, 7, "nice!", association="NONE", login="drive-by", cid=4))
    assert events[2].state == "cancelled"


def test_the_workflow_lets_through_only_what_gitorch_may_act_on(examples):
    actions = Actions.from_file(EXAMPLE, REPO)

    def runs(name: str, payload: dict) -> bool:
        return actions.deliver(name, payload).state != "skipped"

    assert runs("issues", labeled(examples, 1))
    opened = copy.deepcopy(next(p for p in examples["issues"] if p["action"] == "opened"))
    opened["issue"]["labels"] = []
    assert not runs("issues", opened)  # anyone may open an issue: without the label it starts nothing
    opened["issue"]["labels"] = [{"name": "bug"}, {"name": "gitorch"}]
    assert runs("issues", opened)
    other_label = labeled(examples, 1)
    other_label["label"]["name"], other_label["issue"]["labels"] = "bug", [{"name": "bug"}]
    assert not runs("issues", other_label)
    assert runs("issue_comment", comment(examples, 2, "/gitorch proceed", association="OWNER"))
    assert runs("issue_comment", comment(examples, 3, "ok, and then\n/gitorch override codex", association="COLLABORATOR"))
    assert not runs("issue_comment", comment(examples, 4, "/gitorch proceed", association="NONE", login="mallory"))
    assert not runs("issue_comment", comment(examples, 5, "/gitorch proceed", association="CONTRIBUTOR", login="x"))
    assert not runs("issue_comment", comment(examples, 6, "Looks good to me"))  # no command: no job
    assert not runs("issue_comment", comment(examples, 7, "<!-- gitorch:comment reply-1 -->\n/gitorch status",
                                             login="github-actions[bot]", user_type="Bot", association="NONE"))
    review_comment = copy.deepcopy(next(p for p in examples["pull_request_review_comment"] if p["action"] == "created"))
    review_comment["repository"]["full_name"] = review_comment["pull_request"]["head"]["repo"]["full_name"] = REPO
    review_comment["comment"]["author_association"] = "MEMBER"
    assert runs("pull_request_review_comment", review_comment)
    review_comment["comment"]["author_association"] = "NONE"
    assert not runs("pull_request_review_comment", review_comment)
    fork = copy.deepcopy(review_comment)
    fork["comment"]["author_association"] = "OWNER"
    fork["pull_request"]["head"]["repo"]["full_name"] = "mallory/sample"
    assert not runs("pull_request_review_comment", fork)
    review = copy.deepcopy(next(p for p in examples["pull_request_review"] if p["action"] == "submitted"))
    review["repository"]["full_name"] = review["pull_request"]["head"]["repo"]["full_name"] = REPO
    review["review"]["author_association"] = "NONE"
    assert not runs("pull_request_review", review)
    push = copy.deepcopy(examples["push"][0])
    assert runs("push", push)
    assert runs("schedule", {"schedule": "17,47 * * * *", "repository": {"full_name": REPO}})


def test_a_hundred_strangers_comments_start_no_job_and_never_take_a_waiting_slot(examples):
    actions = Actions.from_file(EXAMPLE, REPO)
    running = actions.deliver("issues", labeled(examples, 9))
    waiting = actions.deliver("issue_comment", comment(examples, 9, "/gitorch proceed", cid=2))
    spam = [actions.deliver("issue_comment", comment(examples, 9, "/gitorch proceed", association="NONE",
                                                     login=f"stranger{i}", cid=10 + i)) for i in range(100)]
    assert {s.state for s in spam} == {"skipped"}
    assert (running.state, waiting.state) == ("running", "pending")
    pushes = [actions.deliver("push", copy.deepcopy(examples["push"][0])) for _ in range(3)]
    assert {p.state for p in pushes} == {"running"}  # each in a group of its own: none cancels another


# -- gitorch decides strangers and its own comments from the payload alone ---------------------------


@pytest.fixture
def gh():
    with GitHubDouble(owner="octo-org", repo="sample") as double:
        yield double


def action(gh: GitHubDouble, folder: Path, name: str, payload: dict, env: dict | None = None) -> dict:
    event = folder / f"{name}-{len(gh.requests)}.json"
    event.write_text(json.dumps(payload))
    full = {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": gh.full_name,
            "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url, **(env or {})}
    result = CliRunner().invoke(cli, ["action", "--json"], env=full, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])


def test_a_strangers_command_and_gitorchs_own_comment_cost_no_api_call(gh, examples, tmp_path, repo):
    issue = gh.add_issue("Add a flag")
    stranger = action(gh, tmp_path, "issue_comment",
                      comment(examples, issue, "/gitorch proceed", association="NONE", login="mallory"))
    assert stranger["status"] == "refused" and "mallory is NONE" in stranger["message"]
    own = comment(examples, issue, "<!-- gitorch:comment reply-1 -->\n/gitorch status", login="github-actions[bot]",
                  user_type="Bot", association="NONE")
    assert action(gh, tmp_path, "issue_comment", own)["status"] == "refused"
    pat = comment(examples, issue, "<!-- gitorch:comment suggestion -->\n/gitorch proceed", association="OWNER")
    assert action(gh, tmp_path, "issue_comment", pat)["status"] == "refused"  # a PAT's comment: the marker
    assert gh.requests == []


# -- gitorch answers the commands whose jobs GitHub cancelled -----------------------------------------


WAITS = {"AUTO_ROUTING_ENABLED": "false", "ANTHROPIC_API_KEY": "sk-ant-never-used-in-this-test"}


def test_commands_whose_jobs_were_cancelled_are_answered_in_order_and_never_twice(gh, examples, tmp_path, repo):
    """A label's job runs; `explain` and `override codex` are cancelled while pending; `status`'s job
    answers them first, in order; a later job answers none of them again."""
    gh.add_collaborator("maintainer", "write")
    issue = gh.add_issue("Generate CRUD endpoints for the user model", labels=["gitorch"])
    label = labeled(examples, issue, title="Generate CRUD endpoints for the user model",
                    at=(utcnow() - timedelta(minutes=1)).isoformat())
    actions = Actions.from_file(EXAMPLE, REPO)
    said = {}
    for body in ("/gitorch explain", "/gitorch override codex", "/gitorch status"):
        cid = gh.add_comment(issue, body, user="maintainer", association="MEMBER")
        said[body] = comment(examples, issue, body, cid=cid, created_at=gh.comments[cid]["created_at"])
    hidden = gh.add_comment(issue, "<!-- /gitorch cancel -->", user="maintainer", association="MEMBER")
    stranger = gh.add_comment(issue, "/gitorch cancel", user="mallory", association="NONE")
    outcomes = []
    actions.run_job = lambda d: outcomes.append(action(gh, tmp_path, d.event_name, d.payload, WAITS))
    deliveries = [actions.deliver("issues", label)] + [actions.deliver("issue_comment", p) for p in said.values()]
    assert [d.state for d in deliveries] == ["running", "cancelled", "cancelled", "pending"]
    actions.run_queued()

    assert outcomes[0]["status"] == "awaiting_confirmation"
    assert outcomes[1]["status"] == "answered"
    message = outcomes[1]["message"]
    explain, override = (f"comment-{said[b]['comment']['id']}" for b in ("/gitorch explain", "/gitorch override codex"))
    assert message.index(explain) < message.index(override)  # in the order they were written
    assert f"comment-{hidden}" not in message and f"comment-{stranger}" not in message
    body = next(c["body"] for c in gh.issue_comments(issue) if "gitorch:comment suggestion" in c["body"])
    assert "a maintainer chose **codex**" in body
    status = next(c["body"] for c in gh.issue_comments(issue) if f"reply-{said['/gitorch status']['comment']['id']}"
                  in c["body"])
    assert "Suggested agent: **codex**" in status  # the override was answered before the status

    # The next event on the issue answers nothing again; the store says which were answered.
    writes = sum(m != "GET" for m, _, _ in gh.requests)
    cid = gh.add_comment(issue, "/gitorch explain", user="maintainer", association="MEMBER")
    again = action(gh, tmp_path, "issue_comment", comment(examples, issue, "/gitorch explain", cid=cid,
                                                          created_at=gh.comments[cid]["created_at"]), WAITS)
    assert "answered first" not in again["message"]
    assert sum(m != "GET" for m, _, _ in gh.requests) <= writes + 1  # at most this explain's own edit


# -- the whole exchange: label, override, proceed -------------------------------------------------------


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """The demo's repository, its bare remote, and the stand-ins (Claude, the ChatGPT page, GitHub)."""
    from gitorch.simulate.demo import DEMO_CONFIG, StandIns, make_repository

    repo = make_repository(tmp_path, config_yaml=DEMO_CONFIG)
    with StandIns(github=True, github_git_dir=str(tmp_path / "origin.git")) as standins:
        standins.hub.add_collaborator("maintainer", "write")
        standins.hub.set_file(".gitorch.yml", DEMO_CONFIG + "routing:\n  auto: false\n")  # a person confirms
        monkeypatch.chdir(repo)
        yield standins, repo, tmp_path


def _job(standins, folder: Path):
    env = {**standins.env(folder / "state"), "GITHUB_REPOSITORY": standins.hub.full_name, "GITHUB_TOKEN": TOKEN}
    outcomes: list[dict] = []

    def run(delivery) -> None:
        event = folder / f"event-{delivery.number}.json"
        event.write_text(json.dumps(delivery.payload))
        result = CliRunner().invoke(cli, ["action", "--json"], catch_exceptions=False,
                                    env={**env, "GITHUB_EVENT_NAME": delivery.event_name, "GITHUB_EVENT_PATH": str(event)})
        assert result.exit_code == 0, result.output
        outcomes.append(json.loads(result.output[result.output.index("{"):]))

    return run, outcomes


def _said(hub, examples, issue: int, body: str) -> dict:
    cid = hub.add_comment(issue, body, user="maintainer", association="MEMBER")
    payload = comment(examples, issue, body, cid=cid, created_at=hub.comments[cid]["created_at"])
    payload["repository"]["full_name"] = hub.full_name
    return payload


def _agents(repo: Path, branch: str) -> list[str]:
    from gitorch.simulate.demo import git

    return git(repo, "--git-dir", str(repo.parent / "origin.git"), "log",
               "--format=%(trailers:key=Gitorch-Agent,valueonly)", f"main..{branch}").split()


def _labelled_issue(shop, examples) -> tuple[int, dict, Actions, list[dict]]:
    """The demo's issue with the trigger label, its ``labeled`` event a minute old, and the example
    workflow's Actions whose jobs run ``gitorch action`` (what each answered, in ``outcomes``)."""
    from gitorch.simulate import demo_scenario

    standins, _repo, tmp = shop
    hub = standins.hub
    issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])
    label = labeled(examples, issue, title=demo_scenario.ISSUE_TITLE, body=demo_scenario.ISSUE_BODY,
                    at=(utcnow() - timedelta(minutes=1)).isoformat())
    label["repository"]["full_name"] = hub.full_name
    run_job, outcomes = _job(standins, tmp)
    return issue, label, Actions.from_file(EXAMPLE, hub.full_name, run_job=run_job), outcomes


@pytest.mark.slow
def test_label_override_and_proceed_in_a_burst_are_all_acted_on_and_claude_builds(shop, examples):
    """GitHub cancels the override's job (it waited; the proceed replaced it). The proceed's job
    answers the override first, so the run is built by the agent the override named."""
    standins, repo, _tmp = shop
    hub = standins.hub
    issue, label, actions, outcomes = _labelled_issue(shop, examples)
    burst = [actions.deliver("issues", label),
             actions.deliver("issue_comment", _said(hub, examples, issue, "/gitorch override claude")),
             actions.deliver("issue_comment", _said(hub, examples, issue, "/gitorch proceed"))]
    assert [d.state for d in burst] == ["running", "cancelled", "pending"]  # GitHub's rule
    actions.run_queued()

    assert [o["status"] for o in outcomes] == ["awaiting_confirmation", "done"]
    override_id = burst[1].payload["comment"]["id"]
    assert f"comment-{override_id} (override: answered)" in outcomes[1]["message"]
    pr = outcomes[1]["pr_number"]
    branch = hub.pulls[pr]["head"]["ref"]
    agents = _agents(repo, branch)
    assert agents and set(agents) == {"claude"}  # every task, and every fix, built by claude
    assert standins.page.prompts == []  # nothing went to ChatGPT
    assert "a maintainer chose **claude**" in next(c["body"] for c in hub.issue_comments(issue)
                                                    if "gitorch:comment suggestion" in c["body"])


@pytest.mark.slow
def test_an_override_while_the_plan_waits_for_approval_builds_every_task_with_that_agent(shop, examples):
    """`/gitorch plan` makes the plan with the suggested builder; `/gitorch override claude` and then
    `/gitorch proceed` build it, every task, with claude."""
    standins, repo, _tmp = shop
    hub = standins.hub
    issue, label, actions, outcomes = _labelled_issue(shop, examples)

    def say(name: str, payload: dict) -> None:
        actions.deliver(name, payload)
        actions.run_queued()  # one at a time: nothing is cancelled here

    def suggestion() -> dict:
        return next(c for c in hub.issue_comments(issue) if "gitorch:comment suggestion" in c["body"])

    say("issues", label)
    say("issue_comment", _said(hub, examples, issue, "/gitorch plan"))
    assert "- [x] **t5**" in suggestion()["body"] and "— chatgpt-pro" in suggestion()["body"]
    suggestion()["body"] = suggestion()["body"].replace("- [x] **t5**", "- [ ] **t5**")  # a person unticks t5
    say("issue_comment", _said(hub, examples, issue, "/gitorch override claude"))
    after = suggestion()["body"]
    assert "<!-- gitorch:run v" in after and "- [ ] **t5**" in after  # its record and the person's edit kept
    assert "— claude" in after and "— chatgpt-pro" not in after  # the checklist names who builds now
    say("issue_comment", _said(hub, examples, issue, "/gitorch proceed"))
    assert [o["status"] for o in outcomes] == ["awaiting_confirmation", "awaiting_plan_approval", "answered", "done"]
    assert not any("test_notifications" in r.raw for r in standins.api.requests if "Task t5" in r.raw)
    branch = hub.pulls[outcomes[-1]["pr_number"]]["head"]["ref"]
    assert set(_agents(repo, branch)) == {"claude"} and standins.page.prompts == []


@pytest.mark.slow
def test_a_job_killed_while_it_catches_up_is_run_again_and_answers_each_command_once(gh, examples, tmp_path, repo):
    """The job that answers the cancelled `explain` and `override codex` before its own `status` is
    killed (SIGKILL) after each command it records, and run again: every command is answered once,
    and nothing is posted twice."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from gitorch.store.sqlite import SqliteStore

    gh.add_collaborator("maintainer", "write")
    issue = gh.add_issue("Generate CRUD endpoints for the user model", labels=["gitorch"])
    state = tmp_path / "state"
    env = {**os.environ, "GITHUB_REPOSITORY": gh.full_name, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url,
           "GITORCH_HOME": str(state), **WAITS}
    label = labeled(examples, issue, title="Generate CRUD endpoints for the user model",
                    at=(utcnow() - timedelta(minutes=1)).isoformat())
    assert action(gh, tmp_path, "issues", label, {**WAITS, "GITORCH_HOME": str(state)})["status"] \
        == "awaiting_confirmation"
    said = []
    for body in ("/gitorch explain", "/gitorch override codex", "/gitorch status"):
        cid = gh.add_comment(issue, body, user="maintainer", association="MEMBER")
        said.append(comment(examples, issue, body, cid=cid, created_at=gh.comments[cid]["created_at"]))
    event = tmp_path / "status.json"
    event.write_text(json.dumps(said[-1]))  # the job of the last comment; the two before it were cancelled
    env.update(GITHUB_EVENT_NAME="issue_comment", GITHUB_EVENT_PATH=str(event))
    gh.latency_s = 0.15  # each API call takes a moment, so the job can be stopped between two commands

    def answered() -> int:
        if not (state / "state.db").exists():
            return 0
        with SqliteStore(state / "state.db") as store:
            return sum(r["status"] == "finished" for r in store.journal(f"commands/{gh.full_name}/{issue}"))

    kills, target = 0, 1
    while True:
        proc = subprocess.Popen([sys.executable, "-m", "gitorch", "action", "--json"], cwd=repo, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and answered() < target:
            time.sleep(0.01)
        if proc.poll() is None and answered() >= target:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            target = answered() + 1
            continue
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out[-2000:] + err[-2000:]
        break
    assert kills >= 2
    assert answered() == 3
    comments = gh.issue_comments(issue)
    assert sum("gitorch:comment suggestion" in c["body"] for c in comments) == 1
    status_id = said[-1]["comment"]["id"]
    replies = [c for c in comments if f"gitorch:comment reply-{status_id} " in c["body"]]
    assert len(replies) == 1 and "Suggested agent: **codex**" in replies[0]["body"]
    assert len(comments) == 5  # the three commands, the suggestion, the one status reply


@pytest.mark.parametrize("when", ["not a time", 12345, {"nested": "x"}, None, "2026-13-45T99:00:00Z"],
                         ids=["words", "number", "object", "null", "impossible-date"])
def test_an_event_time_gitorch_cannot_read_is_taken_as_now_and_nothing_breaks(gh, examples, tmp_path, repo, when):
    gh.add_collaborator("maintainer", "write")
    issue = gh.add_issue("Generate CRUD endpoints for the user model", labels=["gitorch"])
    earlier = gh.add_comment(issue, "/gitorch explain", user="maintainer", association="MEMBER")
    cid = gh.add_comment(issue, "/gitorch status", user="maintainer", association="MEMBER")
    payload = comment(examples, issue, "/gitorch status", cid=cid)
    payload["comment"]["created_at"] = when
    out = action(gh, tmp_path, "issue_comment", payload, WAITS)
    assert out["status"] == "answered"
    assert f"comment-{earlier} (explain: answered)" in out["message"]  # before it by id, so caught up


def test_a_trigger_label_whose_job_was_cancelled_is_answered_by_the_next_job(gh, examples, tmp_path, repo):
    """`/gitorch explain` runs; the label's job waits and is cancelled by `/gitorch status`'s job,
    which starts the run from the label first (its labeler passes the same gate), then answers."""
    gh.add_collaborator("maintainer", "write")
    issue = gh.add_issue("Generate CRUD endpoints for the user model")
    actions = Actions.from_file(EXAMPLE, REPO)
    outcomes = []
    actions.run_job = lambda d: outcomes.append(action(gh, tmp_path, d.event_name, d.payload, WAITS))
    first = _said(gh, examples, issue, "/gitorch explain")
    gh.label_issue(issue, "gitorch", user="maintainer")
    label = labeled(examples, issue, title="Generate CRUD endpoints for the user model")
    last = _said(gh, examples, issue, "/gitorch status")
    last["issue"]["labels"] = [{"name": "gitorch"}]  # as GitHub sends the issue by then
    last["issue"]["title"] = "Generate CRUD endpoints for the user model"
    burst = [actions.deliver("issue_comment", first), actions.deliver("issues", label),
             actions.deliver("issue_comment", last)]
    assert [d.state for d in burst] == ["running", "cancelled", "pending"]
    actions.run_queued()
    assert [o["status"] for o in outcomes] == ["answered", "answered"]
    [added] = [e for e in gh.issue_events[issue] if e["label"] == "gitorch"]
    assert f"label-{added['id']} (task: awaiting_confirmation)" in outcomes[1]["message"]
    assert gh.issue_labels(issue) == ["gitorch", "gitorch:planning"]
    reply = next(c["body"] for c in gh.issue_comments(issue) if f"reply-{last['comment']['id']} " in c["body"])
    assert "Suggested agent:" in reply  # the run existed when the status was answered
    assert sum("gitorch:comment suggestion" in c["body"] for c in gh.issue_comments(issue)) == 1


def test_a_label_added_by_someone_without_write_access_is_not_caught_up(gh, examples, tmp_path, repo):
    issue = gh.add_issue("Generate CRUD endpoints for the user model")
    gh.label_issue(issue, "gitorch", user="triager")  # triage access may label; it may not start a run
    gh.add_collaborator("maintainer", "write")
    last = _said(gh, examples, issue, "/gitorch status")
    last["issue"]["labels"] = [{"name": "gitorch"}]
    out = action(gh, tmp_path, "issue_comment", last, WAITS)
    assert out["status"] == "answered" and "answered first" not in out["message"]
    assert gh.issue_labels(issue) == ["gitorch"] and "Suggested agent" not in gh.issue_comments(issue)[-1]["body"]
    looked_up = [p for m, p, _ in gh.requests if p.endswith("/permission")]
    again = _said(gh, examples, issue, "/gitorch status")
    again["issue"]["labels"] = [{"name": "gitorch"}]
    action(gh, tmp_path, "issue_comment", again, WAITS)
    assert [p for m, p, _ in gh.requests if p.endswith("/permission")] == looked_up  # decided once


def test_an_override_while_the_run_waits_keeps_the_runs_hidden_record_in_its_comment(gh, examples, tmp_path, repo):
    """The run that waits for a person lives, for GitHub, in its comment's hidden record: an override
    (or an explanation) re-renders the comment and keeps it, so a runner that lost its store still finds the run."""
    gh.add_collaborator("maintainer", "write")
    issue = gh.add_issue("Generate CRUD endpoints for the user model", labels=["gitorch"])
    label = labeled(examples, issue, title="Generate CRUD endpoints for the user model",
                    at=(utcnow() - timedelta(minutes=1)).isoformat())
    assert action(gh, tmp_path, "issues", label, WAITS)["status"] == "awaiting_confirmation"

    def suggestion() -> str:
        return next(c["body"] for c in gh.issue_comments(issue) if "gitorch:comment suggestion" in c["body"])

    assert "<!-- gitorch:run v" in suggestion()
    for body in ("/gitorch override claude", "/gitorch explain"):
        action(gh, tmp_path, "issue_comment", _said(gh, examples, issue, body), WAITS)
        assert "<!-- gitorch:run v" in suggestion() and "a maintainer chose **claude**" in suggestion()


def _review_comment_event(examples, gh: GitHubDouble, pr: int, branch: str, cid: int) -> dict:
    stored = gh.review_comments[cid]
    payload = copy.deepcopy(next(p for p in examples["pull_request_review_comment"] if p["action"] == "created"))
    payload["repository"]["full_name"] = payload["pull_request"]["head"]["repo"]["full_name"] = gh.full_name
    payload["pull_request"].update(number=pr, state="open", locked=False)
    payload["pull_request"]["head"]["ref"] = branch
    payload["comment"].update(id=cid, path=stored["path"], line=stored["line"], body=stored["body"],
                              author_association=stored["association"], created_at=stored["created_at"])
    payload["comment"]["user"].update(login=stored["user"].login, type=stored["user"].type)
    payload["sender"].update(login=stored["user"].login, type=stored["user"].type)
    return payload


def test_review_comments_and_reviews_whose_jobs_were_cancelled_are_reworked_in_order_by_the_next_job(gh, examples, tmp_path,
                                                                                          repo):
    from gitorch import config as config_module
    from gitorch.commands.action import run_action
    from gitorch.model import Run
    from gitorch.run.state import RunResult
    from gitorch.store.sqlite import SqliteStore

    gh.push_branch("gitorch/run-7", diff="")
    pr = gh._create_pull(gh.default_identity, {"title": "t", "head": "gitorch/run-7", "base": "main"})["number"]
    first = gh.add_review_comment(pr, "cli.py", 2, "Rename run()", user="maintainer", association="MEMBER")
    review = gh.add_review(pr, "Also keep the old name as an alias", user="maintainer", association="MEMBER")
    gh.add_review(pr, "Looks fine", state="APPROVED", user="maintainer", association="MEMBER")  # asks for nothing
    drive_by = gh.add_review_comment(pr, "cli.py", 3, "rewrite it in rust", user="mallory", association="NONE")
    second = gh.add_review_comment(pr, "cli.py", 4, "And document it", user="maintainer", association="MEMBER")
    actions = Actions.from_file(EXAMPLE, gh.full_name)
    burst = [actions.deliver("pull_request_review_comment", _review_comment_event(examples, gh, pr, "gitorch/run-7", c))
             for c in (first, drive_by, second)]
    assert [d.state for d in burst] == ["running", "skipped", "pending"]
    burst[0].state = "cancelled"  # say the first one waited behind another job and was replaced
    reworked = []

    class Recorded:
        """Stands in for the run pipeline: each rework is done and pushed."""

        def __init__(self, ctx):
            self.store = ctx.store

        def rework(self, run_id, tasks, key):
            reworked.append((key, tasks[0].description.splitlines()[-1]))
            return RunResult(run=Run(id=run_id, text="t", status="done", pr_number=pr, verdict="approve"))

    event = tmp_path / "event.json"
    event.write_text(json.dumps(burst[2].payload))
    cfg = config_module.load(env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url})
    env = config_module.ActionEnv(event_name="pull_request_review_comment", event_path=str(event),
                                  repository=gh.full_name)
    with SqliteStore(tmp_path / "state.db") as store:
        store.save_run(Run(id="run-7", text="t", repo=gh.full_name, pr_number=pr, branch="gitorch/run-7"))
        result = run_action(cfg, env, store=store, pipeline=Recorded)
        assert reworked == [(str(first), "Rename run()"), (f"review-{review}", "Also keep the old name as an alias"),
                            (str(second), "And document it")]
        assert f"review-comment-{first} (rework: done)" in result.message
        assert f"review-{review} (rework: done)" in result.message
        again = run_action(cfg, env, store=store, pipeline=Recorded)  # delivered again: nothing caught up twice
    assert "answered first" not in again.message and len(reworked) == 4
    threads = [c for c in gh.pull_review_comments(pr) if c.get("in_reply_to") in (first, second)]
    assert sorted(c["in_reply_to"] for c in threads) == [first, second]  # one answer in each thread


def test_gitorchs_own_inline_review_comment_carries_its_marker_and_starts_nothing(gh, examples, tmp_path, repo):
    """With a personal token gitorch's inline comments come from a trusted person, and GitHub sends an
    event for each: the hidden marker makes gitorch refuse them without an API call."""
    from gitorch import config as config_module
    from gitorch.github.rest import RestProvider
    from gitorch.model import InlineComment

    gh.push_branch("gitorch/run-8", diff=("diff --git a/cli.py b/cli.py\n--- a/cli.py\n+++ b/cli.py\n"
                                          "@@ -1,1 +1,2 @@\n import click\n+VERBOSE = False\n"))
    gh.add_token(TOKEN, "maintainer")  # a personal token: its author is a person
    cfg = config_module.load(env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url})
    with RestProvider(cfg, gh.full_name) as provider:
        pull = provider.open_or_update_pr("gitorch/run-8", "main", "t", "b", None)
        provider.post_review(pull.number, pull.head_sha, "reject", "one to fix",
                             [InlineComment(path="cli.py", line=2, body="wire this")])
    [inline] = [c for c in gh.review_comments.values() if c["pull"] == pull.number]
    assert inline["body"].endswith("wire this") and "<!-- gitorch:inline " in inline["body"]
    inline["association"] = "MEMBER"  # what GitHub says of a personal token's author
    gh.requests.clear()
    out = action(gh, tmp_path, "pull_request_review_comment",
                 _review_comment_event(examples, gh, pull.number, "gitorch/run-8", inline["id"]))
    assert out["status"] == "refused" and "gitorch's own" in out["message"] and gh.requests == []


def test_a_job_whose_own_event_is_refused_still_answers_what_github_cancelled_before_it(gh, examples, tmp_path,
                                                                                        repo):
    """The last job of a burst is a command over its author's daily limit: refused, but the cancelled
    `/gitorch status` of another maintainer before it is answered all the same."""
    gh.set_file(".gitorch.yml", "github:\n  runs_per_person_per_day: 0\n")  # no costly command today
    issue = gh.add_issue("Add a flag")
    earlier = _said(gh, examples, issue, "/gitorch status")
    last = _said(gh, examples, issue, "/gitorch proceed")
    out = action(gh, tmp_path, "issue_comment", last, WAITS)
    assert out["status"] == "refused" and "limit of 0 runs per day" in out["message"]
    assert f"comment-{earlier['comment']['id']} (status: answered)" in out["message"]
    assert any(f"reply-{earlier['comment']['id']} " in c["body"] for c in gh.issue_comments(issue))
