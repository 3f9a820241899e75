"""Configuration: `.gitorch.yml` over documented defaults, environment variables over both.

This is the only module that reads environment variables or the config file. Everything else gets a
``Config`` (or a part of it) passed down. Every default lives in the models below, each with its
description; ``gitorch init`` writes the commented file from them, so the two cannot drift apart.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .secrets import SecretPolicy

CONFIG_FILE = ".gitorch.yml"
MAX_CONFIG_BYTES = 256 * 1024
MAX_CONFIG_DEPTH = 32
MAX_CONFIG_VALUES = 10_000


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# The architectural concerns a change may touch: name -> patterns (regular expressions, case-insensitive)
# matched on the paths it changes and on the text that says what it is about. `models.ladder.concerns`
# in .gitorch.yml adds names or replaces a name's patterns (an empty list turns one off).
CONCERNS: dict[str, list[str]] = {
    "authentication": [r"\bauth(?:entication|enticate|orization|orize|n|z)?\b", r"\blog ?in\b", r"\bpasswords?\b",
                       r"\boauth", r"\bjwt\b", r"\bcredentials?\b", r"\bsessions?\b"],
    "payments": [r"\bpayments?\b", r"\bbilling\b", r"\binvoices?\b", r"\brefunds?\b", r"\bcheckout\b", r"\bstripe\b"],
    "schemas and migrations": [r"\bmigrations?\b", r"\bschemas?\b", r"\balter table\b", r"\.sql$"],
    "concurrency": [r"\bconcurren", r"\bthread(?:s|ing)?\b", r"\bmutex\b", r"\block(?:s|ing)\b", r"\brace condition"],
    "security": [r"\bsecurity\b", r"\bsecrets?\b", r"\bencrypt", r"\bcrypto", r"\bpermissions?\b", r"\binjection\b",
                 r"\bcsrf\b", r"\bxss\b", r"\bsanitiz"],
    "public API": [r"\bpublic api\b", r"\bbreaking change", r"(?:^|/)api/", r"\bendpoints?\b", r"\bopenapi\b"],
}


class LadderConfig(Section):
    enabled: bool = Field(True, description="choose the architect's model per call from the work; false: plans "
                          "on models.plan and reviews on models.review, one model")
    rungs: list[str] = Field(default_factory=lambda: ["claude-haiku-5-5", "claude-sonnet-5-5"],
                             description="Claude models from the cheapest up; small, low-risk work starts on the "
                             "first, the rest one rung higher, and a rung that rejects or is unsure hands over to "
                             "the next")
    small_task_tokens: int = Field(800, ge=0, description="a request up to this many tokens (estimated) is planned "
                                   "on the first rung")
    small_diff_lines: int = Field(300, ge=0, description="a change of up to this many added and removed lines is "
                                  "reviewed on the first rung (when its tests pass and no concern is touched)")
    unsure_below: float = Field(0.7, ge=0, le=1, description="a review whose own confidence is below this is "
                                "unsure: the next rung reviews again")
    concerns: dict[str, list[str]] = Field(default_factory=dict, description="architectural concerns added to or "
                                           "replacing the built-in ones (name: [regular expressions on paths and "
                                           "text]); a touched concern starts one rung up")

    @field_validator("rungs")
    @classmethod
    def _rungs(cls, value: list[str]) -> list[str]:
        rungs = [r.strip() for r in value]
        if not rungs:
            raise ValueError("list at least one Claude model, the cheapest first, e.g. [claude-haiku-5-5, "
                             "claude-sonnet-5-5]")
        if any(not r for r in rungs):
            raise ValueError("a rung is empty: each rung is a Claude model id")
        twice = sorted({r for r in rungs if rungs.count(r) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} is listed more than once: each model is one rung")
        return rungs

    @field_validator("concerns")
    @classmethod
    def _patterns(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        import re

        for name, patterns in value.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"concern '{name}': {pattern!r} is not a regular expression ({exc})") from None
        return value

    def all_concerns(self) -> dict[str, list[str]]:
        """The built-in concerns with this file's on top (an empty list turns one off)."""
        merged = {**CONCERNS, **self.concerns}
        return {name: patterns for name, patterns in merged.items() if patterns}


