"""`gitorch mcp`: the store served over the Model Context Protocol (stdio), with the official SDK.

What the next agent needs from what the previous one wrote: the active plan of a run and its tasks,
the artifacts waiting for review and their notes, the review of a round, the session's figures
(``gitorch.stats.compute``, the same as ``gitorch stats --json``) and the router's suggestion for a
text. Everything is read-only except ``record_feedback``, which teaches the router as
``gitorch feedback`` does. The Codex builder is given this server, so it reads the plan and the other
tasks' results through it instead of a longer prompt; people add it to Claude Code or Codex to ask
about their runs (docs/mcp.md).

Every tool answers structured data: its return type (a ``TypedDict`` below) is the ``outputSchema``
that ``tools/list`` advertises, and a call returns it as ``structuredContent`` (checked against that
schema on the way out, so a field the schema does not name is an error, not a silent extra), with the
same JSON as text content for clients that read only text. Resources answer JSON text. Unknown runs,
rounds or decisions are tool errors that say what exists. This module imports the ``mcp`` package with
absolute imports only (it is named ``mcp_server`` so that it cannot shadow it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

from .config import Config, repo_key
from .errors import GitorchError, check_text
from .ports import Store

SERVER_NAME = "gitorch"
CONTENT_LIMIT = 20_000  # characters of an artifact's content returned unless asked for all
INSTRUCTIONS = """gitorch's runs: plans, the builders' artifacts, reviews, costs and routing.
Start with list_runs (or the run id you were given), then get_plan for the plan and its tasks,
pending_artifacts for what other tasks produced, get_review for the architect's verdicts."""


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False)


# -- what the tools answer: their output schemas ------------------------------------------------------
# typing_extensions.TypedDict (pydantic reads the stdlib one only from Python 3.12); closed objects.

_closed = with_config(ConfigDict(extra="forbid"))
Iso = Annotated[str, Field(description="ISO 8601 date and time")]


@_closed
class RunRow(TypedDict):
    """One run: the request, where it stands, its branch and pull request."""

    id: str
    text: Annotated[str, Field(description="the request (its first 200 characters)")]
    status: Annotated[str, Field(description="started, planning, building, reviewing, done, failed, paused or cancelled")]
    trigger: Annotated[str, Field(description="cli, issue, comment, task_md, hook or action")]
    branch: str | None
    pr_number: int | None
    verdict: Annotated[str | None, Field(description="approve or reject, once reviewed")]
    rounds: int
    created_at: Iso


@_closed
class RunList(TypedDict):
    """The most recent runs, newest first."""

    runs: list[RunRow]


@_closed
class TaskView(TypedDict):
    """One task of a plan."""

    id: str
    description: str
    files: list[str]
    assigned_to: Annotated[str, Field(description="the builder: claude, chatgpt-pro or codex")]
    depends_on: list[str]
    estimated_lines: int
    task_type: str
    status: Annotated[str, Field(description="pending, building, built, approved, rejected, failed or skipped")]


@_closed
class PlanView(TypedDict):
    """A run's active plan."""

    run_id: str
    run_status: str
    run_text: str
    plan_id: str
    summary: str
    tasks: list[TaskView]


@_closed
class ArtifactView(TypedDict):
    """A file a task produced, with its review."""

    id: str
    path: str
    task_id: str
    agent: str
    review_status: Annotated[str, Field(description="pending, approved or rejected")]
    notes: Annotated[str, Field(description="the architect's notes on it")]
    deleted: Annotated[bool, Field(description="the task deletes the file")]
    content: NotRequired[Annotated[str, Field(description="the file's text, when asked for and not deleted")]]
    truncated: NotRequired[Annotated[bool, Field(description=f"content cut at {CONTENT_LIMIT} characters")]]


@_closed
class TaskDetail(TaskView):
    """One task of a run's plan with the artifacts built for it so far."""

    artifacts: list[ArtifactView]


