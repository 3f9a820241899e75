"""Git for gitorch: branch commits built straight from tree objects, reads at a commit, diffs, pushes.

Artifacts land as one commit per task on ``gitorch/<run-id>-<slug>``, written into the object
database with pygit2: the working tree, the index and HEAD of the repository are never touched.
Commits carry ``Gitorch-Run:``, ``Gitorch-Task:`` and ``Gitorch-Agent:`` trailers, which is how
gitorch finds its own work again (idempotence) and knows which branches it may force-push.

Pushing goes through ``git push`` so the person's credential helpers apply; a token from config is
handed to git as an HTTP header through the environment, never in the URL, the arguments or a log.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path

import pygit2

from ..edits import is_workflow_path, paths
from ..errors import ConflictError, GitError, PushError
from ..model import CommitResult, PushResult, RangeDiff
from ..redact import redact
from .command import SKIP_ENV, ZERO_SHA, no_git_env, run_git

log = logging.getLogger("gitorch.git")

RUN_TRAILER = "Gitorch-Run"
TASK_TRAILER = "Gitorch-Task"
AGENT_TRAILER = "Gitorch-Agent"
_BLOB = pygit2.GIT_FILEMODE_BLOB
_BLOB_EXE = pygit2.GIT_FILEMODE_BLOB_EXECUTABLE
_TREE = pygit2.GIT_FILEMODE_TREE
# How far back idempotence looks for gitorch's own commit of a task on a branch.
_HISTORY_LIMIT = 500


# -- opening and resolving --------------------------------------------------------------------------


def open_repo(path: str | os.PathLike[str]) -> pygit2.Repository:
    """The repository at or above ``path``, opened by explicit path (never from ``GIT_DIR``)."""
    where = Path(path)
    found = pygit2.discover_repository(str(where))
    if found is None:
        raise GitError(f"{where} is not inside a git repository",
                       hint="run gitorch from your repository, or 'git init' one first")
    return pygit2.Repository(found)


def _commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise GitError(f"'{rev}' is not a commit in {repo.workdir or repo.path}",
                       hint="check the name with 'git rev-parse --verify <rev>'") from None
    return commit


def resolve(repo_path: str | os.PathLike[str], rev: str) -> str:
    """The full id of the commit ``rev`` names."""
    return str(_commit(open_repo(repo_path), rev).id)


def _walk_tree(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = ""):
    for entry in tree:
        path = prefix + entry.name
        if entry.filemode == _TREE:
            yield from _walk_tree(repo, repo[entry.id], path + "/")
        else:
            yield path, entry


def list_files(repo_path: str | os.PathLike[str], rev: str = "HEAD") -> list[str]:
    """Every file path in the tree of ``rev``, sorted."""
    repo = open_repo(repo_path)
    return sorted(path for path, _ in _walk_tree(repo, _commit(repo, rev).tree))


def _blob_text(blob: pygit2.Blob) -> str | None:
    if blob.is_binary:
        return None
    return blob.data.decode("utf-8", errors="replace")


def read_files(repo_path: str | os.PathLike[str], rev: str, paths: list[str] | None = None,
               max_bytes: int | None = None) -> dict[str, str | None]:
    """Contents of ``paths`` (all files when None) at ``rev``. A missing path maps to None;
    binary files and files over ``max_bytes`` are left out."""
    repo = open_repo(repo_path)
    tree = _commit(repo, rev).tree
    out: dict[str, str | None] = {}
    if paths is None:
        entries = list(_walk_tree(repo, tree))
    else:
        entries = []
        for path in paths:
            try:
                entries.append((path, tree[path]))
            except KeyError:
                out[path] = None
    for path, entry in entries:
        if entry.filemode in (_BLOB, _BLOB_EXE):
            blob = repo[entry.id]
            if max_bytes is not None and blob.size > max_bytes:
                continue
            text = _blob_text(blob)
            if text is not None:
                out[path] = text
    return out


def read_file(repo_path: str | os.PathLike[str], rev: str, path: str) -> str | None:
    """One file's text at ``rev`` (None when it does not exist there)."""
    return read_files(repo_path, rev, [path]).get(path)


# -- diffs ------------------------------------------------------------------------------------------