class ModelsConfig(Section):
    plan: str = Field("claude-sonnet-5-5", description="Claude model that writes plans when the ladder is off (one model for plan and review shares the prompt cache)")
    review: str = Field("claude-sonnet-5-5", description="Claude model that reviews the builder's work when the ladder is off")
    build: str = Field("claude-sonnet-5-5", description="Claude model used when Claude builds (fallback or routed), and the rates of the Claude-alone baseline")
    ladder: LadderConfig = Field(default_factory=LadderConfig, description="the architect's model ladder")

    def in_use(self) -> list[tuple[str, str]]:
        """Every configured model with the key that sets it: plan, review and build, then the ladder's rungs."""
        found = [(f"models.{key}", getattr(self, key)) for key in ("plan", "review", "build")]
        return found + [(f"models.ladder.rungs[{i}]", rung) for i, rung in enumerate(self.ladder.rungs)]

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: Any) -> Any:
        """``models.classify`` was written by earlier `gitorch init`s but never used: accepted, with a
        warning, so those files still load."""
        if isinstance(data, dict) and "classify" in data:
            logging.getLogger("gitorch.config").warning(
                "models.classify in .gitorch.yml is not used by gitorch; remove the line")
            data = {k: v for k, v in data.items() if k != "classify"}
        return data


class AgentsConfig(Section):
    builder: Literal["chatgpt-pro", "codex", "claude"] = Field(
        "chatgpt-pro", description="who writes the code: chatgpt-pro (browser), codex (Codex CLI) or claude"
    )
    fallback: list[Literal["chatgpt-pro", "codex", "claude"]] = Field(
        default_factory=lambda: ["claude"], description="builders tried in order when the builder fails"
    )
    allow_claude_fallback: bool = Field(True, description="let Claude build a task the builder could not do")


Strategy = Literal["learned", "keywords", "neighbours"]
STRATEGIES: tuple[str, ...] = ("learned", "keywords", "neighbours")


class RoutingConfig(Section):
    strategy: Strategy = Field(
        "learned", description="learned (default), keywords (the original design's baseline) or neighbours "
        "(this repository's own past decisions)"
    )
    shadow: list[Strategy] = Field(
        default_factory=list, description="strategies run beside the chosen one on every decision, stored and "
        "scored from feedback but never acted on (compare them with `gitorch stats`)"
    )
    auto: bool = Field(True, description="act on a suggestion without asking when confident [AUTO_ROUTING_ENABLED]")
    min_confidence_for_auto: float = Field(
        0.8, ge=0, le=1, description="confidence needed to act without asking [MIN_CONFIDENCE_FOR_AUTO]"
    )
    learning: bool = Field(True, description="learn from overrides and outcomes [ENABLE_LEARNING]")
    manual_below_accuracy: float = Field(
        0.6, ge=0, le=1, description="below this accuracy over the window, always ask (manual mode)"
    )
    accuracy_window: int = Field(50, ge=1, description="decisions the accuracy check looks back over")
    large_codebase_files: int = Field(500, ge=1, description="files from which a repository counts as large")

    @model_validator(mode="after")
    def _shadows_differ(self) -> RoutingConfig:
        if self.strategy in self.shadow:
            raise ValueError(f"routing.shadow lists {self.strategy!r}, which is already routing.strategy; "
                             "remove it from the shadows")
        if len(set(self.shadow)) != len(self.shadow):
            raise ValueError("routing.shadow names a strategy twice; list each once")
        return self