@_closed
class ArtifactList(TypedDict):
    """A run's artifacts with a review status (all of them for status ``all``)."""

    run_id: str
    status: str
    artifacts: list[ArtifactView]


@_closed
class VerdictView(TypedDict):
    path: str
    approved: bool
    notes: str


@_closed
class CommentView(TypedDict):
    path: str
    line: int
    body: str
    side: str


@_closed
class ReviewView(TypedDict):
    """The architect's review of one round."""

    verdict: Annotated[str, Field(description="approve or reject")]
    summary: str
    artifacts: Annotated[list[VerdictView], Field(description="the verdict on each file")]
    comments: Annotated[list[CommentView], Field(description="inline comments on the diff")]
    fix_tasks: Annotated[list[TaskView], Field(description="what the builders are asked to fix")]
    round: int
    confidence: Annotated[float | None, Field(description="the reviewer's own, 0 to 1 (below the ladder's "
                                                          "unsure_below, the next model reviewed again)")]
    rounds: Annotated[list[int], Field(description="every round reviewed so far")]


@_closed
class AgentFigures(TypedDict):
    tokens: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: float
    baseline_cost_usd: Annotated[float, Field(description="the same work done by Claude alone")]
    calls: int
    fallbacks: int
    duration_s: float


@_closed
class ReviewRate(TypedDict):
    reviewed: int
    approved: int
    pass_pct: float | None


@_closed
class ClaudeModelFigures(TypedDict):
    calls: int
    share_pct: Annotated[float | None, Field(description="of Claude's calls")]
    cost_usd: float
    reasons: Annotated[dict[str, int], Field(description="why the architect's ladder chose the model: reason -> calls")]


@_closed
class BudgetFigures(TypedDict):
    monthly_usd: float
    daily_usd: float | None
    per_run_usd: float | None
    spent_month_usd: float
    spent_today_usd: float
    pct_used: float
    alert_threshold_pct: float
    alert: bool
    paused: Annotated[bool, Field(description="paid calls are paused by the budget")]
    subscription_monthly_usd: float
    subscription_usd: float


@_closed
class Period(TypedDict):
    days: int
    since: Iso
    until: Iso


@_closed
class Suggestion(TypedDict):
    """What one strategy suggested for a decision."""

    agent: str
    task_type: str
    confidence: float


@_closed
class StrategyFigures(TypedDict):
    acting: Annotated[bool, Field(description="the strategy whose suggestions are acted on")]
    scored: Annotated[int, Field(description="decisions whose feedback could judge it")]
    right: int
    accuracy_pct: float
    interval_pct: Annotated[list[float], Field(description="95% Wilson interval, low and high")]


@_closed
class PairedTest(TypedDict):
    against: str
    paired: Annotated[int, Field(description="decisions both strategies were scored on")]
    only_acting_right: int
    only_shadow_right: int
    p_value: Annotated[float, Field(description="McNemar's exact test, two-sided")]
    significant: bool


@_closed
class SwitchSuggestion(TypedDict):
    strategy: str
    p_value: float
    test: str
    message: str


@_closed
class Disagreement(TypedDict):
    decision_id: str
    text: str
    created_at: Iso
    suggestions: Annotated[dict[str, dict[str, str]], Field(description="agent and task_type per strategy")]
    right: Annotated[dict[str, bool], Field(description="per strategy its feedback could judge")]


@_closed
class StrategyComparison(TypedDict):
    """The acting routing strategy and its shadows (``routing.shadow``), scored from feedback."""

    acting: str
    strategies: dict[str, StrategyFigures]
    tests: dict[str, PairedTest]
    suggestion: SwitchSuggestion | None
    disagreements: list[Disagreement]
    disagreement_count: int


