"""`gitorch demo`: the whole loop on a throwaway repository, against local stand-ins, with no keys.

Everything gitorch does here is real: the anthropic SDK talks HTTP to a local Messages API, Playwright
drives Debian's Chromium on a local ChatGPT-like page, commits are written with pygit2 and pushed
with git to a local bare remote, and the GitHub client talks to a local REST double. Only the
answers are scripted (``simulate/demo_scenario.py``). The same set-up serves the end-to-end tests
and ``bench/pipeline.py``.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .simulate import demo_scenario
from .simulate.anthropic_api import AnthropicServer, DemoScenario, Reply

DEMO_KEY = "sk-ant-local-stand-in-key-not-a-secret"


class ScriptedArchitect(DemoScenario):
    """Plans the demo's issue with the scripted plan and reviews like DemoScenario (it rejects
    unfinished work). ``latency_s`` is added to every answer, for benchmarks."""

    def __init__(self, plan: dict[str, Any] | None = None, latency_s: float = 0.0):
        self._plan = plan or demo_scenario.PLAN
        self.latency_s = latency_s

    def __call__(self, body: dict[str, Any]) -> Reply:
        if self.latency_s:
            time.sleep(self.latency_s)
        return super().__call__(body)

    def plan(self, body: dict[str, Any], last: str) -> dict[str, Any]:
        return self._plan


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Demo Person", "GIT_AUTHOR_EMAIL": "person@example.com",
           "GIT_COMMITTER_NAME": "Demo Person", "GIT_COMMITTER_EMAIL": "person@example.com",
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def make_repository(root: Path, files: dict[str, str] | None = None, config_yaml: str = "") -> Path:
    """A repository with ``files`` committed on main, and a bare remote ``origin`` it was pushed to."""
    repo = root / "shop"
    remote = root / "origin.git"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(repo, "init", "-q", "-b", "main")
    for path, text in (files or demo_scenario.REPO_FILES).items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if config_yaml:
        (repo / ".gitorch.yml").write_text(config_yaml, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "A small shop")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return repo


DEMO_CONFIG = """\
# The demo's configuration: the repository's own tests check every result before Claude reviews it.
verify:
  command: python -m pytest -q -p no:cacheprovider
  timeout_s: 120
pipeline:
  parallelism: 2
  max_review_rounds: 2
"""


@dataclass
class StandIns:
    """The local stand-ins, started together and stopped together."""

    architect: ScriptedArchitect = field(default_factory=ScriptedArchitect)
    builder_answer: Callable[[str], str] = demo_scenario.builder_answer
    builder_latency_s: float = 0.0
    github: bool = False
    github_git_dir: str | None = None  # the bare remote the double reads branches and diffs from
    api: AnthropicServer | None = None
    page: Any = None
    hub: Any = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> StandIns:
        from .simulate.chatgpt_page import ChatGPTPage

        self.api = self._stack.enter_context(AnthropicServer(scenario=self.architect))
        delay = max(self.builder_latency_s, 0.02)
        self.page = self._stack.enter_context(ChatGPTPage(first_token_delay_s=delay, chunk_delay_s=0.005,
                                                          chunk_chars=400))
        self.page.respond(self.builder_answer)
        if self.github:
            from .simulate.github_api import GitHubDouble

            self.hub = self._stack.enter_context(GitHubDouble(owner="demo", repo="shop",
                                                              git_dir=self.github_git_dir))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def env(self, state: Path) -> dict[str, str]:
        """The environment that points gitorch at the stand-ins."""
        assert self.api is not None and self.page is not None
        env = {"ANTHROPIC_API_KEY": DEMO_KEY, "ANTHROPIC_BASE_URL": self.api.base_url,
               "CHATGPT_URL": self.page.url, "CHATGPT_SESSION_DIR": str(state / "chatgpt-profile"),
               "GITORCH_HOME": str(state)}
        if self.hub is not None:
            env["GITHUB_API_URL"] = self.hub.base_url
        return env


def new_workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="gitorch-demo-"))