class BudgetConfig(Section):
    monthly_usd: float = Field(100.0, ge=0, description="monthly spending limit in USD [MONTHLY_BUDGET_USD]")
    daily_usd: float | None = Field(None, ge=0, description="daily limit in USD, none by default")
    per_run_usd: float | None = Field(5.0, ge=0, description="limit for one run in USD")
    alert_threshold_pct: float = Field(
        80.0, ge=0, le=100, description="alert when this share of a limit is spent [ALERT_THRESHOLD_PCT]"
    )
    builder_subscription_usd: float = Field(
        200.0, ge=0, description="the builder's flat monthly plan, amortised in reports (marginal cost 0)"
    )
    reservation_expiry_s: float = Field(
        900.0, gt=0, description="a paid call's reservation that its process left behind (a crash) stops "
        "counting against the limits after this many seconds"
    )
    webhook_url: SecretStr | None = Field(
        None, description="Slack-compatible webhook told each budget alert once; its address is a secret, so "
                          "prefer the environment [BUDGET_WEBHOOK_URL]"
    )
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="seconds one webhook attempt may take (3 attempts)")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_address(cls, value: SecretStr | None) -> SecretStr | None:
        """An https:// address (http:// only to this machine); the address itself is never repeated."""
        if value is None or not value.get_secret_value().strip():
            return None
        from urllib.parse import urlsplit

        url = value.get_secret_value().strip()
        if len(url) > 2048 or any(ch.isspace() or not ch.isprintable() for ch in url):
            raise ValueError("it must be one web address of at most 2048 visible characters, without spaces")
        parts = urlsplit(url)
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if not parts.hostname or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local):
            raise ValueError("it must be an https:// address (http:// only to this machine: localhost or "
                             "127.0.0.1)")
        return SecretStr(url)


class PriceConfig(Section):
    input: float = Field(..., ge=0, description="USD per million input tokens")
    output: float = Field(..., ge=0, description="USD per million output tokens")
    cache_write: float = Field(..., ge=0, description="USD per million cache-write tokens")
    cache_read: float = Field(..., ge=0, description="USD per million cache-read tokens")


class AnthropicConfig(Section):
    base_url: str | None = Field(None, description="API address; a local stand-in in tests [ANTHROPIC_BASE_URL]")
    max_retries: int = Field(2, ge=0, le=10, description="retries after the first attempt (3 attempts in all)")
    timeout_s: float = Field(600.0, gt=0, description="seconds one request may take")
    max_retry_after_s: float = Field(60.0, ge=0, description="longer retry-after waits defer the run instead")
    plan_context_tokens: int = Field(20000, ge=1000, description="token budget for repository context in a plan")
    review_context_tokens: int = Field(40000, ge=1000, description="token budget for a review's diff and files")
    max_output_tokens: int = Field(8192, ge=256, description="max tokens Claude may write per call")


class BrowserConfig(Section):
    url: str = Field("https://chatgpt.com/", description="the ChatGPT web app [CHATGPT_URL]")
    session_dir: str = Field("~/.gitorch/chatgpt-profile", description="browser profile that keeps the login [CHATGPT_SESSION_DIR]")
    executable: str = Field("/usr/bin/chromium", description="Chromium to drive")
    headless: bool = Field(True, description="run without a window")
    timeout_s: float = Field(120.0, gt=0, description="seconds to wait for one answer")
    settle_s: float = Field(0.5, gt=0, le=10, description="seconds an answer must stay unchanged, once streaming stops, to count as complete")
    pages: int = Field(1, ge=1, le=8, description="tasks answered at once, one page each")
    selectors: dict[str, str] = Field(default_factory=dict, description="overrides of the page's selectors")


class CodexConfig(Section):
    binary: str = Field("codex", description="the Codex CLI")
    home: str | None = Field(None, description="CODEX_HOME with auth.json kept between runs [CODEX_HOME]")
    timeout_s: float = Field(900.0, gt=0, description="seconds one task may take")
    model: str | None = Field(None, description="model Codex uses; its own default when empty [CODEX_MODEL]")
    base_url: str | None = Field(
        None, description="a Responses API address instead of the plan's own (a local stand-in) [CODEX_BASE_URL]"
    )
    mcp: bool = Field(True, description="give Codex the gitorch MCP server: it reads the plan there, not in its prompt")
    mcp_transport: Literal["http", "stdio"] = Field(
        "http", description="http: one server on 127.0.0.1 for the whole run (fast); stdio: 'gitorch mcp' per task"
    )


class GitConfig(Section):
    branch_prefix: str = Field("gitorch/", description="branches gitorch creates and may push")
    author_name: str = Field("gitorch", description="author and committer of gitorch's commits")
    author_email: str = Field("gitorch@users.noreply.github.com", description="their email")
    remote: str = Field("origin", description="remote to push run branches to")