def _split_range(rev_range: str) -> tuple[str, str]:
    if "..." in rev_range:
        left, right = rev_range.split("...", 1)
    elif ".." in rev_range:
        left, right = rev_range.split("..", 1)
    else:
        raise GitError(f"'{rev_range}' is not a range",
                       hint="write it as BASE..HEAD, for example main..gitorch/run-1-add-login")
    return left or "HEAD", right or "HEAD"


def tree_diff(repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree | None) -> pygit2.Diff:
    """The diff between two trees with renames and copies found, as ``git diff -M`` shows them."""
    if old is None and new is None:
        raise GitError("nothing to compare")
    if old is None:
        diff = new.diff_to_tree(swap=True)
    elif new is None:
        diff = old.diff_to_tree()
    else:
        diff = repo.diff(old, new)
    diff.find_similar(flags=pygit2.GIT_DIFF_FIND_RENAMES)
    return diff


def range_diff(repo_path: str | os.PathLike[str], rev_range: str) -> RangeDiff:
    """The change a branch makes against its base: ``A..B`` (or ``A...B``) compares B with the
    merge base of A and B, as a pull request does, so commits added to A since do not show."""
    repo = open_repo(repo_path)
    left, right = _split_range(rev_range)
    head = _commit(repo, right)
    base_id = repo.merge_base(_commit(repo, left).id, head.id)
    return _diff(repo, repo[base_id] if base_id is not None else None, head)


def diff_commits(repo_path: str | os.PathLike[str], base: str | None, head: str) -> RangeDiff:
    """``head`` against ``base`` as they are (None: against nothing, every file is new)."""
    repo = open_repo(repo_path)
    return _diff(repo, _commit(repo, base) if base else None, _commit(repo, head))


def _diff(repo: pygit2.Repository, base: pygit2.Commit | None, head: pygit2.Commit) -> RangeDiff:
    diff = tree_diff(repo, base.tree if base is not None else None, head.tree)
    files: dict[str, str | None] = {}
    renames: dict[str, str] = {}
    binary: list[str] = []
    for delta in diff.deltas:
        old_path, new_path = delta.old_file.path, delta.new_file.path
        if delta.status == pygit2.GIT_DELTA_DELETED:
            files[old_path] = None
            continue
        if delta.status == pygit2.GIT_DELTA_RENAMED:
            renames[old_path] = new_path
            files[old_path] = None
        if delta.new_file.mode not in (_BLOB, _BLOB_EXE):
            continue  # symlinks and submodules show in the diff only
        text = _blob_text(repo[delta.new_file.id])
        if text is None:
            binary.append(new_path)
        else:
            files[new_path] = text
    return RangeDiff(base=str(base.id) if base is not None else ZERO_SHA, head=str(head.id),
                     diff=diff.patch or "", files=files, renames=renames, binary=binary)


# -- branch commits ---------------------------------------------------------------------------------


