"""A run rebuilt from what GitHub and git hold, when this machine's store does not know it (the
state folder was lost, or another runner started it).

The run keeps its own record on GitHub, in hidden versioned blocks: the run's one comment on its
issue and its pull request's body carry the request, the branch and base, the routing decision, the
confirmed agent, the plan and the run's status; each review carries its verdicts, fix tasks and the
test command's result. The branch on the remote says which tasks are done (one commit per task, with
``Gitorch-Run`` / ``Gitorch-Task`` trailers). ``recover`` writes the journal those imply, so the
pipeline continues from the first step they do not cover: a finished run is not done again, and a
half-finished one goes on from its last commit on the branch.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from dataclasses import asdict
from typing import Any

from ..errors import GitorchError
from ..model import (
    Plan,
    Review,
    RoutingDecision,
    Run,
    RunStatus,
    StepKey,
    StepKind,
    Task,
    Verification,
    WorkflowStep,
)
from ..model import parse_iso as _parse_iso
from ..redact import redact
from .review import review_from
from .state import Parts, RunRequest, RunState

log = logging.getLogger("gitorch.run.recover")

VERSION = 1
RUN_BLOCK = "gitorch:run"
REVIEW_BLOCK = "gitorch:review-data"
_BLOCK = re.compile(r"<!-- (?P<kind>gitorch:run|gitorch:review-data) v(?P<version>\d+) (?P<data>[A-Za-z0-9+/=]+) -->")
TEXT_KEPT = 4000  # of the request's text: the plan is made already, the text is for reading


def encode(kind: str, data: dict[str, Any], secrets: list[str]) -> str:
    """A hidden block of ``data``, redacted before it is encoded (so no secret hides in base64)."""
    text = redact(json.dumps(data, default=str, separators=(",", ":")), secrets)
    return f"<!-- {kind} v{VERSION} {base64.b64encode(text.encode()).decode()} -->"


def block_in(kind: str, body: str | None) -> str:
    """The newest hidden block of ``kind`` in ``body`` as it is written (kept when the text around it is
    rendered again); "" when there is none."""
    found = [m.group(0) for m in _BLOCK.finditer(body or "") if m["kind"] == kind]
    return found[-1] if found else ""


def decode(kind: str, body: str | None) -> dict[str, Any] | None:
    """The newest readable block of ``kind`` in ``body``; None when there is none (a block of a newer
    gitorch, or one that does not decode, is passed over)."""
    for match in reversed(list(_BLOCK.finditer(body or ""))):
        if match["kind"] != kind or int(match["version"]) > VERSION:
            continue
        try:
            data = json.loads(base64.b64decode(match["data"], validate=True))
        except (binascii.Error, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return None


def run_block(state: RunState) -> str:
    """The run's record as its comment and its pull request carry it."""
    request = state.request.as_journal()
    request["text"] = request["text"][:TEXT_KEPT]
    decision = state.decision()
    plan = state.store.latest_plan(state.run.id)
    data = {"run": state.run.id, "status": str(state.run.status), "rounds": state.run.rounds,
            "verdict": state.run.verdict, "request": request,
            "start": state.done(StepKey(StepKind.START)), "decision": decision.as_json() if decision else None,
            "confirm": state.done(StepKey(StepKind.CONFIRM)),
            "plan": {"id": plan.id, "summary": plan.summary, "tasks": [asdict(t) for t in plan.tasks]} if plan else None,
            "plan_approved": state.done(StepKey(StepKind.PLAN_APPROVED))}
    return encode(RUN_BLOCK, data, state.config.secrets.values())


def review_block(state: RunState, review: Review, head: str, verify: Verification | None) -> str:
    """A review's record, as the review posted on the pull request carries it."""
    data = {"run": state.run.id, "round": review.round, "head": head, "review": asdict(review),
            "verify": asdict(verify) if verify else None}
    return encode(REVIEW_BLOCK, data, state.config.secrets.values())


def task_round(task_id: str) -> int:
    """The round a task was built in, from its id: fixes of round N are built in round N + 1."""
    fix = re.fullmatch(r"fix(\d+)-.+", task_id)
    if fix:
        return int(fix[1]) + 1
    rework = re.fullmatch(r"rework(\d+)-.+", task_id)
    return int(rework[1]) if rework else 1


