"""Pushing run branches: real `git push` to local bare remotes, and a token sent only as a header."""

from __future__ import annotations

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitorch.errors import GitError, PushError
from gitorch.git import repo as gitops

BRANCH = "gitorch/run-1-add-login"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, artifacts, parent: str, task: str = "t1", branch: str = BRANCH):
    return gitops.commit_artifacts(repo, branch=branch, parent=parent, artifacts=artifacts,
                                   description=f"task {task}", run_id="run-1", task_id=task, agent="codex")


def clone(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(where)], check=True)
    return where


def test_push_a_run_branch_and_push_again_is_up_to_date(repo: Path, remote: Path):
    result = commit(repo, {"login.py": "ok\n"}, "main")
    pushed = gitops.push_branch(repo, BRANCH)
    assert pushed.commit == result.commit and not pushed.forced and not pushed.up_to_date
    assert git(remote, "rev-parse", BRANCH) == result.commit
    assert gitops.push_branch(repo, BRANCH).up_to_date
    assert gitops.remote_tip(repo, BRANCH) == result.commit


def test_only_gitorch_branches_are_pushed(repo: Path, remote: Path):
    with pytest.raises(PushError, match="only pushes its own branches") as err:
        gitops.push_branch(repo, "main")
    assert "git push" in err.value.hint
    with pytest.raises(PushError, match="no local branch"):
        gitops.push_branch(repo, "gitorch/never-made")


