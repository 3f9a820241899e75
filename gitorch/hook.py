"""The pre-push hook: installing it the way pre-commit does, and what it does on each push.

Installing writes a small shell script marked with an ``# ID:`` line that calls gitorch through the
absolute path of the interpreter it was installed with. A hook that was there before is kept as
``pre-push.legacy`` and run first with the same arguments and stdin; uninstalling puts it back.

On a push, gitorch looks at what the push holds: new or edited TASK.md items get routing
suggestions (``pre_push.tasks: suggest``) or a background run (``run``), and with ``pre_push.review``
Claude reviews the outgoing diff (``block`` stops the push on a rejection). A push that holds
nothing for gitorch costs a Python start-up and a git call or two: this module imports nothing
heavy at the top, and config (pydantic), pygit2 and the SDKs load only when there is work.
If gitorch itself breaks, the push goes on with one warning line (unless ``pre_push.fail_open`` is
false); ``GITORCH_SKIP=1`` skips it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .errors import GitorchError
from .gitcli import SKIP_ENV, TASK_FILE, ZERO_SHA, no_git_env, run_git

if TYPE_CHECKING:  # the idle path imports only os, sys and subprocess: no pathlib, dataclasses, typing IO
    from pathlib import Path
    from typing import IO, Any

HOOK_NAME = "pre-push"
HOOK_ID = "gitorch-pre-push-5d83b09e"  # changing the template means a new id, the old one goes below
PRIOR_IDS: tuple[str, ...] = ("gitorch-pre-push-7c1e4a2f",)
LEGACY_SUFFIX = ".legacy"
RUNNING_ENV = "GITORCH_HOOK_RUNNING"  # set for the legacy hook, so a gitorch hook inside it stays quiet

TEMPLATE = """#!/bin/sh
# gitorch pre-push hook, written by 'gitorch hooks install'; 'gitorch hooks uninstall' puts back
# what was here before (kept as pre-push.legacy, which this hook runs first).
# ID: {hook_id}
GITORCH_PYTHON={python}
GITORCH_PATH={path}
HERE="${{0%/*}}"
if [ -x "$GITORCH_PYTHON" ] && [ -d "$GITORCH_PATH/gitorch" ]; then
    # -S: no site-packages at start-up; gitorch loads them only when the push holds work for it.
    exec "$GITORCH_PYTHON" -S -c 'import sys; sys.path.append(sys.argv.pop(1)); import gitorch.__main__ as m; m.hook()' \\
        "$GITORCH_PATH" --hook-dir "$HERE" "$@"
elif [ -x "$GITORCH_PYTHON" ]; then
    exec "$GITORCH_PYTHON" -m gitorch hook pre-push --hook-dir "$HERE" "$@"
elif command -v gitorch >/dev/null 2>&1; then
    exec gitorch hook pre-push --hook-dir "$HERE" "$@"
fi
echo "gitorch: $GITORCH_PYTHON is gone and gitorch is not on PATH; pushing without it (activate its environment, or run 'gitorch hooks install' again)" >&2
if [ -x "$HERE/pre-push.legacy" ]; then
    exec "$HERE/pre-push.legacy" "$@"