@_closed
class Metrics(TypedDict):
    """The figures of ``gitorch stats --json`` over the period."""

    claude_tokens: int
    chatgpt_tokens: Annotated[int, Field(description="every builder's tokens (chatgpt-pro and codex)")]
    total_cost_usd: float
    baseline_cost_usd: float
    savings_usd: float
    savings_pct: float | None
    net_savings_usd: float
    routing_accuracy_pct: float | None
    decisions: int
    decisions_with_feedback: int
    overrides: int
    routing_strategies: StrategyComparison
    by_agent: dict[str, AgentFigures]
    claude_models: dict[str, ClaudeModelFigures]
    review_by_agent: dict[str, ReviewRate]
    features_today: int
    features_completed: int
    velocity_min_per_feature: float | None
    budget: BudgetFigures
    period: Period
    prices_as_of: str
    warnings: list[str]


@_closed
class WorkflowStepView(TypedDict):
    agent: str
    step: Annotated[str, Field(description="plan, build or review")]
    confidence: float


@_closed
class Decision(TypedDict):
    """A routing decision: the suggestion for a text and, after feedback, what happened."""

    decision_id: str
    text: str
    task_type: str
    task_types: Annotated[dict[str, float], Field(description="probability per task type")]
    agent: str
    confidence: float
    scores: Annotated[dict[str, float], Field(description="0 to 100 per agent")]
    reasoning: str
    workflow: list[WorkflowStepView]
    estimated_cost_usd: float
    estimated_saving_usd: float
    strategy: str
    estimates: Annotated[dict[str, int], Field(description="context_tokens, output_tokens, lines")]
    manual: Annotated[bool, Field(description="the router asks a person before acting")]
    shadows: Annotated[dict[str, Suggestion], Field(description="what each shadow strategy would have suggested")]
    repo: str
    run_id: str | None
    created_at: Iso
    override_agent: str | None
    override_task_type: str | None
    agent_used: str | None
    outcome: str | None


