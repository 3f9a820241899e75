"""The issue-to-PR exchange through githubkit against the REST double, faults included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from gitorch import config as config_module
from gitorch.errors import GitorchError
from gitorch.github.provider import commentable_lines
from gitorch.github.rest import GitHubError, RestProvider
from gitorch.model import InlineComment
from gitorch.retry import RetryPolicy
from gitorch.simulate import github_openapi
from gitorch.simulate.github_api import GitHubDouble

DIFF = """diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,3 +1,5 @@
 import sys
+import argparse
+
 def main():
     return 0
diff --git a/cli.py b/cli.py
new file mode 100644
--- /dev/null
+++ b/cli.py
@@ -0,0 +1,2 @@
+def run():
+    pass
"""
TOKEN = "ghs_" + "a" * 36


@pytest.fixture
def gh():
    with GitHubDouble() as double:
        yield double


def make_provider(gh: GitHubDouble, token: str = TOKEN, **policy) -> RestProvider:
    cfg = config_module.load(env={"GITHUB_TOKEN": token, "GITHUB_API_URL": gh.base_url})
    sleeps: list[float] = []
    provider = RestProvider(cfg, gh.full_name, policy=RetryPolicy(attempts=policy.get("attempts", 4),
                                                                  sleep=sleeps.append, rng=lambda: 0.0))
    provider.sleeps = sleeps
    return provider


@pytest.fixture
def provider(gh):
    return make_provider(gh)


# -- the double itself -------------------------------------------------------------------------------


def test_shipped_openapi_subset_matches_the_npm_description():
    spec_path = Path(__file__).resolve().parents[1] / "node_modules/@octokit/openapi/generated/api.github.com.json"
    assert spec_path.exists(), "run `npm ci` (.ci/install does)"
    fresh = github_openapi.extract(json.loads(spec_path.read_text()))
    shipped = json.loads(github_openapi.SUBSET_FILE.read_text())
    assert fresh == shipped, "regenerate: python -m gitorch.simulate.github_openapi"


def test_double_answers_422_when_a_request_does_not_conform(gh):
    number = gh.add_issue("Add a flag")
    headers = {"Authorization": f"token {TOKEN}"}
    base = f"{gh.base_url}/repos/{gh.full_name}"
    with httpx.Client(headers=headers) as client:
        missing = client.post(f"{base}/issues/{number}/comments", json={"text": "hi"})
        assert missing.status_code == 422 and "'body' is a required property" in missing.json()["message"]
        wrong_type = client.post(f"{base}/issues/{number}/comments", json={"body": 5})
        assert wrong_type.status_code == 422 and "is not of type 'string'" in wrong_type.json()["message"]
        bad_state = client.post(f"{base}/statuses/{'a' * 40}", json={"state": "great", "context": "x"})
        assert bad_state.status_code == 422 and "great" in bad_state.json()["message"]
        bad_query = client.get(f"{base}/issues/{number}/comments", params={"per_page": "many"})
        assert bad_query.status_code == 422
        assert client.get(f"{base}/issues/abc").status_code == 404
        bare = client.post(f"{base}/issues/{number}/labels", json=["bug"])  # PyGithub's bare array
        assert bare.status_code == 200 and [lb["name"] for lb in bare.json()] == ["bug"]
        assert client.post(f"{base}/statuses/{'b' * 40}", json={"state": "success"}).status_code == 201
        legacy = client.get(f"{base}/statuses/{'b' * 40}")  # still served, gone from the description
        assert legacy.status_code == 200 and legacy.json()[0]["state"] == "success"
        assert client.get(f"{gh.base_url}/repos/someone/else").status_code == 404
        assert httpx.get(f"{base}/issues/{number}").status_code == 401


def test_double_refuses_off_diff_comments_and_self_approval(gh):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    base = f"{gh.base_url}/repos/{gh.full_name}"
    with httpx.Client(headers={"Authorization": f"token {TOKEN}"}) as client:
        pr = client.post(f"{base}/pulls", json={"title": "t", "head": "gitorch/run-1", "base": "main"}).json()
        off = client.post(f"{base}/pulls/{pr['number']}/reviews", json={
            "event": "COMMENT", "body": "x", "comments": [{"path": "app.py", "line": 40, "side": "RIGHT", "body": "?"}]})
        assert off.status_code == 422 and off.json()["errors"] == ["Line could not be resolved"]
        own = client.post(f"{base}/pulls/{pr['number']}/reviews", json={"event": "APPROVE", "body": "ok"})
        assert own.status_code == 422 and "Can not approve your own pull request" in own.json()["errors"][0]
        by_position = client.post(f"{base}/pulls/{pr['number']}/reviews", json={
            "event": "COMMENT", "body": "x", "comments": [{"path": "app.py", "position": 2, "body": "why argparse?"}]})
        assert by_position.status_code == 200
        again = client.post(f"{base}/pulls", json={"title": "t", "head": "gitorch/run-1", "base": "main"})
        assert again.status_code == 422 and "already exists" in json.dumps(again.json())


def test_commentable_lines_are_the_new_side_of_the_hunks():
    patch = "@@ -1,3 +1,5 @@\n import sys\n+import argparse\n+\n def main():\n-    pass\n     return 0"
    assert commentable_lines(patch) == {1, 2, 3, 4, 5}
    assert commentable_lines(None) == set()


# -- comments ----------------------------------------------------------------------------------------


def test_suggestion_comment_is_edited_not_duplicated(gh, provider):
    number = gh.add_issue("Add a flag", labels=["gitorch"])
    first = provider.post_or_update_comment(number, "suggestion", "route: chatgpt-pro")
    second = provider.post_or_update_comment(number, "suggestion", "route: claude (overridden)")
    again = provider.post_or_update_comment(number, "suggestion", "route: claude (overridden)")  # re-delivered
    comments = gh.issue_comments(number)
    assert len(comments) == 1
    assert first.created and not second.created and first.id == second.id == again.id
    assert comments[0]["body"].endswith("route: claude (overridden)")
    assert comments[0]["body"].startswith("<!-- gitorch:comment suggestion -->")
    assert provider.find_comment(number, "suggestion").id == first.id
    assert sum(1 for m, p, s in gh.requests if m == "PATCH") == 1  # the unchanged re-delivery sends nothing


def test_a_stranger_copying_the_marker_cannot_get_their_comment_edited(gh, provider):
    number = gh.add_issue("Add a flag")
    gh.add_comment(number, "<!-- gitorch:comment suggestion -->\nmine", user="mallory", association="NONE")
    provider.post_or_update_comment(number, "suggestion", "gitorch's")
    bodies = [c["body"] for c in gh.issue_comments(number)]
    assert bodies[0].endswith("mine") and len(bodies) == 2


def test_502_after_create_leaves_one_comment(gh, provider, caplog):
    number = gh.add_issue("Add a flag")
    gh.fail("POST", r"/issues/\d+/comments$", 502, after_create=True)
    comment = provider.post_or_update_comment(number, "suggestion", "hello")
    assert len(gh.issue_comments(number)) == 1
    assert comment.id == gh.issue_comments(number)[0]["id"]
    posts = [r for r in gh.requests if r[0] == "POST"]
    assert posts == [("POST", f"/repos/{gh.full_name}/issues/{number}/comments", 502)]  # never re-sent
    assert "looking before trying again" in caplog.text


def test_502_before_create_is_sent_again_once_nothing_was_made(gh, provider):
    number = gh.add_issue("Add a flag")
    gh.fail("POST", r"/issues/\d+/comments$", 502)
    provider.post_or_update_comment(number, "suggestion", "hello")
    assert len(gh.issue_comments(number)) == 1
    assert [s for m, _, s in gh.requests if m == "POST"] == [502, 201]


def test_everything_posted_is_redacted(gh, provider):
    number = gh.add_issue("Add a flag")
    provider.post_or_update_comment(number, "suggestion", f"the token is {TOKEN} and sk-ant-api03-abcdefghijklmnop")
    body = gh.issue_comments(number)[0]["body"]
    assert TOKEN not in body and "sk-ant-api03" not in body and body.count("[REDACTED]") == 2


def test_long_bodies_are_cut_to_what_github_accepts(gh, provider):
    number = gh.add_issue("Add a flag")
    provider.post_or_update_comment(number, "suggestion", "x" * 70_000)
    body = gh.issue_comments(number)[0]["body"]
    assert len(body) <= 65_000 and body.endswith("longer than GitHub allows in one comment)*")


# -- pull requests, reviews, statuses, labels ------------------------------------------------------


def test_pull_request_is_opened_once_and_updated_after(gh, provider):
    number = gh.add_issue("Add a flag", labels=["gitorch"])
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "gitorch: Add a flag", "Plan: one task", number)
    again = provider.open_or_update_pr("gitorch/run-1", "main", "gitorch: Add a flag (round 2)", "Plan: two", number)
    assert pr.created and not again.created and pr.number == again.number
    assert len(gh.pulls) == 1
    assert gh.issues[pr.number]["title"] == "gitorch: Add a flag (round 2)"
    assert f"Closes #{number}" in gh.issues[pr.number]["body"]
    assert pr.head_ref == "gitorch/run-1" and pr.base_ref == "main"


def test_502_after_opening_a_pr_leaves_one_pr(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    gh.fail("POST", r"/pulls$", 502, after_create=True)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    assert len(gh.pulls) == 1 and pr.number in gh.pulls


def test_gitorch_opens_prs_only_from_its_own_branches(gh, provider):
    gh.push_branch("main-copy", diff=DIFF)
    with pytest.raises(GitorchError, match="only on branches under 'gitorch/'"):
        provider.open_or_update_pr("main-copy", "main", "t", "b", None)
    assert not gh.pulls


def test_review_with_inline_comments_and_status(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    comments = [InlineComment("app.py", 2, "argparse is fine"), InlineComment("cli.py", 2, "say what run does"),
                InlineComment("app.py", 90, "far away"), InlineComment("README.md", 1, "not in the diff")]
    posted = provider.post_review(pr.number, pr.head_sha, "reject", "Two things to fix.", comments)
    # the token opened the PR, so GitHub allows only a COMMENT review: the status carries the verdict
    assert posted.event == "COMMENT" and posted.verdict == "reject"
    assert [(c.path, c.line) for c in posted.inline] == [("app.py", 2), ("cli.py", 2)]
    assert [(c.path, c.line) for c in posted.folded] == [("app.py", 90), ("README.md", 1)]
    reviews = gh.pull_reviews(pr.number)
    assert len(reviews) == 1 and reviews[0]["state"] == "COMMENTED" and reviews[0]["commit_id"] == pr.head_sha
    assert "`app.py:90`: far away" in reviews[0]["body"]
    assert [(c["path"], c["line"]) for c in gh.pull_review_comments(pr.number)] == [("app.py", 2), ("cli.py", 2)]
    status = gh.commit_statuses(pr.head_sha)[0]
    assert (status["context"], status["state"]) == ("gitorch/review", "failure")


def test_a_second_identity_can_approve(gh):
    gh.add_token(TOKEN, "github-actions[bot]", "Bot")
    gh.add_token("ghs_" + "r" * 36, "gitorch-reviewer[bot]", "Bot")
    gh.push_branch("gitorch/run-1", diff=DIFF)
    author = make_provider(gh)
    reviewer = make_provider(gh, token="ghs_" + "r" * 36)
    pr = author.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    posted = reviewer.post_review(pr.number, pr.head_sha, "approve", "All good.", [])
    assert posted.event == "APPROVE" and gh.pull_reviews(pr.number)[0]["state"] == "APPROVED"
    assert gh.commit_statuses(pr.head_sha)[0]["state"] == "success"


def test_one_review_per_head_commit_and_new_pushes_get_a_new_one(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    provider.post_review(pr.number, pr.head_sha, "reject", "Fix it.", [])
    redelivered = provider.post_review(pr.number, pr.head_sha, "reject", "Fix it.", [])
    assert redelivered.reused and len(gh.pull_reviews(pr.number)) == 1
    assert provider.last_reviewed_sha(pr.number) == pr.head_sha
    new_head = gh.push_branch("gitorch/run-1", diff=DIFF + "\n")
    assert provider.get_pull(pr.number).head_sha == new_head
    provider.post_review(pr.number, new_head, "approve", "Fixed.", [])
    assert len(gh.pull_reviews(pr.number)) == 2 and provider.last_reviewed_sha(pr.number) == new_head


def test_502_after_posting_a_review_leaves_one_review(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    gh.fail("POST", r"/reviews$", 502, after_create=True)
    provider.post_review(pr.number, pr.head_sha, "approve", "ok", [])
    assert len(gh.pull_reviews(pr.number)) == 1


def test_run_labels_move(gh, provider):
    number = gh.add_issue("Add a flag", labels=["gitorch", "bug"])
    for stage in ("planning", "building", "reviewing", "done"):
        provider.set_run_label(number, stage)
        assert gh.issue_labels(number) == ["gitorch", "bug", f"gitorch:{stage}"]
    provider.set_run_label(number, "done")  # again: nothing changes
    with pytest.raises(ValueError, match="unknown stage"):
        provider.set_run_label(number, "shipping")


def test_reply_in_a_review_thread_once(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    thread = gh.add_review_comment(pr.number, "cli.py", 2, "rename run()")
    provider.reply_to_review_comment(pr.number, thread, "round-2", "Renamed in abc123.")
    provider.reply_to_review_comment(pr.number, thread, "round-2", "Renamed in abc123.")
    replies = [c for c in gh.pull_review_comments(pr.number) if c.get("in_reply_to") == thread]
    assert len(replies) == 1 and replies[0]["body"].endswith("Renamed in abc123.")


def test_a_review_comment_deleted_before_the_reply_is_not_answered_and_blames_no_permission(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    thread = gh.add_review_comment(pr.number, "cli.py", 2, "rename run()")
    del gh.review_comments[thread]  # the person deleted it before the job ran
    gh.requests.clear()
    assert provider.reply_to_review_comment(pr.number, thread, "round-2", "Renamed.") is None
    assert [m for m, _, _ in gh.requests] == ["GET"]  # nothing was sent to a thread that is gone


def test_a_review_comment_deleted_while_gitorch_replies_is_not_answered(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    thread = gh.add_review_comment(pr.number, "cli.py", 2, "rename run()")
    reply = gh._handlers["pulls/create-reply-for-review-comment"]

    def deleted_first(**kw):  # the person deletes the comment the moment gitorch answers
        gh.review_comments.pop(thread, None)
        return reply(**kw)

    gh._handlers["pulls/create-reply-for-review-comment"] = deleted_first
    assert provider.reply_to_review_comment(pr.number, thread, "round-2", "Renamed.") is None
    assert ("POST", f"/repos/{gh.full_name}/pulls/{pr.number}/comments/{thread}/replies", 404) in gh.requests


def test_a_reply_refused_with_404_on_a_comment_that_exists_names_the_permission(gh, provider):
    gh.push_branch("gitorch/run-1", diff=DIFF)
    pr = provider.open_or_update_pr("gitorch/run-1", "main", "t", "b", None)
    thread = gh.add_review_comment(pr.number, "cli.py", 2, "rename run()")
    gh.fail("POST", r"/replies$", 404)
    with pytest.raises(GitorchError, match="pull-requests: write"):
        provider.reply_to_review_comment(pr.number, thread, "round-2", "Renamed.")


def test_config_is_read_from_the_default_branch_only(gh, provider):
    gh.set_file(".gitorch.yml", "github:\n  trigger_label: build-me\n")
    gh.set_file(".gitorch.yml", "github:\n  allowed_bots: [evil]\n", ref="gitorch/run-1")
    assert provider.read_config_from_default_branch() == "github:\n  trigger_label: build-me\n"
    assert provider.read_config_from_default_branch("missing.yml") is None


def test_permission_lookup(gh, provider):
    gh.add_collaborator("alice", "admin")
    assert provider.permission("alice") == "admin"
    assert provider.permission("stranger") == "read"


# -- rate limits and permissions -------------------------------------------------------------------


def test_retry_after_is_honoured(gh, provider):
    number = gh.add_issue("Add a flag")
    gh.fail("GET", r"/issues/\d+$", 429, headers={"retry-after": "3"}, message="API rate limit exceeded")
    assert provider.get_issue(number).title == "Add a flag"
    assert provider.sleeps == [3.0]


def test_rate_limit_reset_is_honoured(gh, provider):
    number = gh.add_issue("Add a flag")
    reset = int(time.time()) + 20
    gh.fail("GET", r"/issues/\d+$", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
            message="API rate limit exceeded for installation")
    provider.get_issue(number)
    assert len(provider.sleeps) == 1 and 17 <= provider.sleeps[0] <= 20


def test_secondary_rate_limit_backs_off_and_a_create_is_not_duplicated(gh, provider):
    number = gh.add_issue("Add a flag")
    gh.fail("POST", r"/comments$", 403, message="You have exceeded a secondary rate limit. Please wait.")
    provider.post_or_update_comment(number, "suggestion", "hello")
    assert provider.sleeps == [60.0] and len(gh.issue_comments(number)) == 1


def test_a_long_rate_limit_defers_instead_of_holding_the_runner(gh, provider):
    number = gh.add_issue("Add a flag")
    gh.fail("GET", r"/issues/\d+$", 429, headers={"retry-after": "3600"})
    with pytest.raises(GitHubError) as err:
        provider.get_issue(number)
    assert err.value.deferred_until and err.value.retry_after_s == 3600 and provider.sleeps == []


def test_server_errors_on_reads_are_retried(gh, provider):
    number = gh.add_issue("Add a flag")
    gh.fail("GET", r"/issues/\d+$", 503, times=2)
    assert provider.get_issue(number).number == number
    assert provider.sleeps == [0.5, 1.0]


PERMISSION_CASES = [
    ("POST", r"/comments$", lambda p, n: p.post_or_update_comment(n, "k", "x"), "issues: write"),
    ("POST", r"/pulls$", lambda p, n: p.open_or_update_pr("gitorch/run-1", "main", "t", "b", n), "pull-requests: write"),
    ("POST", r"/statuses/", lambda p, n: p.set_status("a" * 40, "success", "ok"), "statuses: write"),
    ("POST", r"/labels$", lambda p, n: p.set_run_label(n, "planning"), "issues: write"),
    ("GET", r"/collaborators/", lambda p, n: p.permission("alice"), "metadata: read"),
]


@pytest.mark.parametrize("method, path, call, permission, status", [
    *[(*case, status) for case in PERMISSION_CASES for status in (403, 404)],
    # a 404 on the config file means there is none; a 403 means the token may not read it
    ("GET", r"/contents/", lambda p, n: p.read_config_from_default_branch(), "contents: read", 403),
])
def test_missing_token_permission_is_named(gh, provider, method, path, call, permission, status):
    number = gh.add_issue("Add a flag")
    gh.push_branch("gitorch/run-1", diff=DIFF)
    if path == r"/contents/":
        gh.set_file(".gitorch.yml", "{}\n")
    gh.fail(method, path, status)
    with pytest.raises(GitorchError) as err:
        call(provider, number)
    assert f"'{permission}'" in err.value.message and permission in err.value.hint
    assert provider.sleeps == []  # not retried


def test_unreachable_api_and_bad_token_say_what_to_fix(gh):
    provider = make_provider(gh, attempts=2)
    gh.add_token("ghs_other", "someone")
    with pytest.raises(GitorchError, match="refused the token") as err:
        provider.get_issue(1)
    assert "GITHUB_TOKEN" in err.value.hint
    gh.stop()
    with pytest.raises(GitorchError, match="could not reach GitHub"):
        provider.get_issue(1)


def test_no_token_is_a_clear_error(gh):
    cfg = config_module.load(env={"GITHUB_API_URL": gh.base_url})
    with pytest.raises(GitorchError, match="no GitHub token") as err:
        RestProvider(cfg, gh.full_name)
    assert "github-token" in err.value.hint
    cfg = config_module.load(env={"GITHUB_TOKEN": TOKEN})
    with pytest.raises(GitorchError, match="not a repository name"):
        RestProvider(cfg, "just-a-name")