def test_branch_moved_on_the_remote_is_fetched_rebased_and_pushed(repo: Path, remote: Path, tmp_path: Path):
    first = commit(repo, {"login.py": "ok\n"}, "main")
    gitops.push_branch(repo, BRANCH)
    # A person adds a commit to the run's branch from another clone.
    other = clone(remote, tmp_path / "other")
    git(other, "checkout", "-q", BRANCH)
    (other / "notes.md").write_text("person\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "note")
    git(other, "push", "-q", "origin", BRANCH)
    theirs = git(other, "rev-parse", "HEAD")

    assert gitops.fetch_branch(repo, BRANCH) == theirs
    assert gitops.branch_tip(repo, BRANCH) == theirs  # fast-forwarded
    second = commit(repo, {"tests.py": "ok\n"}, first.commit, task="t2")
    assert second.rebased and second.parent == theirs
    gitops.push_branch(repo, BRANCH)
    assert git(remote, "rev-parse", BRANCH) == second.commit


def test_push_over_someone_elses_commit_is_refused_without_force(repo: Path, remote: Path, tmp_path: Path):
    commit(repo, {"login.py": "ok\n"}, "main")
    gitops.push_branch(repo, BRANCH)
    other = clone(remote, tmp_path / "other")
    git(other, "checkout", "-q", BRANCH)
    (other / "x.md").write_text("x\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "person")
    git(other, "push", "-q", "origin", BRANCH)
    theirs = git(other, "rev-parse", "HEAD")
    commit(repo, {"tests.py": "ok\n"}, gitops.branch_tip(repo, BRANCH), task="t2")  # diverged locally

    with pytest.raises(PushError, match="was refused") as err:
        gitops.push_branch(repo, BRANCH)
    assert "fetch it" in err.value.hint
    with pytest.raises(PushError, match="not a commit gitorch made") as err:
        gitops.push_branch(repo, BRANCH, force=True)
    assert git(remote, "rev-parse", BRANCH) == theirs


def test_force_push_replaces_gitorchs_own_tip(repo: Path, remote: Path):
    commit(repo, {"login.py": "v1\n"}, "main")
    gitops.push_branch(repo, BRANCH)
    # The run is redone from the base: a new history for the same branch.
    git(repo, "update-ref", f"refs/heads/{BRANCH}", "main")
    redo = commit(repo, {"login.py": "v2\n"}, "main", task="t1-redo")
    with pytest.raises(PushError):
        gitops.push_branch(repo, BRANCH)
    pushed = gitops.push_branch(repo, BRANCH, force=True)
    assert pushed.forced and git(remote, "rev-parse", BRANCH) == redo.commit


def test_push_lets_the_persons_hooks_run_but_skips_gitorchs(repo: Path, remote: Path, tmp_path: Path):
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text(f'#!/bin/sh\necho "$GITORCH_SKIP" > "{marker}"\n')
    hook.chmod(0o755)
    commit(repo, {"a.py": "a\n"}, "main")
    gitops.push_branch(repo, BRANCH)
    assert marker.read_text().strip() == "1"


def test_bad_remote_is_explained(repo: Path):
    commit(repo, {"a.py": "a\n"}, "main")
    with pytest.raises(GitError, match="git ls-remote failed") as err:
        gitops.push_branch(repo, BRANCH, remote="nowhere")
    assert "git remote -v" in err.value.hint


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_remote():
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/owner/repo.git", _Recorder.seen
    server.shutdown()
    server.server_close()


def test_token_goes_as_an_auth_header_never_in_the_url_or_the_error(repo: Path, http_remote):
    url, seen = http_remote
    git(repo, "remote", "add", "origin", url)
    commit(repo, {"a.py": "a\n"}, "main")
    token = "ghs_" + "T0kenValue" * 4
    with pytest.raises(GitError) as err:
        gitops.push_branch(repo, BRANCH, token=token)
    expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert seen and all(r.get("authorization") == expected for r in seen)
    assert all(token not in r["path"] for r in seen)
    assert token not in str(err.value) and "T0kenValue" not in str(err.value)
    assert token not in git(repo, "config", "--list")


def _person_pushes(remote: Path, where: Path, path: str, text: str) -> str:
    other = clone(remote, where)
    git(other, "checkout", "-q", BRANCH)
    (other / path).write_text(text)
    git(other, "add", "-A")
    git(other, "commit", "-qm", "a person's change")
    git(other, "push", "-q", "origin", BRANCH)
    return git(other, "rev-parse", "HEAD")


def test_diverged_branch_is_replayed_onto_the_remote_tip(repo: Path, remote: Path, tmp_path: Path):
    first = commit(repo, {"login.py": "ok\n"}, "main")
    gitops.push_branch(repo, BRANCH)
    theirs = _person_pushes(remote, tmp_path / "other", "notes.md", "person\n")
    mine = commit(repo, {"tests.py": "ok\n"}, first.commit, task="t2")  # made before knowing about theirs
    before = git(repo, "status", "--porcelain")

    assert gitops.fetch_branch(repo, BRANCH) == theirs
    tip = gitops.branch_tip(repo, BRANCH)
    assert git(repo, "rev-parse", f"{tip}^") == theirs
    assert git(repo, "log", "-1", "--format=%(trailers:key=Gitorch-Task,valueonly)", tip) == "t2"
    assert git(repo, "show", f"{tip}:tests.py") == "ok" and tip != mine.commit
    gitops.push_branch(repo, BRANCH)
    assert git(remote, "rev-parse", BRANCH) == tip
    assert git(repo, "status", "--porcelain") == before


def test_diverged_branch_with_overlapping_changes_is_a_conflict(repo: Path, remote: Path, tmp_path: Path):
    first = commit(repo, {"login.py": "v1\n"}, "main")
    gitops.push_branch(repo, BRANCH)
    _person_pushes(remote, tmp_path / "other", "login.py", "the person's v2\n")
    mine = commit(repo, {"login.py": "the builder's v2\n"}, first.commit, task="t2")
    with pytest.raises(gitops.ConflictError) as err:
        gitops.fetch_branch(repo, BRANCH)
    assert err.value.paths == ["login.py"] and "the person's v2" in err.value.hunks["login.py"]
    assert gitops.branch_tip(repo, BRANCH) == mine.commit  # left as it was