class Handoff:
    """The queries behind the tools and resources, over one store (plain methods, easy to test)."""

    def __init__(self, config: Config, store: Store, repo: str = ""):
        self.config = config
        self.store = store
        self.repo = repo or repo_key(config.repo_root)

    # -- runs and plans --------------------------------------------------------------------------
    def _run(self, run_id: str) -> Any:
        run = self.store.get_run(run_id)
        if run is None:
            known = ", ".join(r.id for r in self.store.list_runs(limit=10)) or "none yet"
            raise GitorchError(f"no run '{run_id}'", hint=f"recent runs: {known}")
        return run

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return [{"id": r.id, "text": r.text[:200], "status": r.status, "trigger": r.trigger, "branch": r.branch,
                 "pr_number": r.pr_number, "verdict": r.verdict, "rounds": r.rounds,
                 "created_at": r.created_at.isoformat()} for r in self.store.list_runs(limit=max(1, min(limit, 200)))]

    def plan(self, run_id: str) -> dict[str, Any]:
        run = self._run(run_id)
        plan = self.store.latest_plan(run_id)
        if plan is None:
            raise GitorchError(f"run '{run_id}' has no plan yet (status: {run.status})",
                               hint="the architect writes it first; ask again once the run is building")
        built = {a.task_id for a in self.store.artifacts(run_id)}
        tasks = []
        for task in plan.tasks:
            row = asdict(task)
            if row["status"] == "pending" and task.id in built:
                row["status"] = "built"
            tasks.append(row)
        return {"run_id": run_id, "run_status": run.status, "run_text": run.text, "plan_id": plan.id,
                "summary": plan.summary, "tasks": tasks}

    def task(self, run_id: str, task_id: str) -> dict[str, Any]:
        plan = self.plan(run_id)
        for task in plan["tasks"]:
            if task["id"] == task_id:
                task = dict(task)
                task["artifacts"] = [self._artifact(a, include_content=True)
                                     for a in self.store.artifacts(run_id) if a.task_id == task_id]
                return task
        raise GitorchError(f"run '{run_id}' has no task '{task_id}'",
                           hint="its tasks: " + ", ".join(t["id"] for t in plan["tasks"]))

    # -- artifacts and reviews -------------------------------------------------------------------
    def _artifact(self, artifact: Any, include_content: bool) -> dict[str, Any]:
        row = {"id": artifact.id, "path": artifact.path, "task_id": artifact.task_id, "agent": artifact.agent,
               "review_status": artifact.review_status, "notes": artifact.notes,
               "deleted": artifact.content is None}
        if include_content and artifact.content is not None:
            content = artifact.content
            if len(content) > CONTENT_LIMIT:
                row["truncated"] = True
                content = content[:CONTENT_LIMIT]
            row["content"] = content
        return row

    def artifacts(self, run_id: str, status: str | None = "pending", include_content: bool = False) -> list[dict[str, Any]]:
        self._run(run_id)
        if status not in (None, "pending", "approved", "rejected"):
            raise GitorchError(f"unknown review status '{status}'", hint="use pending, approved, rejected or none")
        return [self._artifact(a, include_content) for a in self.store.artifacts(run_id, review_status=status)]

    def artifact(self, run_id: str, path: str) -> dict[str, Any]:
        self._run(run_id)
        found = [a for a in self.store.artifacts(run_id) if a.path == path]
        if not found:
            paths = sorted({a.path for a in self.store.artifacts(run_id)})
            raise GitorchError(f"run '{run_id}' has no artifact '{path}'",
                               hint="its artifacts: " + (", ".join(paths) or "none yet"))
        return self._artifact(found[-1], include_content=True)

    def review(self, run_id: str, round: int | None = None) -> dict[str, Any]:
        self._run(run_id)
        reviews = self.store.reviews(run_id)
        if not reviews:
            raise GitorchError(f"run '{run_id}' has not been reviewed yet", hint="ask again after the review step")
        if round is None:
            chosen = reviews[-1]
        else:
            matches = [r for r in reviews if r.round == round]
            if not matches:
                raise GitorchError(f"run '{run_id}' has no review round {round}",
                                   hint="its rounds: " + ", ".join(str(r.round) for r in reviews))
            chosen = matches[-1]
        data = asdict(chosen)
        data["rounds"] = [r.round for r in reviews]
        return data

    # -- figures and routing ---------------------------------------------------------------------
    def metrics(self, days: int = 30) -> dict[str, Any]:
        from . import stats

        return stats.compute(self.store, self.config, days=days)

    def route(self, text: str) -> dict[str, Any]:
        from .routing import Router

        if not text.strip():
            raise GitorchError("the text to route is empty", hint="pass the task as a sentence")
        return Router(self.config, self.store, repo=self.repo).route(text, record=False).as_json()

    def feedback(self, decision_id: str, override_agent: str | None = None, override_task_type: str | None = None,
                 outcome: str | None = None) -> dict[str, Any]:
        from .routing import Router

        if override_agent is None and override_task_type is None and outcome is None:
            raise GitorchError("feedback needs override_agent, override_task_type or outcome",
                               hint="e.g. outcome='success', or override_agent='claude'")
        decision = Router(self.config, self.store, repo=self.repo).feedback(
            decision_id, override_agent=override_agent, override_task_type=override_task_type, outcome=outcome)
        return decision.as_json()