def slugify(text: str, max_len: int = 40) -> str:
    """A branch-safe slug: lower case words joined by dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = slug[:max_len].rstrip("-")
    return slug or "task"


def branch_name(prefix: str, run_id: str, title: str) -> str:
    """``gitorch/<run-id>-<slug>``; the name is checked the way git checks ref names."""
    name = f"{prefix}{run_id}-{slugify(title)}"
    if not pygit2.reference_is_valid_name(f"refs/heads/{name}"):
        raise GitError(f"'{name}' is not a valid branch name",
                       hint="set git.branch_prefix in .gitorch.yml to something like 'gitorch/'")
    return name


def check_path(path: str, allow_workflow_files: bool = False, secret_files: tuple[str, ...] = ()) -> str:
    """``path`` if the one path policy (``gitorch.edits.paths``) lets builder output write it as it
    is, else a GitError saying why: the commit is the last line of defence, so it takes only paths
    already in the form the policy gives (``a/b.py``, never ``a\\b.py`` or ``./a/b.py``)."""
    try:
        clean = paths.check(path, allow_workflow_files=allow_workflow_files, secret_files=secret_files)
    except paths.PathRefused as exc:
        hint = ("set edits.allow_workflow_files: true in .gitorch.yml to allow them" if is_workflow_path(str(path))
                else "secret files are written by people, never by a builder" if exc.secret
                else "gitorch writes only files inside the repository, never into .git/")
        raise GitError(exc.reason, hint=hint) from None
    if clean != path:
        raise GitError(f"The path {path!r} is not in the form the repository names files ('{clean}').",
                       hint="artifact paths are relative to the repository root, with '/' separators")
    return clean


def _nest(changes: Mapping[str, bytes | None]) -> dict[str, object]:
    """{"a/b.py": x} -> {"a": {"b.py": x}}; a leaf is bytes or None (delete)."""
    root: dict[str, object] = {}
    for path, data in changes.items():
        node = root
        *dirs, name = path.split("/")
        for d in dirs:
            child = node.setdefault(d, {})
            if not isinstance(child, dict):
                raise GitError(f"'{path}' needs '{d}' to be a folder, but another artifact writes it as a file",
                               hint="each path may be a file or a folder, not both")
            node = child
        if isinstance(node.get(name), dict):
            raise GitError(f"'{path}' is written as a file but other artifacts put files under it",
                           hint="each path may be a file or a folder, not both")
        node[name] = data
    return root


def _build_tree(repo: pygit2.Repository, tree: pygit2.Tree | None, changes: dict[str, object],
                prefix: str) -> pygit2.Oid | None:
    """A new tree: ``tree`` with ``changes`` applied, only the touched folders rewritten.
    None when the result is empty (git keeps no empty folders)."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    for name, change in changes.items():
        existing = builder.get(name)
        path = prefix + name
        if isinstance(change, dict):
            if existing is not None and existing.filemode != _TREE:
                raise GitError(f"'{path}' is a file in the repository, so nothing can be written under it",
                               hint="delete the file in the same set of artifacts first")
            sub = _build_tree(repo, repo[existing.id] if existing is not None else None, change, path + "/")
            if sub is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, sub, _TREE)
            continue
        if existing is not None and existing.filemode not in (_BLOB, _BLOB_EXE):
            kind = "folder" if existing.filemode == _TREE else "symlink or submodule"
            raise GitError(f"'{path}' is a {kind} in the repository; gitorch only writes regular files",
                           hint="change the files inside it, or remove it by hand")
        if change is None:
            if existing is not None:
                builder.remove(name)
            continue
        mode = existing.filemode if existing is not None else _BLOB
        builder.insert(name, repo.create_blob(change), mode)
    if len(builder) == 0:
        return None
    return builder.write()


_STRICT_LOCK = threading.Lock()


@contextmanager
def _trusted_writes():
    """Skip libgit2's check that every entry of a written tree exists: gitorch's trees hold only
    entries copied from existing trees and objects it has just written, and the check reads each
    one back (about 40 % of a commit's time on a large repository). The option is process-wide,
    so it is switched off only around the write and put back after."""
    with _STRICT_LOCK:
        pygit2.option(pygit2.GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0)
        try:
            yield
        finally:
            pygit2.option(pygit2.GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1)


def _entry_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None


def apply_to_tree(repo: pygit2.Repository, tree: pygit2.Tree, artifacts: Mapping[str, str | bytes | None],
                  allow_workflow_files: bool = False, secret_files: tuple[str, ...] = ()) -> pygit2.Oid:
    """The id of ``tree`` with ``artifacts`` (path -> new content, None to delete) applied."""
    changes: dict[str, bytes | None] = {}
    for path, content in artifacts.items():
        clean = check_path(path, allow_workflow_files, secret_files)
        changes[clean] = content.encode("utf-8") if isinstance(content, str) else content
    new = _build_tree(repo, tree, _nest(changes), "")
    if new is None:
        builder = repo.TreeBuilder()
        new = builder.write()
    return new


def _trailers(commit: pygit2.Commit) -> dict[str, str]:
    try:
        return dict(commit.message_trailers)
    except (pygit2.GitError, ValueError):
        return {}


def is_gitorch_commit(commit: pygit2.Commit) -> bool:
    return RUN_TRAILER in _trailers(commit)


def commit_message(description: str, *, run_id: str, task_id: str, agent: str) -> str:
    """Subject (first line of the task, 72 characters at most), the task in full when longer, trailers."""
    text = description.strip() or task_id
    first, _, rest = text.partition("\n")
    first = first.strip()
    if len(first) <= 72:
        subject, body = first, rest.strip()
    else:
        subject, body = first[:71].rstrip() + "…", text
    trailers = f"{RUN_TRAILER}: {run_id}\n{TASK_TRAILER}: {task_id}\n{AGENT_TRAILER}: {agent}\n"
    return f"{subject}\n\n{body}\n\n{trailers}" if body else f"{subject}\n\n{trailers}"


