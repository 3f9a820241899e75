"""Branch commits built from trees, reads at a commit, range diffs: on real repositories in temp folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitorch.errors import ConflictError, GitError
from gitorch.git import repo as gitops


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def snapshot(repo: Path) -> dict[str, str]:
    """What a person would notice: HEAD, the index, the status and the files on disk."""
    files = {str(p.relative_to(repo)): p.read_text() for p in sorted(repo.rglob("*"))
             if p.is_file() and ".git" not in p.relative_to(repo).parts}
    return {"head": git(repo, "rev-parse", "HEAD"), "branch": git(repo, "symbolic-ref", "HEAD"),
            "index": git(repo, "ls-files", "-s"), "status": git(repo, "status", "--porcelain"),
            "files": repr(files)}


def commit(repo: Path, artifacts, parent="main", task="t1", run="run-1", branch="gitorch/run-1-add-login", **kw):
    return gitops.commit_artifacts(repo, branch=branch, parent=parent, artifacts=artifacts,
                                   description=kw.pop("description", "Add a login endpoint"), run_id=run,
                                   task_id=task, agent=kw.pop("agent", "chatgpt-pro"), **kw)


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    (repo / "src" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "src" / "run.sh").chmod(0o755)
    (repo / "docs.md").write_text("# docs\n")
    commit_all(repo, "project")
    return repo


def test_commit_leaves_working_tree_index_and_head_untouched(project: Path):
    (project / "README.md").write_text("# edited but not committed\n")
    (project / "scratch.txt").write_text("untracked\n")
    (project / "docs.md").write_text("# staged change\n")
    git(project, "add", "docs.md")
    before = snapshot(project)

    result = commit(project, {"src/login.py": "def login():\n    return True\n", "docs.md": None,
                              "src/app.py": "changed\n"})

    assert snapshot(project) == before
    assert result.created and not result.rebased
    assert result.changed == ["docs.md", "src/app.py", "src/login.py"]
    assert git(project, "rev-parse", "gitorch/run-1-add-login") == result.commit
    assert git(project, "show", f"{result.commit}:src/login.py") == "def login():\n    return True"
    assert "docs.md" not in git(project, "ls-tree", "-r", "--name-only", result.commit)
    assert git(project, "rev-parse", f"{result.commit}^") == before["head"]
    assert git(project, "fsck", "--strict") == ""


def test_commit_message_trailers_and_identity(project: Path):
    result = commit(project, {"a.py": "x = 1\n"}, description="Add a login endpoint\n\nWith a session cookie.",
                    author_name="Robot", author_email="robot@example.com")
    assert git(project, "log", "-1", "--format=%an <%ae>|%cn <%ce>", result.commit) == \
        "Robot <robot@example.com>|Robot <robot@example.com>"
    message = git(project, "log", "-1", "--format=%B", result.commit)
    assert message.splitlines()[0] == "Add a login endpoint"
    assert "With a session cookie." in message
    trailers = git(project, "log", "-1", "--format=%(trailers:only,unfold)", result.commit)
    assert trailers.splitlines() == ["Gitorch-Run: run-1", "Gitorch-Task: t1", "Gitorch-Agent: chatgpt-pro"]


def test_long_task_subject_is_shortened_and_kept_in_the_body(project: Path):
    text = "Refactor " + "the module " * 20
    result = commit(project, {"a.py": "x\n"}, description=text)
    subject, *_ = git(project, "log", "-1", "--format=%B", result.commit).splitlines()
    assert len(subject) <= 72 and subject.endswith("…")
    assert text.strip() in git(project, "log", "-1", "--format=%B", result.commit)


def test_default_identity_is_gitorch(project: Path):
    result = commit(project, {"a.py": "x\n"})
    assert git(project, "log", "-1", "--format=%an <%ae>", result.commit) == "gitorch <gitorch@users.noreply.github.com>"


def test_same_artifacts_again_create_nothing_new(project: Path):
    first = commit(project, {"src/login.py": "v1\n"})
    again = commit(project, {"src/login.py": "v1\n"})  # a retry that still thinks it starts at main
    resumed = commit(project, {"src/login.py": "v1\n"}, parent=first.commit)
    assert again.created is False and resumed.created is False
    assert again.commit == resumed.commit == first.commit
    assert git(project, "rev-list", "--count", "main..gitorch/run-1-add-login") == "1"


def test_second_task_is_a_second_commit_and_idempotence_finds_the_first_by_trailers(project: Path):
    one = commit(project, {"a.py": "a\n"}, task="t1")
    two = commit(project, {"b.py": "b\n"}, task="t2", parent=one.commit)
    assert two.created and git(project, "rev-parse", f"{two.commit}^") == one.commit
    replay = commit(project, {"a.py": "a\n"}, task="t1", parent=two.commit)
    assert replay.created is False and replay.commit == one.commit


def test_a_ref_lock_left_by_a_killed_owner_is_removed_and_anyone_elses_is_reported(project: Path):
    """A run's process SIGKILLed while it moved its branch leaves refs/heads/<branch>.lock; the next
    owner of the run (it holds the run's claim, so it is the branch's only writer) removes it. On a
    branch the caller does not own, the lock is an error that names the file."""
    one = commit(project, {"a.py": "a\n"}, task="t1")
    lock = project / ".git" / "refs" / "heads" / "gitorch" / "run-1-add-login.lock"
    lock.write_text(one.commit + "\n")
    with pytest.raises(GitError, match="is locked by another git process") as err:
        commit(project, {"b.py": "b\n"}, task="t2", parent=one.commit)
    assert str(lock) in err.value.message and "delete that file" in err.value.hint
    assert git(project, "rev-parse", "gitorch/run-1-add-login") == one.commit
    two = commit(project, {"b.py": "b\n"}, task="t2", parent=one.commit, owned=True)
    assert two.created and not lock.exists()
    assert git(project, "rev-parse", "gitorch/run-1-add-login") == two.commit
    new_lock = project / ".git" / "refs" / "heads" / "gitorch" / "run-2-new.lock"
    new_lock.write_text("")
    made = commit(project, {"c.py": "c\n"}, run="run-2", branch="gitorch/run-2-new", owned=True)
    assert git(project, "rev-parse", "gitorch/run-2-new") == made.commit and not new_lock.exists()


def test_executable_bit_is_kept_when_content_changes(project: Path):
    result = commit(project, {"src/run.sh": "#!/bin/sh\necho bye\n"})
    assert git(project, "ls-tree", result.commit, "src/run.sh").startswith("100755")


def test_deleting_the_last_file_of_a_folder_removes_the_folder(project: Path):
    result = commit(project, {"src/app.py": None, "src/run.sh": None})
    assert git(project, "ls-tree", "--name-only", result.commit).splitlines() == ["README.md", "docs.md"]


def test_moved_branch_is_rebased_in_memory(project: Path):
    first = commit(project, {"src/app.py": "".join(f"line {i}\n" for i in range(1, 21)).replace("line 2\n", "two\n")})
    # Someone else pushes a commit to the branch, touching other lines and another file.
    other = project.parent / "other"
    git(project, "worktree", "add", "-q", str(other), "gitorch/run-1-add-login")
    text = (other / "src" / "app.py").read_text().replace("line 19\n", "nineteen\n")
    (other / "src" / "app.py").write_text(text)
    (other / "notes.txt").write_text("by a person\n")
    theirs = commit_all(other, "person's fix")
    before = snapshot(project)

    # The run still believes the branch is at its first commit.
    second = commit(project, {"src/app.py": text.replace("nineteen\n", "line 19\n").replace("line 5\n", "five\n"),
                              "src/new.py": "new\n"}, task="t2", parent=first.commit)

    assert second.created and second.rebased
    assert git(project, "rev-parse", f"{second.commit}^") == theirs
    merged = git(project, "show", f"{second.commit}:src/app.py").splitlines()
    assert merged[1] == "two" and merged[4] == "five" and merged[18] == "nineteen"
    assert git(project, "show", f"{second.commit}:notes.txt") == "by a person"
    assert git(project, "show", f"{second.commit}:src/new.py") == "new"
    assert snapshot(project) == before


def test_real_conflict_is_reported_with_paths_and_hunks(project: Path):
    first = commit(project, {"docs.md": "# docs\n"*1 + "intro\n"})
    other = project.parent / "other"
    git(project, "worktree", "add", "-q", str(other), "gitorch/run-1-add-login")
    (other / "docs.md").write_text("# docs\nintro by a person\n")
    theirs = commit_all(other, "person's wording")

    with pytest.raises(ConflictError) as err:
        commit(project, {"docs.md": "# docs\nintro by the builder\n"}, task="t2", parent=first.commit)

    assert err.value.paths == ["docs.md"]
    hunk = err.value.hunks["docs.md"]
    assert "<<<<<<<" in hunk and "intro by a person" in hunk and "intro by the builder" in hunk
    assert "docs.md" in err.value.message and err.value.hint
    assert git(project, "rev-parse", "gitorch/run-1-add-login") == theirs  # nothing written


def test_delete_against_edit_is_a_conflict(project: Path):
    first = commit(project, {"a.py": "a\n"})
    other = project.parent / "other"
    git(project, "worktree", "add", "-q", str(other), "gitorch/run-1-add-login")
    (other / "docs.md").write_text("# docs\nmore\n")
    commit_all(other, "edit")
    with pytest.raises(ConflictError) as err:
        commit(project, {"docs.md": None}, task="t2", parent=first.commit)
    assert err.value.paths == ["docs.md"]


@pytest.mark.parametrize("path, says", [
    ("/etc/passwd", "is absolute"),
    ("../outside.py", "contains '..'"),
    ("src/../../x", "contains '..'"),
    (".git/hooks/pre-push", "inside a .git folder"),
    ("sub/.GIT/config", "inside a .git folder"),
    (".git./config", "inside a .git folder"),  # the same folder on Windows
    ("GIT~1/config", "inside a .git folder"),  # its 8.3 short name
    ("\u200c.git/hooks/pre-commit", "inside a .git folder"),  # the same folder on macOS
    (".github/workflows/ci.yml", "workflow file"),
    ("C:/x.py", "is absolute"),
    ("a\\b.py", "not in the form the repository names files"),
    ("./a.py", "not in the form the repository names files"),
    ("", "empty file path"),
])
def test_unsafe_paths_are_refused_and_nothing_is_written(project: Path, path: str, says: str):
    with pytest.raises(GitError) as err:
        commit(project, {path: "x\n", "ok.py": "fine\n"})
    assert says in err.value.message and err.value.hint
    assert git(project, "branch", "--list", "gitorch/*") == ""


def test_workflow_files_when_allowed(project: Path):
    result = commit(project, {".github/workflows/ci.yml": "on: push\n"}, allow_workflow_files=True)
    assert result.created


def test_file_and_folder_clash_is_refused(project: Path):
    with pytest.raises(GitError, match="is a file in the repository"):
        commit(project, {"docs.md/inner.py": "x\n"})
    with pytest.raises(GitError, match="is a folder in the repository"):
        commit(project, {"src": "x\n"})
    with pytest.raises(GitError, match="not both"):
        commit(project, {"a/b": "x\n", "a/b/c": "y\n"})


def test_symlinks_are_not_overwritten(project: Path):
    (project / "link").symlink_to("docs.md")
    commit_all(project, "link")
    with pytest.raises(GitError, match="symlink"):
        commit(project, {"link": "now a file\n"})


def test_bad_revisions_and_branch_names_are_explained(project: Path):
    with pytest.raises(GitError, match="'nope' is not a commit") as err:
        commit(project, {"a": "b"}, parent="nope")
    assert "rev-parse" in err.value.hint
    with pytest.raises(GitError, match="not a valid branch name"):
        commit(project, {"a": "b"}, branch="gitorch/bad..name")
    with pytest.raises(GitError, match="not inside a git repository"):
        gitops.open_repo(project.parent / "nowhere-here")


def test_branch_name_is_prefix_run_and_slug():
    assert gitops.branch_name("gitorch/", "run-7", "Add a login endpoint!") == "gitorch/run-7-add-a-login-endpoint"
    assert gitops.branch_name("bots/", "r1", "???") == "bots/r1-task"
    with pytest.raises(GitError, match="not a valid branch name"):
        gitops.branch_name("bad prefix ~", "r", "x")


def test_reads_at_a_commit(project: Path):
    base = git(project, "rev-parse", "HEAD")
    (project / "img.bin").write_bytes(b"\x00\x01\x02")
    commit_all(project, "binary")
    assert gitops.list_files(project, base) == ["README.md", "docs.md", "src/app.py", "src/run.sh"]
    assert gitops.read_file(project, base, "docs.md") == "# docs\n"
    assert gitops.read_file(project, base, "missing.txt") is None
    files = gitops.read_files(project, "HEAD")
    assert "img.bin" not in files and files["src/run.sh"].startswith("#!/bin/sh")
    assert "src/app.py" not in gitops.read_files(project, "HEAD", max_bytes=20)
    assert gitops.resolve(project, "HEAD~1") == base


def test_range_diff_detects_renames_and_lists_new_contents(project: Path):
    git(project, "checkout", "-qb", "feature")
    git(project, "mv", "src/app.py", "src/main.py")
    (project / "src" / "main.py").write_text((project / "src" / "main.py").read_text() + "line 21\n")
    (project / "docs.md").unlink()
    (project / "new.txt").write_text("new\n")
    (project / "logo.png").write_bytes(b"\x89PNG\x00\x00")
    head = commit_all(project, "feature")
    # main moves on afterwards: a pull request's diff does not show that.
    git(project, "checkout", "-q", "main")
    (project / "later.txt").write_text("later\n")
    commit_all(project, "later on main")

    diff = gitops.range_diff(project, "main..feature")

    assert diff.head == head
    assert diff.base == git(project, "merge-base", "main", "feature")
    assert "rename from src/app.py" in diff.diff and "rename to src/main.py" in diff.diff
    assert "+line 21" in diff.diff and "later.txt" not in diff.diff
    assert diff.renames == {"src/app.py": "src/main.py"}
    assert diff.files["src/main.py"].endswith("line 21\n")
    assert diff.files["src/app.py"] is None and diff.files["docs.md"] is None
    assert diff.files["new.txt"] == "new\n"
    assert diff.binary == ["logo.png"] and "logo.png" not in diff.files
    assert gitops.range_diff(project, "main...feature").diff == diff.diff


def test_range_diff_of_a_gitorch_branch(project: Path):
    result = commit(project, {"src/login.py": "ok\n"})
    diff = gitops.range_diff(project, f"main..{result.branch}")
    assert diff.files == {"src/login.py": "ok\n"}
    assert diff.diff.startswith("diff --git a/src/login.py b/src/login.py")


def test_range_diff_rejects_a_single_revision(project: Path):
    with pytest.raises(GitError, match="is not a range") as err:
        gitops.range_diff(project, "main")
    assert "BASE..HEAD" in err.value.hint


def test_artifacts_that_change_nothing_make_no_empty_commit(project: Path):
    base = git(project, "rev-parse", "HEAD")
    result = commit(project, {"docs.md": "# docs\n"})
    assert not result.created and result.commit == base
    assert git(project, "rev-parse", "gitorch/run-1-add-login") == base