def build_server(handoff: Handoff) -> Any:
    """The ``MCPServer`` with gitorch's tools and resources over ``handoff``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ToolError
    from mcp_types import ToolAnnotations

    from . import __version__

    server = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

    def structured(fn: Callable[[], Any], error: type[Exception] = ToolError) -> Any:
        """``fn()``'s data (the SDK checks a tool's against its output schema), or the error that says
        what went wrong and what exists."""
        try:
            return fn()
        except GitorchError as exc:
            raise error(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else "")) from None

    def answer(fn: Callable[[], Any]) -> str:  # a resource: JSON text
        return _json(structured(fn, ResourceError))

    @server.tool(annotations=read_only)
    def list_runs(limit: int = 20) -> RunList:
        """The most recent runs, newest first: id, request, status, branch, PR, verdict."""
        return structured(lambda: {"runs": handoff.list_runs(limit)})

    @server.tool(annotations=read_only)
    def get_plan(run_id: str) -> PlanView:
        """The active plan of a run: its summary and every task (files, builder, dependencies, status)."""
        return structured(lambda: handoff.plan(run_id))

    @server.tool(annotations=read_only)
    def get_task(run_id: str, task_id: str) -> TaskDetail:
        """One task of a run's plan with the artifacts (files) built for it so far."""
        return structured(lambda: handoff.task(run_id, task_id))

    @server.tool(annotations=read_only)
    def pending_artifacts(run_id: str, include_content: bool = False, status: str = "pending") -> ArtifactList:
        """Artifacts of a run with their review notes; status pending (default), approved, rejected or all."""
        return structured(lambda: {"run_id": run_id, "status": status, "artifacts": handoff.artifacts(
            run_id, None if status == "all" else status, include_content)})

    @server.tool(annotations=read_only)
    def get_artifact(run_id: str, path: str) -> ArtifactView:
        """The latest content of one file a run produced, with its review status and notes."""
        return structured(lambda: handoff.artifact(run_id, path))

    @server.tool(annotations=read_only)
    def get_review(run_id: str, round: int | None = None) -> ReviewView:
        """The architect's review of a round (the latest by default): verdict, summary, per-file verdicts,
        inline comments and fix tasks."""
        return structured(lambda: handoff.review(run_id, round))

    @server.tool(annotations=read_only)
    def session_metrics(days: int = 30) -> Metrics:
        """Tokens, cost per agent, savings against Claude alone, routing accuracy, budget (gitorch stats)."""
        return structured(lambda: handoff.metrics(days))

    @server.tool(annotations=read_only)
    def route(text: str) -> Decision:
        """The router's suggestion for a task text: type, agent, confidence, scores, reasoning, cost.
        Not recorded."""
        return structured(lambda: handoff.route(text))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                             open_world_hint=False))
    def record_feedback(decision_id: str, override_agent: str | None = None, override_task_type: str | None = None,
                        outcome: str | None = None) -> Decision:
        """Teach the router about one of its decisions: the agent or type it should have chosen, or
        how the work turned out (success or failure). The only tool that writes."""
        return structured(lambda: handoff.feedback(decision_id, override_agent, override_task_type, outcome))

    @server.resource("gitorch://runs", mime_type="application/json", description="The most recent runs")
    def runs_resource() -> str:
        return answer(lambda: handoff.list_runs())

    @server.resource("gitorch://metrics", mime_type="application/json",
                     description="The last 30 days' figures, as gitorch stats --json")
    def metrics_resource() -> str:
        return answer(lambda: handoff.metrics())

    @server.resource("gitorch://runs/{run_id}/plan", mime_type="application/json", description="A run's active plan")
    def plan_resource(run_id: str) -> str:
        return answer(lambda: handoff.plan(run_id))

    @server.resource("gitorch://runs/{run_id}/artifacts", mime_type="application/json",
                     description="A run's artifacts pending review, with their notes")
    def artifacts_resource(run_id: str) -> str:
        return answer(lambda: handoff.artifacts(run_id))

    @server.resource("gitorch://runs/{run_id}/reviews/{round}", mime_type="application/json",
                     description="The review of one round of a run")
    def review_resource(run_id: str, round: str) -> str:
        def get() -> dict[str, Any]:
            if not round.isdigit():
                raise GitorchError(f"review round must be a number, not '{round}'", hint="e.g. .../reviews/1")
            return handoff.review(run_id, int(round))

        return answer(get)

    return server


def serve(config: Config) -> None:
    """Run the server on stdin/stdout until the client closes it."""
    import anyio

    from .store import open_store

    store = open_store(config)
    try:
        anyio.run(_serve_stdio, build_server(Handoff(config, store)))
    finally:
        store.close()