class EditsConfig(Section):
    allow_workflow_files: bool = Field(False, description="let the builder change .github/workflows/")
    max_file_bytes: int = Field(512_000, ge=1, description="largest file the builder may write")
    secret_files: list[str] = Field(
        default_factory=list, max_length=200,
        description="more files never shown to a model nor written by one, as patterns (a name such as "
                    "'*.secret', or a path such as 'config/prod.yml'), added to the built-in list "
                    "(.env*, private keys, credential files; see docs/github.md)")

    @field_validator("secret_files")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        """Relative glob patterns of visible characters, each at most 200 long."""
        for pattern in value:
            if (not isinstance(pattern, str) or not pattern.strip() or len(pattern) > 200
                    or any(not ch.isprintable() for ch in pattern)):
                raise ValueError("each entry must be a pattern of 1 to 200 visible characters, such as "
                                 "'*.secret' or 'config/prod.yml'")
            if ".." in pattern.split("/"):
                raise ValueError(f"the pattern {pattern[:200]!r} contains '..'; patterns are relative to the "
                                 "repository root")
        return [p.strip() for p in value]


class GitHubConfig(Section):
    api_url: str = Field("https://api.github.com", description="REST API address [GITHUB_API_URL]")
    trigger_label: str = Field("gitorch", description="label that starts a run on an issue")
    trusted_associations: list[str] = Field(
        default_factory=lambda: ["OWNER", "MEMBER", "COLLABORATOR"],
        description="author_association values allowed to trigger",
    )
    allowed_bots: list[str] = Field(default_factory=list, description="bot logins allowed to trigger")
    runs_per_person_per_day: int = Field(20, ge=0, description="runs one person may start per day")


class PrePushConfig(Section):
    tasks: Literal["run", "suggest", "off"] = Field("suggest", description="TASK.md items in a push: run, suggest or off")
    review: Literal["block", "warn", "off"] = Field("off", description="review the outgoing diff: block, warn or off")
    fail_open: bool = Field(True, description="let the push go on when gitorch itself breaks")


class PipelineConfig(Section):
    max_review_rounds: int = Field(2, ge=1, le=10, description="review rounds before the run ends")
    parallelism: int = Field(2, ge=1, le=16, description="independent tasks built at once")
    plan_approval: Literal["auto", "required"] = Field("auto", description="build at once, or wait for approval")
    attempts: int = Field(3, ge=1, le=10, description="attempts per agent call before fallback")
    lease_s: float = Field(180.0, ge=10, le=3600, description="a run's claim lapses this many seconds after its "
                           "process last renewed it (a process that died); the next claimer continues the run")


class VerifyConfig(Section):
    command: str | None = Field(None, description="the repository's test command, run on the result")
    timeout_s: float = Field(600.0, gt=0, description="seconds it may take")
    env_keep: list[str] = Field(default_factory=list, description="environment variables the test command "
                                "keeps although their names or values look like credentials (all such are "
                                "removed: the command runs code a model wrote)")


class ConvexConfig(Section):
    url: str | None = Field(None, description="deployment URL, https://<name>.convex.cloud [CONVEX_URL]")
    timeout_s: float = Field(10.0, gt=0, description="seconds one Convex request may take")
    batch_size: int = Field(100, ge=1, le=1000, description="outbox records sent per request")
    interval_s: float = Field(5.0, gt=0, description="seconds between background drains when nothing new is written")
    park_after_refusals: int = Field(5, ge=1, description="a record Convex refuses this many times is parked: kept "
                                     "in SQLite, no longer sent, until 'gitorch sync --retry-parked'")
    retry_after_s: float = Field(300.0, gt=0, description="with a team (CONVEX_URL and its key): a run that cannot "
                                 "reach Convex to claim its run or reserve a paid call pauses this long")