fi
exit 0
"""


def _say(err: IO[str], text: str) -> None:
    print(text, file=err, flush=True)


# -- installing -------------------------------------------------------------------------------------


class InstallResult:
    """What install or uninstall did: ``action`` is installed, updated, unchanged, removed,
    restored or not-installed; ``legacy`` the kept hook, if any."""

    __slots__ = ("path", "action", "legacy")

    def __init__(self, path: Path, action: str, legacy: Path | None = None):
        self.path, self.action, self.legacy = path, action, legacy

    def __repr__(self) -> str:
        return f"InstallResult({self.path!s}, {self.action!r}, legacy={self.legacy!s})"


def hook_dir(repo_root: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """Where git reads this repository's hooks: ``core.hooksPath`` when set and inside the
    repository, else ``hooks/`` under the git common dir (shared by all worktrees)."""
    from pathlib import Path

    root = Path(repo_root)
    top = run_git(root, ["rev-parse", "--show-toplevel"], env=env, check=False)
    if top.returncode != 0:
        raise GitorchError(f"{root} is not inside a git working tree",
                           hint="run 'gitorch hooks install' from your repository")
    worktree = Path(top.stdout.strip())
    setting = run_git(root, ["config", "--get", "core.hooksPath"], env=env, check=False).stdout.strip()
    if setting:
        where = Path(os.path.expanduser(setting))
        where = (worktree / where if not where.is_absolute() else where).resolve()
        common = Path(run_git(root, ["rev-parse", "--path-format=absolute", "--git-common-dir"],
                              env=env).stdout.strip()).resolve()
        inside = worktree.resolve() in (where, *where.parents) or common in (where, *where.parents)
        if not inside:
            raise GitorchError(
                f"core.hooksPath is set to {setting}, a folder outside this repository; gitorch will not "
                "write its hook there (it would run for every repository that shares that folder)",
                hint="install it for this repository only after 'git config --unset core.hooksPath' "
                     "(or 'git config --global --unset core.hooksPath' if it is set globally)")
        return where
    common = run_git(root, ["rev-parse", "--path-format=absolute", "--git-common-dir"], env=env).stdout.strip()
    return Path(common) / "hooks"


def is_ours(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(f"# ID: {i}" in text for i in (HOOK_ID, *PRIOR_IDS))


def hook_script(python: str) -> str:
    import shlex

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `gitorch/` lives
    return TEMPLATE.format(hook_id=HOOK_ID, python=shlex.quote(python), path=shlex.quote(package_parent))


def install(repo_root: str | os.PathLike[str], python: str | None = None,
            env: Mapping[str, str] | None = None) -> InstallResult:
    """Install the pre-push hook; an existing foreign hook becomes ``pre-push.legacy``."""
    directory = hook_dir(repo_root, env)
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / HOOK_NAME
    legacy = directory / (HOOK_NAME + LEGACY_SUFFIX)
    script = hook_script(python or sys.executable)
    action = "installed"
    if hook.exists() or hook.is_symlink():
        if is_ours(hook):
            if hook.read_text(encoding="utf-8") == script:
                return InstallResult(hook, "unchanged", legacy if legacy.exists() else None)
            action = "updated"
        elif legacy.exists() or legacy.is_symlink():
            raise GitorchError(
                f"{hook} and {legacy} both exist and neither is gitorch's; installing would lose one of them",
                hint=f"merge them into {hook.name}, delete {legacy.name}, then run 'gitorch hooks install' again")
        else:
            os.replace(hook, legacy)
    tmp = hook.with_name(f".{HOOK_NAME}.gitorch-tmp")
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, hook)
    return InstallResult(hook, action, legacy if legacy.exists() or legacy.is_symlink() else None)


def uninstall(repo_root: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> InstallResult:
    """Remove gitorch's hook and put back the one it replaced. A foreign hook is left alone."""
    directory = hook_dir(repo_root, env)
    hook = directory / HOOK_NAME
    legacy = directory / (HOOK_NAME + LEGACY_SUFFIX)
    if not is_ours(hook):
        return InstallResult(hook, "not-installed")
    hook.unlink()
    if legacy.exists() or legacy.is_symlink():
        os.replace(legacy, hook)
        return InstallResult(hook, "restored", None)
    return InstallResult(hook, "removed")


# -- running ----------------------------------------------------------------------------------------


class HookArgs:
    """``gitorch hook pre-push [--hook-dir DIR] REMOTE URL``, parsed without click (the idle path)."""

    __slots__ = ("remote", "url", "hook_dir")

    def __init__(self, remote: str | None, url: str | None, hook_dir: str | None):
        self.remote, self.url, self.hook_dir = remote, url, hook_dir


def parse_args(argv: list[str]) -> HookArgs:
    hook_dir = None
    rest: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--hook-dir":
            hook_dir = next(it, ".")
        elif arg.startswith("--hook-dir="):
            hook_dir = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return HookArgs(rest[0] if rest else None, rest[1] if len(rest) > 1 else None, hook_dir)


class PushedRange:
    """One ref of a push: the commits in ``base..head`` are new to the remote (``base`` None: the
    whole history is, e.g. the first push of a repository)."""

    __slots__ = ("local_ref", "remote_ref", "head", "base", "task_file_changed")

    def __init__(self, local_ref: str, remote_ref: str, head: str, base: str | None, task_file_changed: bool):
        self.local_ref, self.remote_ref, self.head = local_ref, remote_ref, head
        self.base, self.task_file_changed = base, task_file_changed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PushedRange) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "PushedRange(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def parse_ref_lines(stdin: str) -> list[tuple[str, str, str, str]]:
    """git's pre-push lines: ``<local ref> <local sha> <remote ref> <remote sha>``."""
    out = []
    for n, line in enumerate(stdin.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=3)
        if len(parts) != 4 or not all(len(p) in (40, 64) and all(c in "0123456789abcdef" for c in p)
                                      for p in (parts[1], parts[3])):
            raise GitorchError(f"pre-push input line {n} is not '<local ref> <sha> <remote ref> <sha>': {line!r}",
                               hint="gitorch hook pre-push reads what git passes to a pre-push hook on stdin")
        out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