async def _serve_stdio(server: Any) -> None:
    """The SDK's stdio transport, with requests it could not parse answered (see ``_CheckedLines``)."""
    import io
    import sys

    import anyio
    from mcp.server.stdio import stdio_server

    lines = _CheckedLines(anyio.wrap_file(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")))
    async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
        lines.answer_to(write_stream)
        low = server._lowlevel_server
        await low.run(read_stream, write_stream, low.create_initialization_options())


class _CheckedLines:
    """stdin's lines for the SDK. A request whose JSON escapes a lone surrogate (``"\\ud800"``: valid
    JSON, but not Unicode) is one the SDK's parser drops without an answer; here it is answered with
    an error that names the argument, and never reaches a tool."""

    def __init__(self, source: Any):
        import anyio

        self.source = source
        self._write: Any = None
        self._ready = anyio.Event()

    def answer_to(self, write_stream: Any) -> None:
        self._write = write_stream
        self._ready.set()

    def __aiter__(self) -> Any:
        return self._lines()

    async def _lines(self) -> Any:
        async for line in self.source:
            problem = _unreadable(line)
            if problem is None:
                yield line
                continue
            request_id, message = problem
            if request_id is None:
                continue
            import mcp_types as types
            from mcp.shared.message import SessionMessage

            await self._ready.wait()
            error = types.JSONRPCError(jsonrpc="2.0", id=request_id,
                                       error=types.ErrorData(code=-32602, message=message))
            await self._write.send(SessionMessage(error))


def _unreadable(line: str) -> tuple[Any, str] | None:
    """(request id, why) for a line whose strings are not valid Unicode; None for every other line."""
    if "\\u" not in line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            try:
                check_text(value, where)
            except GitorchError as exc:
                found.append(f"{exc.message} ({exc.hint})")
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(str(k), "a key")
                walk(v, f"argument '{k}'" if where == "the arguments" else where)
        elif isinstance(value, list):
            for v in value:
                walk(v, where)

    if not isinstance(data, dict):
        return None
    params = data.get("params")
    arguments = params.get("arguments") if isinstance(params, dict) else None
    walk(arguments if isinstance(arguments, dict) else data, "the arguments" if isinstance(arguments, dict)
         else "the request")
    if not found:
        walk(data, "the request")
    if not found:
        return None
    request_id = data.get("id")
    return (request_id if isinstance(request_id, (int, str)) else None), found[0]


class HttpServer:
    """The same tools over streamable HTTP on 127.0.0.1, served from a thread for as long as the
    caller needs it: the Codex builder starts it once, so each task's Codex connects in milliseconds
    instead of starting ``gitorch mcp`` (about a second, most of it importing the SDK). Requests must
    carry ``Authorization: Bearer <token>``; Codex's sandbox keeps the model's own commands off the
    network, so only Codex itself reaches it."""

    def __init__(self, config: Config):
        self.config = config
        self.token = ""
        self.url = ""
        self._store: Store | None = None
        self._server: Any = None
        self._thread: Any = None

    def start(self) -> HttpServer:
        import secrets
        import socket
        import threading
        import time

        import uvicorn
        from starlette.responses import PlainTextResponse

        from .store import open_store

        self._store = open_store(self.config)
        app = build_server(Handoff(self.config, self._store)).streamable_http_app(stateless_http=True,
                                                                                   json_response=True)
        self.token = secrets.token_urlsafe(24)
        expected = f"Bearer {self.token}".encode()

        async def guarded(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and dict(scope.get("headers") or []).get(b"authorization") != expected:
                await PlainTextResponse("a bearer token is required", status_code=401)(scope, receive, send)
                return
            await app(scope, receive, send)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        self._server = uvicorn.Server(uvicorn.Config(guarded, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="gitorch-mcp-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise GitorchError("the gitorch MCP server did not start",
                                   hint="set codex.mcp_transport: stdio, or codex.mcp: false")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