class Secrets(BaseModel):
    """Taken from the environment only, never from the file; never printed. (The budget webhook's
    address may come from the file too: ``load`` copies it here so that it is redacted like the rest.)
    ``policy`` is the one secret policy (``gitorch.secrets``) of this configuration: ``values()``
    also holds what it finds in the repository's .env files, the environment and the checkout's git
    config."""

    model_config = ConfigDict(extra="forbid")
    _policy: Any = PrivateAttr(default=None)

    anthropic_api_key: SecretStr | None = None
    github_token: SecretStr | None = None
    convex_admin_key: SecretStr | None = None
    codex_api_key: SecretStr | None = None
    budget_webhook_url: SecretStr | None = None
    dashboard_token: SecretStr | None = None  # what the dashboard's page must send (GITORCH_DASHBOARD_TOKEN)

    def configured(self) -> list[str]:
        """Every secret that is set."""
        return [s.get_secret_value() for s in (self.anthropic_api_key, self.github_token,
                                               self.convex_admin_key, self.codex_api_key,
                                               self.budget_webhook_url, self.dashboard_token) if s]

    @property
    def policy(self) -> SecretPolicy:
        if self._policy is None:
            self._policy = SecretPolicy(self.configured())
        return self._policy

    def values(self) -> list[str]:
        """Every secret value to mask: the configured ones, and those the policy finds (once)."""
        return self.policy.values()


class Config(Section):
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="Claude model ids")
    agents: AgentsConfig = Field(default_factory=AgentsConfig, description="who builds, and the fallback order")
    routing: RoutingConfig = Field(default_factory=RoutingConfig, description="the router")
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="spending limits")
    prices: dict[str, PriceConfig] = Field(
        default_factory=dict, description="overrides of the dated price table, per model id"
    )
    anthropic: AnthropicConfig = Field(default_factory=AnthropicConfig, description="the Anthropic API")
    browser: BrowserConfig = Field(default_factory=BrowserConfig, description="the ChatGPT browser builder")
    codex: CodexConfig = Field(default_factory=CodexConfig, description="the Codex CLI builder")
    git: GitConfig = Field(default_factory=GitConfig, description="branches and commits")
    edits: EditsConfig = Field(default_factory=EditsConfig, description="what builder output may change")
    github: GitHubConfig = Field(default_factory=GitHubConfig, description="GitHub")
    pre_push: PrePushConfig = Field(default_factory=PrePushConfig, description="the local pre-push hook")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="the run")
    verify: VerifyConfig = Field(default_factory=VerifyConfig, description="checking the result before review")
    convex: ConvexConfig = Field(default_factory=ConvexConfig, description="the team mirror")

    # Not from the file: where things are.
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    repo_root: Path | None = Field(None, exclude=True)
    state_dir: Path = Field(Path("~/.gitorch").expanduser(), exclude=True)
    actions: ActionEnv = Field(default_factory=lambda: ActionEnv(), exclude=True)  # inside a GitHub Actions job?

    @property
    def db_path(self) -> Path:
        return self.state_dir / "state.db"


RUNTIME_FIELDS = frozenset({"secrets", "repo_root", "state_dir", "actions"})
# Keys whose values are secrets: an error about one never repeats the value.
SECRET_KEYS = frozenset({"budget.webhook_url"})

# Environment variable -> dotted key. Booleans and numbers are parsed by the models.
ENV_OVERRIDES: dict[str, str] = {
    "ANTHROPIC_BASE_URL": "anthropic.base_url",
    "CONVEX_URL": "convex.url",
    "MONTHLY_BUDGET_USD": "budget.monthly_usd",
    "ALERT_THRESHOLD_PCT": "budget.alert_threshold_pct",
    "AUTO_ROUTING_ENABLED": "routing.auto",
    "MIN_CONFIDENCE_FOR_AUTO": "routing.min_confidence_for_auto",
    "ENABLE_LEARNING": "routing.learning",
    "CHATGPT_SESSION_DIR": "browser.session_dir",
    "CHATGPT_URL": "browser.url",
    "GITHUB_API_URL": "github.api_url",
    "CODEX_HOME": "codex.home",
    "CODEX_BASE_URL": "codex.base_url",
    "CODEX_MODEL": "codex.model",
    "BUDGET_WEBHOOK_URL": "budget.webhook_url",
}
SECRET_ENV: dict[str, tuple[str, ...]] = {
    "anthropic_api_key": ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY"),
    "github_token": ("GITORCH_GITHUB_TOKEN", "GITHUB_TOKEN"),
    "convex_admin_key": ("CONVEX_ADMIN_KEY", "CONVEX_DEPLOY_KEY"),
    "codex_api_key": ("CODEX_API_KEY",),
    "dashboard_token": ("GITORCH_DASHBOARD_TOKEN",),
}


