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

from . import demo_scenario
from .anthropic_api import AnthropicServer, DemoScenario, Reply

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
    codex: bool = False  # also the OpenAI Responses stand-in, for the Codex builder
    api: AnthropicServer | None = None
    responses: Any = None
    page: Any = None
    hub: Any = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> StandIns:
        from .chatgpt_page import ChatGPTPage

        self.api = self._stack.enter_context(AnthropicServer(scenario=self.architect))
        delay = max(self.builder_latency_s, 0.02)
        self.page = self._stack.enter_context(ChatGPTPage(first_token_delay_s=delay, chunk_delay_s=0.005,
                                                          chunk_chars=400))
        self.page.respond(self.builder_answer)
        if self.codex:
            from . import openai_responses

            self.responses = self._stack.enter_context(openai_responses.ResponsesServer(
                openai_responses.DemoScenario(), latency_s=self.builder_latency_s))
        if self.github:
            from .github_api import GitHubDouble

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
        if self.responses is not None:
            env.update(self.responses.env())
        return env


def codex_binary() -> str:
    """The Codex CLI: on PATH, or the pinned one the project's npm packages installed."""
    import shutil

    from ..errors import GitorchError

    found = shutil.which("codex")
    local = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "codex"
    if found:
        return found
    if local.exists():
        return str(local)
    raise GitorchError("the Codex CLI is not installed", hint="npm install -g @openai/codex@0.169.0 "
                       "(or run 'bash .ci/install' in a checkout), then try again")


def new_workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="gitorch-demo-"))


def run_demo(console: Any, builder: str = "chatgpt-pro") -> dict[str, Any]:
    """The original design's email-notification example, end to end, told as it happens."""
    from rich.panel import Panel
    from rich.table import Table

    from .. import config as config_module
    from ..cli.display import RichProgress, run_table
    from ..commands.table import Ask, Context, dispatch
    from ..github.rest import RestProvider
    from ..routing.panel import render as render_decision
    from ..store import open_store

    started = time.monotonic()
    console.print(Panel(
        "Everything below runs for real: the anthropic SDK, Playwright driving headless Chromium, pygit2 "
        "commits, git push, and a GitHub client.\n[bold]The agents are local stand-ins[/] on 127.0.0.1 "
        "(a Messages API, a ChatGPT-like page, a GitHub REST double) with scripted answers: no key, no "
        "network, no cost.", title="gitorch demo", border_style="cyan"))
    workspace = new_workspace()
    repo = make_repository(workspace, config_yaml=DEMO_CONFIG)
    binary = codex_binary() if builder == "codex" else None
    with StandIns(github=True, github_git_dir=str(workspace / "origin.git"), codex=builder == "codex") as standins:
        hub = standins.hub
        hub.set_file(".gitorch.yml", DEMO_CONFIG)
        issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])
        env = {**standins.env(workspace / "state"), "GITHUB_TOKEN": "ghs_" + "0" * 36}
        cfg = config_module.load(cwd=repo, env=env)
        cfg.agents.builder = builder
        if binary is not None:
            cfg.codex.binary = binary
        console.print(f"\n[bold]Issue #{issue}[/] on {hub.full_name}: {demo_scenario.ISSUE_TITLE}\n"
                      f"[dim]{demo_scenario.ISSUE_BODY}[/]\n")
        store = open_store(cfg)
        text = f"{demo_scenario.ISSUE_TITLE}\n\n{demo_scenario.ISSUE_BODY}"
        with Context(cfg, store, repo, github=RestProvider(cfg, hub.full_name),
                     progress=RichProgress(console)) as ctx:
            decision = ctx.router.route(text)
            console.print(render_decision(decision))
            console.print("[dim]A maintainer answers /gitorch proceed.[/]\n")
            result = dispatch(ctx, Ask("task", text=text, title=demo_scenario.ISSUE_TITLE, issue=issue,
                                       decision_id=decision.id, confirmed=True)).run

        console.print()
        console.print(run_table(result))
        branch = result.run.branch or ""
        console.print(f"\n[bold]Commits on {branch}[/]")
        console.print(git(repo, "log", "--format=  %h %s  [%(trailers:key=Gitorch-Agent,valueonly,separator=)]",
                          f"main..{branch}").rstrip())
        for review in result.reviews:
            console.print(f"\n[bold]Review, round {review.round}: {review.verdict}[/]  {review.summary}")
            for v in review.artifacts:
                mark = "[green]approved[/]" if v.approved else "[red]rejected[/]"
                console.print(f"  {mark} {v.path}: [dim]{v.notes}[/]")
            for c in review.comments:
                console.print(f"  [yellow]comment[/] {c.path}:{c.line} {c.body}")
        pr = result.run.pr_number
        statuses = [s["state"] for s in hub.commit_statuses(hub.pulls[pr]["head"]["sha"])] if pr else []
        cost = Table(title="Cost against Claude alone")
        for column in ("agent", "calls", "tokens", "cost", "Claude-only cost"):
            cost.add_column(column, justify="right" if column != "agent" else "left")
        metrics = store.run_metrics(result.run.id)
        for agent in sorted({m.agent for m in metrics}):
            rows = [m for m in metrics if m.agent == agent]
            cost.add_row(agent, str(len(rows)), f"{sum(m.usage.total_tokens for m in rows):,}",
                         f"${sum(m.cost_usd for m in rows):.4f}", f"${sum(m.baseline_cost_usd for m in rows):.4f}")
        console.print()
        console.print(cost)
        saving = result.baseline_cost_usd - result.cost_usd
        pct = saving / result.baseline_cost_usd * 100 if result.baseline_cost_usd else 0.0
        console.print(f"Spent ${result.cost_usd:.4f}; Claude alone would have cost ${result.baseline_cost_usd:.4f}: "
                      f"saved ${saving:.4f} ({pct:.0f}%).")
        console.print(f"\nPull request #{pr} on the REST double: {len(hub.pull_reviews(pr)) if pr else 0} reviews, "
                      f"status gitorch/review = {statuses[-1] if statuses else '-'}; issue labels: "
                      f"{', '.join(hub.issue_labels(issue))}.")
        if result.verify:
            console.print(f"The repository's tests on the result: `{result.verify.command}` exited "
                          f"{result.verify.exit_code}.")
        elapsed = time.monotonic() - started
        console.print(f"\nThe repository is at [bold]{repo}[/] (look at it: git -C {repo} log {branch}); "
                      f"done in {elapsed:.0f}s.")
        return {"repo": str(repo), "branch": branch, "pr_number": pr, "verdict": result.run.verdict,
                "rounds": result.run.rounds, "commits": len(result.commits), "cost_usd": result.cost_usd,
                "baseline_cost_usd": result.baseline_cost_usd, "seconds": round(elapsed, 1)}