def _task_file_changed(root: str, base: str | None, head: str, env: Mapping[str, str] | None) -> bool:
    if base is None:
        return run_git(root, ["cat-file", "-e", f"{head}:{TASK_FILE}"], env=env, check=False).returncode == 0
    proc = run_git(root, ["diff", "--quiet", "--no-ext-diff", "--no-renames", base, head, "--", TASK_FILE],
                   env=env, check=False)
    return proc.returncode != 0


def push_ranges(repo_root: str | os.PathLike[str], remote: str, lines: list[tuple[str, str, str, str]],
                env: Mapping[str, str] | None = None) -> list[PushedRange]:
    """What each ref of a push adds, read the way pre-commit reads it: deleted refs are skipped; an
    update starts at the remote's old tip (a force push too: what the remote gains); a new branch,
    or an old tip this clone never saw, starts at the first commit no remote has."""
    root = os.fspath(repo_root)
    out = []
    for local_ref, local_sha, remote_ref, remote_sha in lines:
        if local_sha.strip("0") == "":
            continue  # a deletion
        if not remote_ref.startswith("refs/heads/"):
            continue  # tags and notes carry no TASK.md work
        if remote_sha.strip("0") != "":
            # One git call on the common path: exit 0 unchanged, 1 changed, 128 unknown old tip.
            proc = run_git(root, ["diff", "--quiet", "--no-ext-diff", "--no-renames", remote_sha, local_sha,
                                  "--", TASK_FILE], env=env, check=False)
            if proc.returncode in (0, 1):
                out.append(PushedRange(local_ref, remote_ref, local_sha, remote_sha, proc.returncode == 1))
                continue
        named = remote and all(c.isalnum() or c in "._-" for c in remote)
        proc = run_git(root, ["rev-list", local_sha, "--topo-order", "--reverse", "--not",
                              f"--remotes={remote}" if named else "--remotes"], env=env)
        new_commits = proc.stdout.split()
        if not new_commits:
            continue
        parent = run_git(root, ["rev-parse", "--verify", "-q", f"{new_commits[0]}^"], env=env, check=False)
        base = parent.stdout.strip() if parent.returncode == 0 else None
        out.append(PushedRange(local_ref, remote_ref, local_sha, base, _task_file_changed(root, base, local_sha, env)))
    return out


def range_from_pre_commit(repo_root: str | os.PathLike[str], env: Mapping[str, str]) -> list[PushedRange]:
    """The range the pre-commit framework hands its pre-push hooks in ``PRE_COMMIT_*`` variables."""
    root = os.fspath(repo_root)
    head = env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH")
    if not head:
        return []
    head_sha = run_git(root, ["rev-parse", "--verify", f"{head}^{{commit}}"], env=env).stdout.strip()
    base = env.get("PRE_COMMIT_FROM_REF") or None
    if base == ZERO_SHA:
        base = None
    return [PushedRange(env.get("PRE_COMMIT_LOCAL_BRANCH", head), env.get("PRE_COMMIT_REMOTE_BRANCH", ""), head_sha,
                        base, _task_file_changed(root, base, head_sha, env))]


def _run_legacy(args: HookArgs, stdin: bytes, env: Mapping[str, str]) -> int:
    if args.hook_dir is None:
        return 0
    legacy = os.path.join(args.hook_dir, HOOK_NAME + LEGACY_SUFFIX)
    if not os.access(legacy, os.X_OK):
        return 0
    argv = [legacy, *(a for a in (args.remote, args.url) if a is not None)]
    return subprocess.run(argv, input=stdin, env={**env, RUNNING_ENV: "1"}).returncode


def _config_mentions_pre_push(root: str) -> bool:
    """Whether .gitorch.yml could change the hook's defaults (review off): a file without a
    ``pre_push`` key cannot, and reading that costs far less than loading the validated config."""
    try:
        with open(os.path.join(root, ".gitorch.yml"), encoding="utf-8", errors="replace") as f:
            return "pre_push" in f.read()
    except OSError:
        return False


