"""What the pre-push hook does on each push (installing it is ``gitorch.git.hook``).

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

from ..errors import GitorchError
from ..git.command import HOOK_NAME, LEGACY_SUFFIX, RUNNING_ENV, SKIP_ENV, no_git_env
from ..git.push import parse_ref_lines, push_ranges, range_from_pre_commit

if TYPE_CHECKING:  # the idle path imports only os, sys and subprocess: no pathlib, dataclasses, typing IO
    from pathlib import Path
    from typing import IO, Any


def _say(err: IO[str], text: str) -> None:
    print(text, file=err, flush=True)


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

        from .. import config as config_module

        cfg = config_module.load(cwd=Path(root), env=env)
        fail_open, secrets = cfg.pre_push.fail_open, cfg.secrets.values()
        return _act(cfg, Path(root), args, ranges, env, err, tty)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # gitorch broke; the person's push matters more
        reason = exc.message if isinstance(exc, GitorchError) else f"{type(exc).__name__}: {exc}"
        from ..redact import redact

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
    from ..git.tasks import work_in_push

    status = 0
    if cfg.pre_push.tasks != "off":
        work = work_in_push(root, ranges, env)
        if work:
            _handle_tasks(cfg, root, args, work, env, err, tty)
    if cfg.pre_push.review != "off":
        status = _review(cfg, root, ranges, err)
    return status


def _router(cfg, root: Path, url: str | None):
    from ..routing import Router, repo_key
    from ..store import open_store

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
    from ..git import taskfile
    from ..model import AGENTS

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
        chosen.append(taskfile.with_agent(item, agent))
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

    from ..git import taskfile

    folder = cfg.state_dir / "hook"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-TASK.md")
    path.write_text(taskfile.render(items, title="Tasks from a push"), encoding="utf-8")
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
    from ..agents.claude import ClaudeArchitect
    from ..git.repo import diff_commits
    from ..run.assemble import paying
    from ..run.review import review_change
    from ..store import open_store

    diffs: list[str] = []
    files: dict[str, str | None] = {}
    for r in ranges:
        rng = diff_commits(root, r.base, r.head)
        if rng.diff:
            diffs.append(rng.diff)
            files.update(rng.files)
    if not files:
        return 0
    architect = ClaudeArchitect(cfg)  # a missing key fails here, before anything is printed
    cfg.state_dir.mkdir(parents=True, exist_ok=True)

    def say(alerts: list[str]) -> None:
        for alert in alerts:
            _say(err, f"gitorch: {alert}")

    _say(err, f"gitorch: Claude is reviewing the outgoing change ({len(files)} file{'s' if len(files) != 1 else ''})...")
    store = open_store(cfg)
    try:
        with paying(cfg, store) as ledger:
            review = review_change(architect, ledger, cfg, None, "\n".join(diffs), files, ledger.gate(alerts=say),
                                   repo_context="", step="pre-push-review").review
    finally:
        store.close()
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