def find_task_commit(repo: pygit2.Repository, tip: pygit2.Oid, run_id: str, task_id: str,
                     stop: pygit2.Oid | None = None) -> pygit2.Commit | None:
    """The newest commit on the branch at ``tip`` that gitorch made for this run's task."""
    walker = repo.walk(tip, pygit2.GIT_SORT_TOPOLOGICAL)
    if stop is not None:
        walker.hide(stop)
    for count, commit in enumerate(walker):
        if count >= _HISTORY_LIMIT:
            break
        t = _trailers(commit)
        if t.get(RUN_TRAILER) == run_id and t.get(TASK_TRAILER) == task_id:
            return commit
    return None


def task_commits(repo_path: str | os.PathLike[str], tip: str, run_id: str,
                 stop: str | None = None) -> list[tuple[str, str, str]]:
    """The commits gitorch made for ``run_id`` on the branch at ``tip`` (not before ``stop``), oldest
    first, as (task id, agent, commit id): the tasks of the run that are done on that branch."""
    repo = open_repo(repo_path)
    walker = repo.walk(_commit(repo, tip).id, pygit2.GIT_SORT_TOPOLOGICAL | pygit2.GIT_SORT_REVERSE)
    if stop is not None:
        walker.hide(_commit(repo, stop).id)
    found = []
    for commit in walker:
        t = _trailers(commit)
        if t.get(RUN_TRAILER) == run_id and TASK_TRAILER in t:
            found.append((t[TASK_TRAILER], t.get(AGENT_TRAILER, ""), str(commit.id)))
    return found