def run_pre_push(argv: list[str], stdin: bytes, env: Mapping[str, str], cwd: str | os.PathLike[str] | None = None,
                 err: IO[str] | None = None, tty: Any = None) -> int:
    """What the installed hook runs. Returns the exit code for git (non-zero stops the push).

    ``env`` is the process environment, handed down by the entry point (GITORCH_SKIP, git's
    variables, pre-commit's); ``tty`` a terminal to ask questions on (None: ask nothing)."""
    err = err or sys.stderr
    if env.get(RUNNING_ENV):
        return 0  # inside our own legacy hook: the outer gitorch hook does the work
    args = parse_args(argv)
    status = _run_legacy(args, stdin, env)
    if status != 0:
        return status  # the push stops anyway: do not start work for commits that will not land
    if env.get(SKIP_ENV, "").strip().lower() in ("1", "true", "yes"):
        return 0
    root = os.fspath(cwd) if cwd is not None else os.getcwd()
    fail_open = True
    secrets: list[str] = []
    try:
        if args.remote is None and (env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH")):
            ranges = range_from_pre_commit(root, env)
        else:
            ranges = push_ranges(root, args.remote or "origin", parse_ref_lines(stdin.decode("utf-8", "replace")), env)
        if not ranges:
            return 0
        touched = any(r.task_file_changed for r in ranges)
        if not touched and not _config_mentions_pre_push(root):
            return 0  # the idle path: nothing here for gitorch, and the defaults say no review
        if sys.flags.no_site:  # started by the installed hook without site-packages: there is work now
            import site

            site.main()
        from pathlib import Path

        from . import config as config_module

        cfg = config_module.load(cwd=Path(root), env=env)
        fail_open, secrets = cfg.pre_push.fail_open, cfg.secrets.values()
        return _act(cfg, Path(root), args, ranges, env, err, tty)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # gitorch broke; the person's push matters more
        reason = exc.message if isinstance(exc, GitorchError) else f"{type(exc).__name__}: {exc}"
        from .redact import redact

        reason = redact(" ".join(str(reason).split()), secrets)
        if fail_open:
            _say(err, f"gitorch: pre-push check skipped, the push goes on ({reason})")
            return 0
        _say(err, f"gitorch: pre-push check failed and pre_push.fail_open is false, so the push stops: {reason}")
        if isinstance(exc, GitorchError) and exc.hint:
            _say(err, f"hint: {exc.hint}")
        _say(err, "hint: push anyway with GITORCH_SKIP=1 git push")
        return 1


def _act(cfg, root: Path, args: HookArgs, ranges, env: Mapping[str, str], err: IO[str], tty) -> int:
    from . import tasks

    status = 0
    if cfg.pre_push.tasks != "off":
        work = tasks.work_in_push(root, ranges, env)
        if work:
            _handle_tasks(cfg, root, args, work, env, err, tty)
    if cfg.pre_push.review != "off":
        status = _review(cfg, root, ranges, err)
    return status


def _router(cfg, root: Path, url: str | None):
    from .routing import Router, repo_key
    from .store import open_store

    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    return Router(cfg, open_store(cfg), repo_key(root, url))


def _ask(tty, prompt: str) -> str:
    tty.write(prompt)
    tty.flush()
    answer = tty.readline()
    if not answer:
        raise EOFError
    return answer.strip().lower()


def _handle_tasks(cfg, root: Path, args: HookArgs, work, env, err: IO[str], tty) -> None:
    from . import tasks
    from .model import AGENTS

    router = _router(cfg, root, args.url)
    chosen = []
    manual = False
    _say(err, f"gitorch: this push adds {len(work)} TASK.md item{'s' if len(work) != 1 else ''}:")
    for item in work:
        decision = router.route(item.description())
        agent = item.agent or decision.agent
        hint = (f" (asked for @{item.agent}; the router suggests {decision.agent})"
                if item.agent and item.agent != decision.agent else "")
        _say(err, f"  - {item.text}\n    -> {agent}{hint}: {decision.task_type}, confidence "
                  f"{decision.confidence:.0%}, est. ${decision.estimated_cost_usd:.2f} "
                  f"(saves ${decision.estimated_saving_usd:.2f} against Claude alone)")
        if tty is not None:
            while True:
                try:
                    answer = _ask(tty, "    [p]roceed, [o]verride, [e]xplain? ")
                except EOFError:
                    answer = "p"
                if answer in ("", "p", "proceed", "y", "yes"):
                    break
                if answer in ("e", "explain"):
                    _say(err, f"    {decision.reasoning}")
                    scores = ", ".join(f"{a} {s:.0f}" for a, s in sorted(decision.scores.items(),
                                                                         key=lambda kv: -kv[1]))
                    _say(err, f"    scores: {scores}")
                    continue
                if answer in ("o", "override"):
                    try:
                        picked = _ask(tty, f"    agent ({', '.join(AGENTS)}): ")
                    except EOFError:
                        break
                    if picked in AGENTS:
                        agent = picked
                        router.feedback(decision.id, override_agent=picked)
                        _say(err, f"    -> {picked} (the router learns from this)")
                        break
                    _say(err, f"    '{picked}' is not an agent")
                    continue
                _say(err, "    answer p, o or e")
        elif decision.manual and not item.agent:
            manual = True
        chosen.append(tasks.with_agent(item, agent))
    task_file = write_task_file(cfg, chosen)
    if cfg.pre_push.tasks != "run" or manual:
        why = ("suggestions only (pre_push.tasks: suggest)" if cfg.pre_push.tasks != "run" else
               "the router is not sure enough to start on its own and there is no terminal to ask")
        _say(err, f"gitorch: {why}; to start them: gitorch run --task-file {task_file}")
        return
    log = start_run(root, task_file, env)
    _say(err, f"gitorch: started a run for {len(chosen)} item{'s' if len(chosen) != 1 else ''} in the background; "
              f"follow it with: tail -f {log}")


def write_task_file(cfg, items) -> Path:
    """The items a push asked for (with the agents chosen) as a TASK.md of their own."""
    import time

    from . import tasks

    folder = cfg.state_dir / "hook"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-TASK.md")
    path.write_text(tasks.render(items, title="Tasks from a push"), encoding="utf-8")
    return path


def start_run(root: Path, task_file: Path, env: Mapping[str, str]) -> Path:
    """Start ``gitorch run --task-file`` detached from the push (it outlives the hook); returns its log."""
    log = task_file.with_name(task_file.name.removesuffix("-TASK.md") + ".log")
    with open(log, "ab") as out:
        subprocess.Popen([sys.executable, "-m", "gitorch", "run", "--task-file", str(task_file), "--yes"],
                         cwd=root, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         env=no_git_env(env), start_new_session=True)
    return log


def _review(cfg, root: Path, ranges, err: IO[str]) -> int:
    """Claude reviews what the push adds; returns 1 to stop the push (review: block, rejected)."""
    from . import gitops
    from .agents.claude import ClaudeArchitect, budget_gate, record_call
    from .store import open_store

    diffs: list[str] = []
    files: dict[str, str | None] = {}
    for r in ranges:
        rng = gitops.diff_commits(root, r.base, r.head)
        if rng.diff:
            diffs.append(rng.diff)
            files.update(rng.files)
    if not files:
        return 0
    diff = "\n".join(diffs)
    architect = ClaudeArchitect(cfg)  # a missing key fails here, before anything is printed
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(cfg)
    for alert in budget_gate(store, cfg, cfg.models.review, len(diff) // 4 + 4000):
        _say(err, f"gitorch: {alert}")
    _say(err, f"gitorch: Claude is reviewing the outgoing change ({len(files)} file{'s' if len(files) != 1 else ''})...")
    result = architect.review(None, diff, files)
    record_call(store, cfg, result, step="pre-push-review", task_type="review")
    review = result.review
    if review.verdict == "approve":
        _say(err, f"gitorch: review approves: {review.summary}")
        return 0
    _say(err, f"gitorch: review rejects: {review.summary}")
    for verdict in review.artifacts:
        if not verdict.approved:
            _say(err, f"  {verdict.path}: {verdict.notes or 'rejected'}")
    for comment in review.comments:
        _say(err, f"  {comment.path}:{comment.line}: {comment.body}")
    for task in review.fix_tasks:
        _say(err, f"  to fix: {task.description}")
    if cfg.pre_push.review == "block":
        _say(err, "gitorch: push stopped (pre_push.review: block); fix the above, or push anyway with "
                  "GITORCH_SKIP=1 git push")
        return 1
    _say(err, "gitorch: pushing anyway (pre_push.review: warn)")
    return 0


def main(argv: list[str], stdin: IO[bytes], env: Mapping[str, str]) -> int:
    """Entry point for ``python -m gitorch hook pre-push``: reads stdin once and finds a terminal."""
    from_pre_commit = bool(env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH"))
    data = b"" if from_pre_commit or stdin.isatty() else stdin.read()  # never wait on a person's terminal
    tty = None
    if sys.stderr.isatty() and not env.get("CI"):
        try:
            tty = open("/dev/tty", "r+", encoding="utf-8")
        except OSError:
            tty = None
    try:
        return run_pre_push(argv, data, env, tty=tty)
    finally:
        if tty is not None:
            tty.close()