def find_state_dir(env: Mapping[str, str] | None = None, repo_root: Path | None = None) -> Path:
    """gitorch's own folder: GITORCH_HOME, else the repository's ``.git/gitorch``, else ``~/.gitorch``."""
    env = os.environ if env is None else env
    home = env.get("GITORCH_HOME")
    if home:
        return Path(home).expanduser()
    if repo_root is not None:
        return git_common_dir(repo_root) / "gitorch"
    return Path(env.get("HOME", "~")).expanduser() / ".gitorch"


def crash_context(cwd: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[Path, list[str]]:
    """Where a crash log goes and the secret values to mask in it, found without reading
    `.gitorch.yml` (which may be what failed): the state folder, and the secrets of the environment,
    of the repository's .env files and of its git config."""
    env = os.environ if env is None else env
    try:
        root = find_repo_root((cwd or Path.cwd()).resolve())
    except OSError:
        root = None
    try:
        folder = find_state_dir(env, root)
    except (OSError, IndexError):
        folder = Path(env.get("HOME", "~")).expanduser() / ".gitorch"
    configured = [env[v] for names in SECRET_ENV.values() for v in names if env.get(v)]
    configured += [env[v] for v in ("BUDGET_WEBHOOK_URL", "GITORCH_DASHBOARD_TOKEN") if env.get(v)]
    try:
        values = SecretPolicy(configured, repo_root=root, environ=env).values()
    except Exception:  # a crash log is written whatever else is broken
        values = configured
    return folder, values


def find_repo_root(start: Path) -> Path | None:
    """The working tree root above ``start`` (a folder holding a ``.git`` repository, or a worktree's
    ``.git`` file), without importing pygit2. An empty ``.git`` folder is not a repository."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if (dot_git / "HEAD").is_file() or (dot_git.is_file() and dot_git.read_text(errors="replace").startswith("gitdir:")):
            return folder
    return None


def repo_key(root: Path | str | None, remote_url: str | None = None) -> str:
    """The name the router learns under, the same from every entry point: ``owner/name`` from the
    remote's URL (so a laptop, the pre-push hook and a runner's checkout share what they learn),
    else the repository folder's name. Without ``remote_url``, the ``origin`` remote is asked."""
    if remote_url is None and root is not None:
        import subprocess

        proc = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"],
                              capture_output=True, text=True)
        remote_url = proc.stdout.strip() or None if proc.returncode == 0 else None
    if remote_url:
        tail = remote_url.rstrip("/").removesuffix(".git").replace(":", "/").split("/")
        if len(tail) >= 2 and tail[-1]:
            return f"{tail[-2]}/{tail[-1]}"
    return Path(root).name if root is not None else ""


def git_common_dir(repo_root: Path) -> Path:
    """``.git`` itself, or for a linked worktree the main repository's git dir."""
    dot_git = repo_root / ".git"
    if dot_git.is_dir():
        return dot_git
    gitdir = Path(dot_git.read_text().split(":", 1)[1].strip())
    if not gitdir.is_absolute():
        gitdir = (repo_root / gitdir).resolve()
    common = gitdir / "commondir"
    if common.exists():
        return (gitdir / common.read_text().strip()).resolve()
    return gitdir


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, last = dotted.split(".")
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[last] = value