def recover(config: Any, parts: Parts, run_id: str, issue_number: int | None) -> bool:
    """Rebuild ``run_id``'s record and journal from GitHub and the remote branch; False when GitHub
    holds no record of it (then it is a new run)."""
    github, repo = parts.github, parts.repo
    if github is None:
        return False
    block = None
    if issue_number is not None:
        comment = github.find_comment(issue_number, "suggestion")
        block = decode(RUN_BLOCK, comment.body if comment else None)
    branch = ((block or {}).get("start") or {}).get("branch") or repo.remote_branch(
        f"{config.git.branch_prefix}{run_id}-")
    pull = github.find_pr(branch) if branch else None
    if (block is None or block.get("run") != run_id) and pull is not None:
        block = decode(RUN_BLOCK, pull.body)
    if block is None or block.get("run") != run_id:
        return False
    try:
        _rebuild(config, parts, block, branch, pull)
    except (GitorchError, KeyError, TypeError, ValueError) as exc:
        log.warning("run %s could not be rebuilt from GitHub (%s); it starts as a new run", run_id, exc)
        return False
    log.info("run %s rebuilt from GitHub and the branch %s", run_id, branch)
    return True


def _rebuild(config: Any, parts: Parts, block: dict[str, Any], branch: str | None, pull: Any) -> None:
    store, repo, run_id = parts.store, parts.repo, block["run"]
    request = RunRequest.from_journal(block["request"])
    journal: list[tuple[StepKey, dict[str, Any]]] = [(StepKey(StepKind.REQUEST), {"request": request.as_journal()})]
    start = block.get("start")
    if start:
        journal.append((StepKey(StepKind.START), start))
    if block.get("decision"):
        decision = _decision(block["decision"], run_id)
        store.record_decision(decision)
        journal.append((StepKey(StepKind.ROUTE), {"decision_id": decision.id, "summary": "recovered from GitHub"}))
    if block.get("confirm"):
        journal.append((StepKey(StepKind.CONFIRM), block["confirm"]))
    if block.get("plan"):
        p = block["plan"]
        plan = Plan(summary=p["summary"], tasks=[Task(**t) for t in p["tasks"]], id=p["id"], run_id=run_id)
        store.save_plan(plan)
        journal.append((StepKey(StepKind.PLAN), {"plan_id": plan.id, "summary": f"{len(plan.tasks)} tasks"}))
    if block.get("plan_approved"):
        journal.append((StepKey(StepKind.PLAN_APPROVED), block["plan_approved"]))
    rounds = set()
    if branch and start and repo.fetch_branch(branch) is not None:
        for task_id, agent, commit in repo.task_commits(branch, run_id, start["base"]):
            if task_id == "task-md":
                journal.append((StepKey(StepKind.TICK), {"commit": commit, "summary": "recovered from the branch"}))
                continue
            n = task_round(task_id)
            rounds.add(n)
            journal.append((StepKey(StepKind.BUILD, n, task_id),
                            {"agent": agent, "artifacts": {}, "read_at": commit, "summary": "recovered from the branch"}))
            journal.append((StepKey(StepKind.COMMIT, n, task_id), {"commit": commit, "summary": f"{commit[:10]} on {branch}"}))
        journal += [(StepKey(StepKind.PUSH, n), {"summary": "on the remote"}) for n in sorted(rounds)]
    if pull is not None:
        journal.append((StepKey(StepKind.PR), {"pr_number": pull.number, "summary": f"PR #{pull.number}"}))
        for head, body in parts.github.posted_reviews(pull.number):
            data = decode(REVIEW_BLOCK, body)
            if data is None or data.get("run") != run_id:
                continue
            review = review_from(data["review"])
            store.save_review(run_id, review)
            if data.get("verify"):
                journal.append((StepKey(StepKind.VERIFY, review.round), {**data["verify"], "summary": "recovered"}))
            journal.append((StepKey(StepKind.REVIEW, review.round), {"review": data["review"], "head": head,
                                                                       "summary": f"{review.verdict} (recovered)"}))
            journal.append((StepKey(StepKind.POST_REVIEW, review.round), {"summary": "on the pull request"}))
    status = RunStatus(block["status"])
    if status.terminal:
        journal.append((StepKey(StepKind.FINISH), {"verdict": block.get("verdict"), "summary": "recovered"}))
    run = Run(id=run_id, text=request.text, trigger=request.trigger, status=status, repo=repo.key,
              branch=branch, pr_number=pull.number if pull is not None else None, issue_number=request.issue_number,
              verdict=block.get("verdict"), rounds=max([block.get("rounds") or 0, *rounds]))
    store.save_run(run)
    for key, result in journal:
        store.journal_finish(run_id, key, result)


def _decision(data: dict[str, Any], run_id: str) -> RoutingDecision:
    fields = dict(data)
    fields["id"] = fields.pop("decision_id")
    fields["created_at"] = _parse_iso(fields["created_at"])
    fields["workflow"] = [WorkflowStep(**w) for w in fields.get("workflow", [])]
    fields["run_id"] = run_id
    return RoutingDecision(**fields)