def remote_branches(repo_path: str | os.PathLike[str], prefix: str, remote: str = "origin", *,
                    token: str | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The branches on ``remote`` whose names start with ``prefix`` (none when the repository has
    no such remote: a working copy that was never pushed anywhere)."""
    if remote not in open_repo(repo_path).remotes.names() and not any(c in remote for c in "/:"):
        return []
    proc = run_git(repo_path, ["ls-remote", "--heads", remote, f"refs/heads/{prefix}*"],
                   env=_push_env(token, env), secrets=[token] if token else [])
    return [line.partition("\t")[2].removeprefix("refs/heads/") for line in proc.stdout.splitlines() if "\t" in line]


def _conflict_report(repo: pygit2.Repository, index: pygit2.Index) -> tuple[list[str], dict[str, str]]:
    paths: list[str] = []
    hunks: dict[str, str] = {}
    for ancestor, ours, theirs in index.conflicts:
        entry = ours or theirs or ancestor
        path = entry.path
        paths.append(path)
        try:
            merged = repo.merge_file_from_index(ancestor, ours, theirs)
            text = merged if isinstance(merged, str) else getattr(merged, "contents", str(merged))
        except (pygit2.GitError, ValueError, TypeError):
            text = ""
        if not text:
            state = {(True, False): "deleted on the branch, changed by the run",
                     (False, True): "changed on the branch, deleted by the run"}
            text = state.get((ours is None, theirs is None), "changed on both sides")
        hunks[path] = "\n".join(_conflict_hunks(text)) or text
    return sorted(paths), hunks


def _conflict_hunks(text: str, context: int = 3) -> list[str]:
    """Only the conflicted regions of a merged file, with a few lines around each."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("<<<<<<<"):
            start = max(0, i - context)
            j = i
            while j < len(lines) and not lines[j].startswith(">>>>>>>"):
                j += 1
            end = min(len(lines), j + 1 + context)
            out.append(f"@@ line {start + 1} @@")
            out.extend(lines[start:end])
            i = end
        else:
            i += 1
    return out


def _cherry_pick_tree(repo: pygit2.Repository, base: pygit2.Tree, tip: pygit2.Tree, ours: pygit2.Tree,
                      branch: str, what: str) -> pygit2.Oid:
    """The tree of ``tip`` with the change ``base -> ours`` applied (a cherry-pick in memory), or a
    ConflictError with the conflicting paths and hunks, saying that the branch ``what``."""
    index = repo.merge_trees(base, tip, ours)
    if index.conflicts:
        paths, hunks = _conflict_report(repo, index)
        shown = "\n\n".join(f"--- {p}\n{hunks[p]}" for p in paths)
        raise ConflictError(f"branch {branch} {what} in: {', '.join(paths)}\n{shown}",
                            hint="resolve it on the branch by hand, or ask gitorch to redo the task on the new tip",
                            branch=branch, paths=paths, hunks=hunks)
    return index.write_tree(repo)


def commit_artifacts(repo_path: str | os.PathLike[str], *, branch: str, parent: str,
                     artifacts: Mapping[str, str | bytes | None], description: str, run_id: str,
                     task_id: str, agent: str, author_name: str = "gitorch",
                     author_email: str = "gitorch@users.noreply.github.com",
                     allow_workflow_files: bool = False, secret_files: tuple[str, ...] = (),
                     owned: bool = False) -> CommitResult:
    """Commit ``artifacts`` onto ``branch`` as one commit for the task, without a checkout.

    ``owned``: the caller is the only writer of ``branch`` (a run's own branch, under the run's
    claim), so a lock file on its ref was left by an owner killed while it moved the branch, and is
    removed; otherwise a locked ref is an error that says so.

    ``parent`` is the commit the run read (the base for a new branch, else the tip it saw). When the
    branch has moved since, the run's change is replayed onto the new tip in memory (a three-way
    merge of trees); overlapping changes raise ConflictError with the paths and hunks. When the
    artifacts are on the branch already (a retry or a resume), nothing is written.
    """
    repo = open_repo(repo_path)
    ref_name = f"refs/heads/{branch}"
    if not pygit2.reference_is_valid_name(ref_name):
        raise GitError(f"'{branch}' is not a valid branch name", hint="branch names follow git check-ref-format")
    start = _commit(repo, parent)
    ref = repo.references.get(ref_name)
    tip = repo[ref.target].peel(pygit2.Commit) if ref is not None else start

    with _trusted_writes():
        ours_tree_id = apply_to_tree(repo, start.tree, artifacts, allow_workflow_files, secret_files)
    rebased = tip.id != start.id
    if not rebased:
        new_tree_id = ours_tree_id
    else:
        # Replay the run's change (start -> ours) onto the moved tip, like a cherry-pick.
        new_tree_id = _cherry_pick_tree(repo, start.tree, tip.tree, repo[ours_tree_id], branch,
                              f"moved since the run read it ({start.short_id} -> {tip.short_id}) and the new "
                              f"commits conflict with task {task_id}")

    if new_tree_id == tip.tree_id:
        if ref is None:  # nothing to change: the branch starts at the base, with no empty commit
            repo.create_reference_direct(ref_name, tip.id, False, message=f"gitorch: {run_id} {task_id}")
        done = find_task_commit(repo, tip.id, run_id, task_id)
        return CommitResult(branch=branch, commit=str((done or tip).id), parent=str(tip.id), created=False,
                            rebased=False)

    new_tree = repo[new_tree_id]
    changed = sorted(p for p in artifacts if _entry_id(tip.tree, p) != _entry_id(new_tree, p))
    now = int(time.time())
    offset = (time.localtime().tm_gmtoff or 0) // 60
    sig = pygit2.Signature(author_name, author_email, now, offset)
    message = commit_message(description, run_id=run_id, task_id=task_id, agent=agent)
    oid = repo.create_commit(None, sig, sig, message, new_tree_id, [tip.id])

    # Check again right before moving the ref: a writer in between is reported, never overwritten.
    current = repo.references.get(ref_name)
    current_target = current.target if current is not None else None
    expected = ref.target if ref is not None else None
    if current_target != expected:
        raise ConflictError(f"branch {branch} moved while gitorch was committing task {task_id}",
                            hint="run the step again; gitorch will replay its commit onto the new tip",
                            branch=branch)
    log_message = f"gitorch: {run_id} {task_id}"
    if current is None:
        try:
            _unlocked(repo, ref_name, owned, lambda: repo.create_reference_direct(ref_name, oid, False,
                                                                                  message=log_message))
        except (pygit2.AlreadyExistsError, ValueError):
            raise ConflictError(f"branch {branch} appeared while gitorch was committing task {task_id}",
                                hint="run the step again; gitorch will replay its commit onto the new tip",
                                branch=branch) from None
    else:
        _unlocked(repo, ref_name, owned, lambda: current.set_target(oid, log_message))
    return CommitResult(branch=branch, commit=str(oid), parent=str(tip.id), created=True, rebased=rebased,
                        changed=changed)


def _unlocked(repo: pygit2.Repository, ref_name: str, owned: bool, move: Callable[[], object]) -> None:
    """``move`` the ref; a lock file that stops it is removed once when the caller owns the ref."""
    try:
        move()
        return
    except OSError as exc:
        lock = Path(repo.path) / f"{ref_name}.lock"
        if "lock" not in str(exc) or not lock.exists():
            raise
        if not owned:
            raise GitError(f"{ref_name} is locked by another git process ({lock} exists)",
                           hint="wait for it to finish; if no git process is running, delete that file") from exc
    log.warning("removing %s, left by a gitorch process killed while it moved the run's branch", lock)
    lock.unlink(missing_ok=True)
    move()


def branch_tip(repo_path: str | os.PathLike[str], branch: str) -> str | None:
    """The commit ``branch`` points at, or None when it does not exist."""
    repo = open_repo(repo_path)
    ref = repo.references.get(f"refs/heads/{branch}")
    return str(ref.peel(pygit2.Commit).id) if ref is not None else None


# -- remotes ----------------------------------------------------------------------------------------


def _push_env(token: str | None, base: Mapping[str, str] | None) -> dict[str, str]:
    env = no_git_env(base)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env[SKIP_ENV] = "1"  # the person's own pre-push hooks run; gitorch's does not look at itself
    if token:
        # A header for every HTTP request of this one git process, passed through the
        # environment (not argv, which other users can see; not the URL, which gets logged).
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        env[f"GIT_CONFIG_KEY_{count}"] = "http.extraHeader"
        env[f"GIT_CONFIG_VALUE_{count}"] = f"Authorization: Basic {basic}"
        env["GIT_CONFIG_COUNT"] = str(count + 1)
    return env


def remote_tip(repo_path: str | os.PathLike[str], branch: str, remote: str = "origin", *,
               token: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The commit ``branch`` points at on ``remote`` (None: no such branch there)."""
    secrets = [token] if token else []
    proc = run_git(repo_path, ["ls-remote", "--heads", remote, f"refs/heads/{branch}"],
                   env=_push_env(token, env), secrets=secrets)
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def fetch_branch(repo_path: str | os.PathLike[str], branch: str, remote: str = "origin", *,
                 token: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """Bring ``branch`` up to date with ``remote`` before pushing: fetch it into
    ``refs/remotes/<remote>/<branch>``, fast-forward the local branch when it is behind, and when
    both moved (someone pushed while the run committed), replay the local-only commits onto the
    remote tip in memory. Overlapping changes raise ConflictError and leave the branch as it was.
    Returns the remote tip (None: the branch is not on the remote)."""
    secrets = [token] if token else []
    if remote_tip(repo_path, branch, remote, token=token, env=env) is None:
        return None
    tracking = f"refs/remotes/{remote}/{branch}"
    run_git(repo_path, ["fetch", "--quiet", "--no-tags", remote, f"+refs/heads/{branch}:{tracking}"],
            env=_push_env(token, env), secrets=secrets)
    repo = open_repo(repo_path)
    remote_id = repo.references[tracking].target
    local = repo.references.get(f"refs/heads/{branch}")
    if local is None:
        repo.create_reference_direct(f"refs/heads/{branch}", remote_id, False, message=f"gitorch: fetch {remote}")
    elif local.target == remote_id or repo.descendant_of(local.target, remote_id):
        pass  # up to date, or only ahead: a plain push will do
    elif repo.descendant_of(remote_id, local.target):
        local.set_target(remote_id, f"gitorch: fast-forward from {remote}")
    else:
        walker = repo.walk(local.target, pygit2.GIT_SORT_TOPOLOGICAL | pygit2.GIT_SORT_REVERSE)
        walker.hide(remote_id)
        new_tip = _replay(repo, list(walker), repo[remote_id].peel(pygit2.Commit), branch)
        local.set_target(new_tip, f"gitorch: replayed onto {remote}/{branch}")
    return str(remote_id)


def fetch_pull(repo_path: str | os.PathLike[str], number: int, remote: str = "origin", *,
               token: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Fetch pull request ``number`` (its head, ``refs/pull/N/head``) into ``refs/remotes/<remote>/pull/N``
    and return the range a review of it reads: from the remote's default branch (``<remote>/HEAD``;
    this checkout's HEAD when the remote does not say) to the pull request, as GitHub shows it."""
    secrets = [token] if token else []
    head = f"refs/remotes/{remote}/pull/{number}"
    proc = run_git(repo_path, ["fetch", "--quiet", "--no-tags", remote, f"+refs/pull/{number}/head:{head}"],
                   env=_push_env(token, env), secrets=secrets, check=False)
    if proc.returncode != 0:
        raise GitError(f"pull request #{number} could not be fetched from {remote}: "
                       f"{redact((proc.stderr or proc.stdout).strip(), secrets)}",
                       hint=f"check the number, and that '{remote}' is the repository the pull request is on")
    run_git(repo_path, ["remote", "set-head", remote, "--auto"], env=_push_env(token, env), secrets=secrets,
            check=False)
    base = f"refs/remotes/{remote}/HEAD"
    if run_git(repo_path, ["rev-parse", "--verify", "-q", base], check=False).returncode != 0:
        base = "HEAD"
    return f"{base}...{head}"


def _replay(repo: pygit2.Repository, commits: list[pygit2.Commit], onto: pygit2.Commit, branch: str) -> pygit2.Oid:
    """``commits`` (oldest first) cherry-picked onto ``onto`` in memory, authors and messages kept."""
    tip = onto
    for commit in commits:
        base = commit.parents[0].tree if commit.parents else None
        if base is None:
            raise ConflictError(f"branch {branch} has a root commit that cannot be replayed", branch=branch,
                                hint="push it under a new name")
        task = _trailers(commit).get(TASK_TRAILER, commit.short_id)
        tree = _cherry_pick_tree(repo, base, tip.tree, commit.tree, branch,
                       f"moved on the remote and the new commits conflict with task {task}")
        if tree == tip.tree_id:
            continue  # the remote has this change already
        tip = repo[repo.create_commit(None, commit.author, commit.committer, commit.message, tree, [tip.id])]
    return tip.id


def push_branch(repo_path: str | os.PathLike[str], branch: str, *, remote: str = "origin",
                branch_prefix: str = "gitorch/", token: str | None = None, force: bool = False,
                env: Mapping[str, str] | None = None) -> PushResult:
    """Push ``branch`` to ``remote`` with ``git push``.

    Only branches under ``branch_prefix`` are pushed. ``force`` is honoured only when the branch on
    the remote is one gitorch made (its tip carries gitorch's trailers), and then with a lease on
    that exact tip, so a commit someone pushed meanwhile is never thrown away.
    """
    if not branch.startswith(branch_prefix):
        raise PushError(f"gitorch only pushes its own branches (under '{branch_prefix}'), not '{branch}'",
                        hint="push other branches yourself with 'git push'")
    secrets = [token] if token else []
    genv = _push_env(token, env)
    repo = open_repo(repo_path)
    local = repo.references.get(f"refs/heads/{branch}")
    if local is None:
        raise PushError(f"there is no local branch '{branch}' to push", hint="commit the run's artifacts first")
    local_id = str(local.target)
    remote_id = remote_tip(repo_path, branch, remote, token=token, env=env)
    if remote_id == local_id:
        return PushResult(branch=branch, remote=remote, commit=local_id, up_to_date=True)

    args = ["push", "--porcelain"]
    forced = False
    if remote_id is not None and force:
        run_git(repo_path, ["fetch", "--quiet", "--no-tags", remote, f"refs/heads/{branch}"], env=genv,
                secrets=secrets)
        remote_commit = repo[remote_id].peel(pygit2.Commit) if remote_id in repo else None
        if remote_commit is None or not is_gitorch_commit(remote_commit):
            raise PushError(f"refusing to force-push {branch}: its tip on {remote} ({remote_id[:12]}) "
                            "is not a commit gitorch made",
                            hint="someone else's work is on that branch; merge it, or push under a new name")
        if not repo.descendant_of(local.target, remote_commit.id):
            args.append(f"--force-with-lease=refs/heads/{branch}:{remote_id}")
            forced = True
    args += [remote, f"refs/heads/{branch}:refs/heads/{branch}"]
    proc = run_git(repo_path, args, env=genv, secrets=secrets, check=False)
    if proc.returncode != 0:
        output = redact((proc.stdout + proc.stderr).strip(), secrets)
        rejected = "rejected" in output or "non-fast-forward" in output or "stale info" in output
        raise PushError(
            f"git push of {branch} to {remote} was refused: {output}",
            hint=("the branch moved on the remote; fetch it (gitorch replays its commits onto the new tip) "
                  "and push again") if rejected else "check the remote's address and your access to it")
    return PushResult(branch=branch, remote=remote, commit=local_id, forced=forced)