def _describe(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys that exist where an unknown key was found."""
    current: Any = model
    for part in loc[:-1]:
        field = current.model_fields.get(str(part)) if isinstance(current, type) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        current = field.annotation
    return list(current.model_fields) if isinstance(current, type) else []


def _shown(value: Any) -> str:
    """A value as an error quotes it: a scalar, cut short; a list or mapping by its kind only (it may be
    huge, or built from aliases)."""
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key{'s' if len(value) != 1 else ''}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_yaml(path: Path) -> Any:
    """The YAML file at ``path``, bounded: at most ``MAX_CONFIG_BYTES``, UTF-8, nested at most
    ``MAX_CONFIG_DEPTH`` deep, and at most ``MAX_CONFIG_VALUES`` values once anchors and aliases are
    expanded (an "alias bomb" of a few hundred bytes is refused before anything is built from it)."""
    data = path.read_bytes()
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is {len(data):,} bytes; a configuration file may have at most "
                          f"{MAX_CONFIG_BYTES:,}", hint="keep only the keys you change (see 'gitorch init --print')")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path} is not UTF-8 text: byte {exc.start} (line {line}) cannot be read",
                          hint="save the file as UTF-8") from None
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{path} is nested too deeply", hint=f"a configuration needs at most "
                              f"{MAX_CONFIG_DEPTH} levels; check the brackets and indentation") from None
        if node is None:
            return None
        values, depth = _expanded(node)
        if values > MAX_CONFIG_VALUES:
            raise ConfigError(f"{path} holds more than {MAX_CONFIG_VALUES:,} values once its anchors and aliases "
                              f"(&name, *name) are expanded", hint="write the values out instead of nesting "
                              "aliases; .gitorch.yml needs no anchors")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{path} is nested {depth} levels deep; a configuration has at most "
                              f"{MAX_CONFIG_DEPTH}", hint="check the brackets and indentation")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded(root: yaml.Node) -> tuple[int, int]:
    """(values, depth) of a composed YAML document with every alias expanded, counted without
    expanding: each node once, its size from its children's (an iterative walk, no recursion)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size:
            continue
        if isinstance(node, yaml.ScalarNode):
            size[key], depth[key] = 1, 1
            continue
        kids = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value))
        if not children_done:
            if key in visiting:  # a node that contains itself (&a [*a]): endless once expanded
                return MAX_CONFIG_VALUES + 1, MAX_CONFIG_DEPTH + 1
            visiting.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)
            continue
        visiting.discard(key)
        size[key] = 1 + sum(size[id(k)] for k in kids)
        depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
    return size[id(root)], depth[id(root)]


def _config_error(err: ValidationError, source: str, env_keys: Mapping[str, str]) -> ConfigError:
    lines = []
    for item in err.errors():
        key = _describe(item["loc"])
        origin = next((f"environment variable {var}" for var, dotted in env_keys.items() if dotted == key), source)
        if item["type"] == "extra_forbidden":
            known = [k for k in _allowed_keys(Config, item["loc"]) if k not in RUNTIME_FIELDS]
            close = difflib.get_close_matches(str(item["loc"][-1]), known, n=1)
            guess = f" Did you mean '{close[0]}'?" if close else ""
            lines.append(f"{origin}: unknown key '{key}'.{guess} Allowed here: {', '.join(known)}.")
        elif key in SECRET_KEYS:
            lines.append(f"{origin}: '{key}' (value hidden) is not valid: {item['msg']}.")
        else:
            lines.append(f"{origin}: '{key}' = {_shown(item.get('input'))} is not valid: {item['msg']}.")
    return ConfigError(
        "invalid configuration:\n  " + "\n  ".join(lines),
        hint=f"fix {source} (run 'gitorch init --print' to see every key with its default and meaning)",
    )


