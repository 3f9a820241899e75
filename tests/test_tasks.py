"""TASK.md: the format, its errors (naming the line), and which items a range of commits asks for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitorch.git import push
from gitorch.git import taskfile as tasks
from gitorch.git.taskfile import TaskFileError
from gitorch.git.tasks import work_between, work_in_push

EXAMPLE = """\
# Tasks

Anything that is not a checklist item is just prose.

## Login
- [ ] Add a /login endpoint that checks the password hash (#login) @claude
      Return 401 on a wrong password.

      Use the existing session helper.
- [ ] Tests for the login endpoint after #login @chatgpt-pro
- [x] Set up the project

## Docs
* [ ] Document the login flow after #login, #tests (#docs) @codex
+ [ ] Write to alice@example.com about @alice (#tests)

```markdown
- [ ] an example in a code block is not work
```
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit_task_file(repo: Path, text: str | None, message: str = "tasks") -> str:
    path = repo / "TASK.md"
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message, "--allow-empty")
    return git(repo, "rev-parse", "HEAD")


def test_example_parses_into_items():
    items = tasks.parse(EXAMPLE).items
    assert [(i.line, i.text, i.checked, i.id, i.agent, i.after, i.section) for i in items] == [
        (6, "Add a /login endpoint that checks the password hash", False, "login", "claude", [], "Login"),
        (10, "Tests for the login endpoint", False, None, "chatgpt-pro", ["login"], "Login"),
        (11, "Set up the project", True, None, None, [], "Login"),
        (14, "Document the login flow", False, "docs", "codex", ["login", "tests"], "Docs"),
        (15, "Write to alice@example.com about @alice", False, "tests", None, [], "Docs"),
    ]
    assert items[0].details == "Return 401 on a wrong password.\n\nUse the existing session helper."
    assert items[1].details == ""


def test_item_becomes_a_task_for_the_run():
    login, tests_item = tasks.parse(EXAMPLE).items[:2]
    spec = tests_item.spec()
    assert spec.id == "tests-for-the-login-endpoint"
    assert spec.agent == "chatgpt-pro" and spec.depends_on == ["login"]
    assert "Use the existing session helper." in login.spec().description
    assert "(TASK.md section: Login)" in login.description()
    assert tasks.parse("- [ ] plain").items[0].spec().agent is None


def test_chatgpt_alias_and_and_separated_dependencies():
    text = "- [ ] a (#a)\n- [ ] b (#b)\n- [ ] c after #a and #b @chatgpt\n"
    item = tasks.parse(text).items[2]
    assert item.after == ["a", "b"] and item.agent == "chatgpt-pro" and item.text == "c"


@pytest.mark.parametrize("text, line, says", [
    ("# T\n\n- [] forgot the space\n", 3, "is not a checklist item"),
    ("-[ ] no space after the dash\n", 1, "is not a checklist item"),
    ("- [ ]\n", 1, "is not a checklist item"),
    ("intro\n- [ ] fine\n- [ ] fix it @cluade\n", 3, "did you mean '@claude'"),
    ("- [ ] a (#a)\n- [ ] b after #nothing\n", 2, "'after #nothing' names no item"),
    ("- [ ] a (#a)\n\n- [ ] b (#a)\n", 3, "id #a is used twice (first on line 1)"),
    ("- [ ] a (#a) after #b\n- [ ] b (#b) after #a\n", 1, "wait for each other in a circle"),
    ("- [ ] a (#a) after #a\n", 1, "cannot wait for itself"),
    ("- [ ] (#a) @claude\n", 1, "says nothing to do"),
    ("- [ ] two agents @claude @codex\n", 1, "names 2: @claude, @codex"),
    ("- [ ] two ids (#a) (#b)\n", 1, "has 2: (#a), (#b)"),
    ("- [ ] bad id (#has space)\n", 1, "'(#has space)' is not a valid id"),
])
def test_parse_errors_name_the_line(text: str, line: int, says: str):
    with pytest.raises(TaskFileError) as err:
        tasks.parse(text, source="TASK.md")
    assert err.value.line == line
    assert f"TASK.md line {line}:" in err.value.message and says in err.value.message
    assert "docs/git.md" in err.value.hint


def test_all_problems_are_listed_at_once():
    with pytest.raises(TaskFileError) as err:
        tasks.parse("- [] one\n- [ ] two @cluade\n")
    assert [n for n, _ in err.value.problems] == [1, 2]


def test_mentions_and_links_are_not_errors():
    items = tasks.parse("- [ ] ask @alice about it, see [the doc](http://x) and #12\n- [link](http://y)\n").items
    assert len(items) == 1 and items[0].agent is None
    assert items[0].text == "ask @alice about it, see [the doc](http://x) and #12"


def test_new_file_makes_every_open_item_work():
    work = tasks.changed_items(None, EXAMPLE)
    assert [i.line for i in work] == [6, 10, 14, 15]


def test_only_new_edited_or_reopened_items_become_work():
    old = "## A\n- [ ] keep (#keep)\n- [ ] edit me (#edit)\n- [x] reopen\n- [ ] tick me\n- [ ] no id yet\n"
    new = ("## B\n- [ ] keep (#keep)\n- [ ] edit me, better (#edit)\n- [ ] reopen\n- [x] tick me\n"
           "- [ ] no id yet (#now-has-one)\n- [ ] brand new\n")
    work = tasks.changed_items(old, new)
    assert [i.text for i in work] == ["edit me, better", "reopen", "brand new"]


def test_changed_details_agent_or_dependencies_are_edits():
    old = "- [ ] a (#a)\n- [ ] b (#b)\n  detail\n- [ ] c (#c)\n"
    new = "- [ ] a (#a) @codex\n- [ ] b (#b)\n  other detail\n- [ ] c (#c) after #a\n"
    assert [i.id for i in tasks.changed_items(old, new)] == ["a", "b", "c"]


def test_a_broken_old_version_does_not_stop_detection():
    old = "- [] broken\n- [ ] stays\n"
    assert [i.text for i in tasks.changed_items(old, "- [ ] stays\n- [ ] new\n")] == ["new"]


def test_a_broken_new_version_is_an_error():
    with pytest.raises(TaskFileError, match="line 2"):
        tasks.changed_items("- [ ] a\n", "- [ ] a\n- [] b\n")


def test_tick_marks_items_done_by_id_or_text_even_after_edits():
    items = tasks.parse(EXAMPLE).items
    moved = "- [ ] Something new on top\n" + EXAMPLE  # the file changed since the items were read
    ticked = tasks.tick(moved, [items[0], items[1]])
    lines = ticked.splitlines()
    assert lines[0] == "- [ ] Something new on top"
    assert lines[6].startswith("- [x] Add a /login endpoint") and lines[10].startswith("- [x] Tests for")
    assert ticked.count("[x]") == 3 and ticked.endswith("```\n")
    assert tasks.changed_items(moved, ticked) == []


def test_render_round_trips():
    items = tasks.parse(EXAMPLE).open_items
    again = tasks.parse(tasks.render(items)).items
    assert [(i.text, i.id, i.agent, i.after, i.section, i.details) for i in again] == \
        [(i.text, i.id, i.agent, i.after, i.section, i.details) for i in items]


# -- ranges of commits in real repositories -----------------------------------------------------------


def test_work_between_commits(repo: Path):
    first = commit_task_file(repo, "- [ ] one (#one)\n")
    second = commit_task_file(repo, "- [x] one (#one)\n- [ ] two after #one\n")
    assert [i.text for i in work_between(repo, first, second)] == ["two"]
    assert [i.text for i in work_between(repo, None, first)] == ["one"]
    gone = commit_task_file(repo, None, "no more tasks")
    assert work_between(repo, second, gone) == []


@pytest.fixture
def pushed(repo: Path, tmp_path: Path):
    """The repository with a bare remote that has main."""
    remote = tmp_path / "remote.git"
    git(repo, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return repo


def ref_line(repo: Path, local: str, remote_sha: str, remote_ref: str = "refs/heads/main") -> tuple:
    return (f"refs/heads/{local}" if local else "(delete)",
            git(repo, "rev-parse", local) if local else "0" * 40, remote_ref, remote_sha)


def test_push_of_an_update_starts_at_the_remote_tip(pushed: Path):
    old = git(pushed, "rev-parse", "origin/main")
    commit_task_file(pushed, "- [ ] add login\n")
    ranges = push.push_ranges(pushed, "origin", [ref_line(pushed, "main", old)])
    assert [(r.base, r.task_file_changed) for r in ranges] == [(old, True)]
    assert [i.text for i in work_in_push(pushed, ranges)] == ["add login"]


def test_push_without_task_changes_holds_nothing(pushed: Path):
    old = git(pushed, "rev-parse", "origin/main")
    (pushed / "code.py").write_text("x = 1\n")
    git(pushed, "add", "-A")
    git(pushed, "commit", "-qm", "code")
    ranges = push.push_ranges(pushed, "origin", [ref_line(pushed, "main", old)])
    assert len(ranges) == 1 and not ranges[0].task_file_changed
    assert work_in_push(pushed, ranges) == []


def test_new_branch_starts_at_the_first_commit_no_remote_has(pushed: Path):
    commit_task_file(pushed, "- [ ] already pushed\n")
    git(pushed, "push", "-q", "origin", "main")
    base = git(pushed, "rev-parse", "HEAD")
    git(pushed, "checkout", "-qb", "feature")
    commit_task_file(pushed, "- [ ] already pushed\n- [ ] new on the branch\n")
    (pushed / "more.py").write_text("y\n")
    git(pushed, "add", "-A")
    git(pushed, "commit", "-qm", "more")

    ranges = push.push_ranges(pushed, "origin", [ref_line(pushed, "feature", "0" * 40, "refs/heads/feature")])

    assert [(r.base, r.task_file_changed) for r in ranges] == [(base, True)]
    assert [i.text for i in work_in_push(pushed, ranges)] == ["new on the branch"]


def test_first_push_of_a_whole_repository_reads_every_open_item(repo: Path, tmp_path: Path):
    commit_task_file(repo, "- [ ] first\n- [x] done\n")
    git(repo, "init", "-q", "--bare", str(tmp_path / "empty.git"))
    git(repo, "remote", "add", "origin", str(tmp_path / "empty.git"))
    ranges = push.push_ranges(repo, "origin", [ref_line(repo, "main", "0" * 40)])
    assert ranges[0].base is None and ranges[0].task_file_changed
    assert [i.text for i in work_in_push(repo, ranges)] == ["first"]


def test_force_push_counts_only_what_the_remote_gains(pushed: Path):
    commit_task_file(pushed, "- [ ] pushed before\n")
    git(pushed, "push", "-q", "origin", "main")
    old = git(pushed, "rev-parse", "HEAD")
    git(pushed, "reset", "-q", "--hard", "HEAD~1")
    commit_task_file(pushed, "- [ ] pushed before\n- [ ] after the rewrite\n", "rewritten")

    ranges = push.push_ranges(pushed, "origin", [ref_line(pushed, "main", old)])

    assert ranges[0].base == old
    assert [i.text for i in work_in_push(pushed, ranges)] == ["after the rewrite"]


def test_force_push_over_a_tip_this_clone_never_saw(pushed: Path):
    commit_task_file(pushed, "- [ ] local work\n")
    unknown = "1234567890" * 4
    ranges = push.push_ranges(pushed, "origin", [ref_line(pushed, "main", unknown)])
    assert ranges[0].base == git(pushed, "rev-parse", "origin/main")
    assert [i.text for i in work_in_push(pushed, ranges)] == ["local work"]


def test_deleted_refs_tags_and_pushed_commits_are_skipped(pushed: Path):
    head = git(pushed, "rev-parse", "HEAD")
    git(pushed, "tag", "v1")
    lines = [("(delete)", "0" * 40, "refs/heads/old", head),
             ("refs/tags/v1", head, "refs/tags/v1", "0" * 40),
             ("refs/heads/main", head, "refs/heads/copy", "0" * 40)]  # nothing new: all on the remote
    assert push.push_ranges(pushed, "origin", lines) == []


def test_same_item_on_two_refs_is_work_once(pushed: Path):
    old = git(pushed, "rev-parse", "origin/main")
    commit_task_file(pushed, "- [ ] shared\n")
    git(pushed, "branch", "copy")
    ranges = push.push_ranges(pushed, "origin", [ref_line(pushed, "main", old),
                                                  ref_line(pushed, "copy", "0" * 40, "refs/heads/copy")])
    assert len(ranges) == 2
    assert [i.text for i in work_in_push(pushed, ranges)] == ["shared"]


def test_malformed_ref_lines_are_explained():
    with pytest.raises(Exception, match="pre-push input line 2"):
        push.parse_ref_lines("refs/heads/a " + "1" * 40 + " refs/heads/a " + "0" * 40 + "\nnonsense\n")


def test_pre_commit_framework_environment(pushed: Path):
    old = git(pushed, "rev-parse", "HEAD")
    head = commit_task_file(pushed, "- [ ] via pre-commit\n")
    env = {"PRE_COMMIT_FROM_REF": old, "PRE_COMMIT_TO_REF": head, "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main",
           "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main"}
    ranges = push.range_from_pre_commit(pushed, env)
    assert [(r.base, r.head, r.task_file_changed) for r in ranges] == [(old, head, True)]
    whole = push.range_from_pre_commit(pushed, {"PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main"})
    assert whole[0].base is None and whole[0].head == head


def test_items_are_ticked_off_on_the_result_branch(repo: Path):
    from gitorch.git import repo as gitops

    base = commit_task_file(repo, "- [ ] add login (#login)\n- [ ] add logout\n")
    (repo / "TASK.md").write_text("- [ ] add login (#login)\n- [ ] add logout\n- [ ] uncommitted edit\n")
    items = work_between(repo, None, base)[:1]
    ticked = tasks.tick(gitops.read_file(repo, base, "TASK.md"), items)  # as committed, not as on disk
    assert ticked == "- [x] add login (#login)\n- [ ] add logout\n"
    result = gitops.commit_artifacts(repo, branch="gitorch/run-1-login", parent=base,
                                     artifacts={"login.py": "ok\n", "TASK.md": ticked}, description="add login",
                                     run_id="run-1", task_id="login", agent="claude")
    assert git(repo, "show", f"{result.commit}:TASK.md").startswith("- [x] add login")
    assert "uncommitted edit" in (repo / "TASK.md").read_text()  # the working tree is the person's
    again = gitops.read_file(repo, result.commit, "TASK.md")
    assert tasks.tick(again, items) == again  # ticked already: nothing more


def test_render_drops_dependencies_on_items_left_out():
    items = tasks.parse("- [x] base (#base)\n- [ ] next (#next) after #base\n- [ ] last after #next, #base\n").items
    text = tasks.render(items[1:])
    assert [i.after for i in tasks.parse(text).items] == [[], ["next"]]
