"""The repository a run works on, as ``gitorch.ports.GitRepo``: reads at a commit, branch commits,
pushes, edits checked against the tree, the repository's context for the architect, and its test
command run in a scratch tree."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import repo_key
from ..edits import apply_edits
from ..model import CommitResult, Edit, PushResult, RangeDiff, Verification
from ..redact import redact
from .command import no_git_env
from .context import build_context
from .repo import (
    branch_name,
    branch_tip,
    commit_artifacts,
    fetch_branch,
    push_branch,
    range_diff,
    read_file,
    read_files,
    remote_branches,
    resolve,
    task_commits,
)
from .scratch import checkout as scratch_checkout
from .scratch import git_env as scratch_git_env
from .taskfile import parse, tick


class Repository:
    """The repository at ``path`` with the configuration's branch prefix, identity, remote, token and
    edit rules: what a run reads, commits, pushes and checks, in one object."""

    def __init__(self, path: str | os.PathLike[str], config: Any):
        self.path = Path(path)
        self.config = config
        self._key: str | None = None

    @property
    def key(self) -> str:
        """``owner/name`` from the origin remote's URL, else the folder's name (what the router
        learns under and what the dashboard links)."""
        if self._key is None:
            self._key = repo_key(self.path)
        return self._key

    @property
    def _token(self) -> str | None:
        token = self.config.secrets.github_token
        return token.get_secret_value() if token else None

    def resolve(self, rev: str) -> str:
        return resolve(self.path, rev)

    def branch_for(self, run_id: str, title: str) -> str:
        return branch_name(self.config.git.branch_prefix, run_id, title)

    def branch_tip(self, branch: str) -> str | None:
        return branch_tip(self.path, branch)

    def read_files(self, rev: str, paths: list[str]) -> dict[str, str | None]:
        return read_files(self.path, rev, paths)

    def read_file(self, rev: str, path: str) -> str | None:
        return read_file(self.path, rev, path)

    def diff(self, since: str, head: str) -> RangeDiff:
        return range_diff(self.path, f"{since}..{head}")

    def commit(self, *, branch: str, parent: str, artifacts: Mapping[str, str | None], description: str,
               run_id: str, task_id: str, agent: str) -> CommitResult:
        git = self.config.git
        return commit_artifacts(self.path, branch=branch, parent=parent, artifacts=artifacts,
                                description=description, run_id=run_id, task_id=task_id, agent=agent,
                                author_name=git.author_name, author_email=git.author_email,
                                allow_workflow_files=self.config.edits.allow_workflow_files,
                                secret_files=tuple(self.config.edits.secret_files), owned=True)

    def fetch_branch(self, branch: str) -> str | None:
        return fetch_branch(self.path, branch, remote=self.config.git.remote, token=self._token)

    def remote_branch(self, prefix: str) -> str | None:
        """The run branch on the remote whose name starts with ``prefix`` (``gitorch/<run id>-``)."""
        found = remote_branches(self.path, prefix, remote=self.config.git.remote, token=self._token)
        return found[0] if found else None

    def task_commits(self, branch: str, run_id: str, base: str) -> list[tuple[str, str, str]]:
        """The run's task commits on ``branch`` (as fetched), oldest first: (task id, agent, commit)."""
        tip = self.branch_tip(branch)
        return task_commits(self.path, tip, run_id, stop=base) if tip else []

    def push_branch(self, branch: str) -> PushResult:
        return push_branch(self.path, branch, remote=self.config.git.remote,
                           branch_prefix=self.config.git.branch_prefix, token=self._token)

    def tick_tasks(self, *, branch: str, task_file: str, task_ids: list[str], run_id: str) -> CommitResult | None:
        """Tick off the items ``task_ids`` of ``task_file`` as it is at the branch's tip, in one commit
        (None: the file is not there)."""
        tip = self.branch_tip(branch)
        text = self.read_file(tip, task_file) if tip else None
        if text is None:
            return None
        wanted = set(task_ids)
        items = [i for i in parse(text, strict=False).items if i.task_id in wanted]
        return self.commit(branch=branch, parent=tip, artifacts={task_file: tick(text, items)},
                           description=f"Tick off {len(items)} {task_file} item(s)", run_id=run_id,
                           task_id="task-md", agent="gitorch")

    def apply_edits(self, edits: list[Edit], files: Mapping[str, str]) -> dict[str, str | None]:
        return apply_edits(edits, files, self.path, self.config.edits)

    def context(self, task: str, commit: str) -> str:
        return build_context(self.path, task, budget=self.config.anthropic.plan_context_tokens, rev=commit,
                             secrets=self.config.secrets.values(), secret_files=self.config.edits.secret_files).text


    def verify(self, commit: str, command: str, timeout_s: float) -> Verification:
        """Run the repository's test command on ``commit`` in a scratch tree (never the person's): it
        runs code a model wrote. The tree is a repository of its own that borrows the checkout's
        objects, so none of the checkout's git config (``http.<url>.extraheader`` tokens, credential
        helpers, remotes with passwords) is there; git reads no global or system config in it; the
        repository's secret files are taken out of it; and the environment holds no variable the
        secret policy calls a credential."""
        policy = self.config.secrets.policy
        env = policy.env_for_code(no_git_env(), self.config.verify.env_keep)
        with tempfile.TemporaryDirectory(prefix="gitorch-verify-") as scratch:
            tree = Path(scratch) / "tree"
            scratch_checkout(self.path, commit, tree, policy, env)
            env = scratch_git_env(tree, env)
            started = time.monotonic()
            try:
                proc = subprocess.run(command, shell=True, cwd=tree, capture_output=True, text=True,
                                      timeout=timeout_s, env=env)
                exit_code, output = proc.returncode, proc.stdout + proc.stderr
            except subprocess.TimeoutExpired as exc:
                exit_code = 124
                out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                output = out + f"\n(timed out after {timeout_s:.0f}s)"
        tail = "\n".join(output.strip().splitlines()[-40:])
        return Verification(command=command, exit_code=exit_code, tail=redact(tail, policy.values()),
                            duration_s=round(time.monotonic() - started, 2))