def load(cwd: Path | None = None, env: Mapping[str, str] | None = None, file: Path | None = None) -> Config:
    """Read the configuration for the repository around ``cwd``.

    ``file`` names a config file explicitly (for `gitorch action`, which reads it from the default
    branch); otherwise `.gitorch.yml` at the repository root is used when it exists.
    """
    env = os.environ if env is None else env
    cwd = (cwd or Path.cwd()).resolve()
    repo_root = find_repo_root(cwd)
    path = file or (repo_root / CONFIG_FILE if repo_root else None)
    data: dict[str, Any] = {}
    source = str(path) if path else "defaults"
    if path is not None and path.exists():
        try:
            loaded = read_yaml(path)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{path} is not valid YAML{where}: {problem}",
                              hint="check the indentation and quoting on that line") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must be a mapping of keys to values, not {type(loaded).__name__}",
                              hint="start the file with a key such as 'routing:'")
        for key in RUNTIME_FIELDS & set(loaded):
            raise ConfigError(
                f"{path}: unknown key '{key}': it is not read from the file",
                hint="secrets come from environment variables only (ANTHROPIC_API_KEY, GITHUB_TOKEN, ...); "
                "the state folder from GITORCH_HOME",
            )
        data = loaded
    elif file is not None:
        raise ConfigError(f"config file {file} does not exist", hint="pass an existing file or drop --config")

    used_env: dict[str, str] = {}
    for var, dotted in ENV_OVERRIDES.items():
        value = env.get(var)
        if value not in (None, ""):
            _set_dotted(data, dotted, value)
            used_env[var] = dotted

    secrets: dict[str, str] = {}
    for name, variables in SECRET_ENV.items():
        for var in variables:
            if env.get(var):
                secrets[name] = env[var]
                break

    state_dir = find_state_dir(env, repo_root)

    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise _config_error(err, source, used_env) from None
    config.secrets = Secrets(**secrets, budget_webhook_url=config.budget.webhook_url)
    config.secrets._policy = SecretPolicy(config.secrets.configured(), extra_files=config.edits.secret_files,
                                          repo_root=repo_root, environ=env)
    config.repo_root = repo_root
    config.state_dir = state_dir
    config.actions = action_env(env)
    return config


def _yaml_scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _section_yaml(section: BaseModel, indent: str) -> list[str]:
    lines = []
    for sub, subfield in type(section).model_fields.items():
        value = getattr(section, sub)
        if isinstance(value, BaseModel):
            lines.append(f"{indent}{sub}:  # {subfield.description}")
            lines += _section_yaml(value, indent + "  ")
        else:
            lines.append(f"{indent}{sub}: {_yaml_scalar(value)}  # {subfield.description}")
    return lines


def default_yaml() -> str:
    """The commented default `.gitorch.yml`, generated from the models above."""
    out = [
        "# gitorch configuration. Every key is shown with its default; keep only what you change.",
        "# Environment variables named in [BRACKETS] override the file. Secrets (ANTHROPIC_API_KEY,",
        "# GITHUB_TOKEN, CONVEX_ADMIN_KEY, CODEX_API_KEY) come from the environment only.",
        "",
    ]
    defaults = Config()
    for name, field in Config.model_fields.items():
        if field.exclude:
            continue
        out.append(f"# {field.description}")
        value = getattr(defaults, name)
        if isinstance(value, BaseModel):
            out.append(f"{name}:")
            out += _section_yaml(value, "  ")
        else:
            out.append(f"{name}: {_yaml_scalar(value)}")
        out.append("")
    return "\n".join(out)


class ActionEnv(BaseModel):
    """What GitHub Actions tells a step through its environment (read here only)."""

    model_config = ConfigDict(frozen=True)

    event_name: str | None = None  # GITHUB_EVENT_NAME
    event_path: str | None = None  # GITHUB_EVENT_PATH
    repository: str | None = None  # GITHUB_REPOSITORY, owner/name
    step_summary: str | None = None  # GITHUB_STEP_SUMMARY, a file to append Markdown to
    output: str | None = None  # GITHUB_OUTPUT, a file to append name=value lines to
    server_url: str = "https://github.com"  # GITHUB_SERVER_URL
    run_id: str | None = None  # GITHUB_RUN_ID
    running: bool = False  # GITHUB_ACTIONS=true: inside a workflow job (annotations are read from the log)


def action_env(env: Mapping[str, str] | None = None) -> ActionEnv:
    """The GitHub Actions variables `gitorch action` uses."""
    env = os.environ if env is None else env
    return ActionEnv(
        event_name=env.get("GITHUB_EVENT_NAME") or None,
        event_path=env.get("GITHUB_EVENT_PATH") or None,
        repository=env.get("GITHUB_REPOSITORY") or None,
        step_summary=env.get("GITHUB_STEP_SUMMARY") or None,
        output=env.get("GITHUB_OUTPUT") or None,
        server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
        run_id=env.get("GITHUB_RUN_ID") or None,
        running=env.get("GITHUB_ACTIONS") == "true",
    )


Config.model_rebuild()  # ``Config.actions`` names ActionEnv, defined above
