"""The router: a task type with a probability per type, an agent with confidence and scores, a
workflow, estimates of size and cost, and reasoning; every decision stored; feedback teaches it.

Agent per task type (``AGENT_FOR_TYPE``):
- planning, review -> Claude: decisions and judgement over the whole repository are the architect's job.
- code_generation -> the configured builder: most output tokens, flat subscription, Claude reviews.
- debugging -> the builder, then Claude reviews: fixes are short diffs, so the builder's attempts
  cost nothing at the margin while Claude's review catches a wrong root cause cheaply.
- refactoring -> the builder, then Claude reviews: behaviour-preserving rewrites are long, mechanical
  output (the most expensive part at Claude's rates); the review checks that behaviour is unchanged.
Per repository, outcomes and overrides move this mapping (``RepoState.agents``).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .. import ladder
from ..config import STRATEGIES
from ..cost import estimate_tokens
from ..errors import GitorchError, check_text
from ..model import CLAUDE, TASK_TYPES, RoutingDecision, Usage, WorkflowStep, new_id
from . import keywords, learned, neighbours

log = logging.getLogger("gitorch.routing")

BUILD_TYPES = ("code_generation", "debugging", "refactoring")
CLAUDE_TYPES = ("planning", "review")
# Pseudo-counts behind the type -> agent mapping: a few overrides move it, one does not.
PRIOR_MAPPED = 6.0
PRIOR_OTHER = 0.5
HYBRID_PLANNING = 0.25  # planning probability from which a build task gets a plan step first
MIN_JUDGED = 10  # decisions with feedback needed before manual mode can switch on
# A calibrated confidence is never shown above this: about 2,000 calibration rows cannot tell 99.5% from 99.9%.
MAX_CONFIDENCE = 0.99

_ARCHITECTURAL = re.compile(
    r"\b(?:auth(?:entication|orization)?|jwt|oauth|saml|sso|security|encrypt\w*|permissions?|roles?|"
    r"multi-?tenan\w*|schema|migrations?|payments?|billing|architecture|distributed|real-?time|"
    r"infrastructure|microservices?|caching|queue|concurren\w*)\b", re.I)
_WIDE = re.compile(r"\b(?:all|every|across|entire|whole|codebase|throughout|everywhere)\b", re.I)
_BIG = re.compile(r"\b(?:crud|endpoints|api|service|module|system|integration|sdk|library|pipeline|"
                  r"authentication|dashboard|framework|migration)\b", re.I)
_LINE_COUNT = re.compile(r"\b(\d{2,6})[- ]?(?:line|loc)s?\b", re.I)
BASE_LINES = {"planning": 0, "code_generation": 120, "debugging": 30, "refactoring": 150, "review": 0}
TYPE_WORDS = {
    "planning": "a decision or design to work out",
    "code_generation": "a new capability to build",
    "debugging": "a symptom or wrong behaviour to fix",
    "refactoring": "a change of structure that keeps behaviour",
    "review": "existing work to judge",
}


def estimate_lines(text: str, task_types: dict[str, float]) -> int:
    lines = sum(p * BASE_LINES[t] for t, p in task_types.items())
    if _BIG.search(text):
        lines *= 1.8
    if _WIDE.search(text):
        lines *= 2.0
    stated = _LINE_COUNT.search(text)
    if stated:
        lines = max(lines, int(stated.group(1)) * (0.6 if task_types.get("refactoring", 0) > 0.3 else 0.2))
    return int(round(lines))


def count_files(root: Path, stop_at: int) -> int:
    """Files under ``root`` (not .git, not node_modules), counting no further than ``stop_at``."""
    count = 0
    for _dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", "node_modules", ".venv", "__pycache__")]
        count += len(filenames)
        if count >= stop_at:
            break
    return count


class Router:
    """Routes texts for one repository (``repo``: its path or name, the key of what it learned)."""

    def __init__(self, config: Any, store: Any, repo: str = "", *, strategy: str | None = None):
        from ..cost import SUBSCRIPTION_AGENTS, PriceTable

        self.config = config
        self.store = store
        self.repo = repo
        self.strategy = strategy or config.routing.strategy
        if self.strategy not in STRATEGIES:
            raise GitorchError(f"unknown routing strategy {self.strategy!r}", hint=f"use one of: {', '.join(STRATEGIES)}")
        # shadows run beside the acting strategy and are stored, never acted on
        self.shadows = [name for name in config.routing.shadow if name != self.strategy]
        self._memory: neighbours.Memory | None = None
        self.prices = PriceTable.from_config(config)
        self.subscription_agents = SUBSCRIPTION_AGENTS
        self.builder = config.agents.builder
        self._state: learned.RepoState | None = None
        self._taught: list[RoutingDecision] = []  # learned here and not saved yet
        self._large: bool | None = None
        self._given: dict[str, dict[str, float]] = {}
        self._cold: dict[str, dict[str, float]] = {}  # the same with no feedback: what calibration assumed

    # -- state -----------------------------------------------------------------------------------

    @property
    def learning(self) -> bool:
        return bool(self.config.routing.learning)

    @property
    def state(self) -> learned.RepoState:
        if self._state is None:
            blob = self.store.load_router_state(self.repo) if self.learning else None
            self._state = learned.RepoState.from_bytes(blob)
            if self.learning and self._catch_up(self._state):
                self.save_state()
        return self._state

    def _catch_up(self, state: learned.RepoState) -> bool:
        """Learn what the team's other runners were taught about this repository since it last looked
        (team mode only). Lessons are read again from a day before the newest one seen, because a
        runner's outbox may deliver an older lesson late; one already learned teaches nothing twice."""
        from ..store.team import lessons_for

        read = lessons_for(self.config, self.store)
        if read is None:
            return False
        found = read(self.repo, max(0.0, state.lessons_after - LESSONS_REREAD_MS))
        for feedback_ms, data in found:
            try:
                self._learn(_taught(data))
            except (KeyError, TypeError, ValueError) as exc:  # a record this version cannot read
                log.warning("a team lesson could not be read (%s); it is skipped", exc)
            state.lessons_after = max(state.lessons_after, feedback_ms)
        return bool(found)

    def save_state(self) -> None:
        """Write what this router learned onto the state as it is stored now: another process (a
        session's run, the MCP server, an Action job) may have saved lessons meanwhile, so this
        process's lessons are learned again onto the stored state in one transaction, never over it."""
        if not self.learning or self._state is None:
            return
        mine, watermark = self._taught, self._state.lessons_after

        def onto(stored: bytes | None) -> bytes:
            state = learned.RepoState.from_bytes(stored)
            state.lessons_after = max(state.lessons_after, watermark)
            for decision in mine:
                _apply(state, decision)
            self._state = state
            return state.to_bytes()

        self.store.update_router_state(self.repo, onto)
        self._taught = []

    def model_info(self) -> dict[str, Any]:
        if self.strategy == "keywords":
            return {"strategy": "keywords", "description": "the original design's keyword classifier"}
        if self.strategy == "neighbours":
            return {"strategy": "neighbours", "description": "the packaged model moved by this repository's "
                    "most similar past decisions", "repo_examples": len(self.memory)}
        meta = learned.load_base().meta
        return {"strategy": "learned", "pretrained_on": meta["trained_on"], "rows": meta["rows"],
                "trained_at": meta["trained_at"], "repo_lessons": self.state.examples if self.learning else 0,
                "learning": self.learning}

    def large_codebase(self) -> bool:
        if self._large is None:
            root = self.config.repo_root or (Path(self.repo) if self.repo and Path(self.repo).is_dir() else None)
            limit = self.config.routing.large_codebase_files
            self._large = bool(root and Path(root).is_dir() and count_files(Path(root), limit) >= limit)
        return self._large

    # -- routing ---------------------------------------------------------------------------------

    def route(self, text: str, record: bool = True) -> RoutingDecision:
        return self.route_batch([text], record=record)[0]

    def route_batch(self, texts: list[str], record: bool = True) -> list[RoutingDecision]:
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                where = f"text {i + 1}" if len(texts) > 1 else "the text"
                raise GitorchError(f"{where} is empty", hint="describe the task in a sentence, e.g. 'Add CSV export'")
            check_text(text, "the text" if len(texts) == 1 else f"text {i + 1}")
        manual, accuracy, judged = self.manual_mode()
        self._given = {t: self.agent_given_type(t, self.candidates()) for t in TASK_TYPES}
        self._cold = {t: self.agent_given_type(t, self.candidates(), cold=True) for t in TASK_TYPES}
        decisions = self._decisions(self.strategy, texts, manual, accuracy, judged)
        for name in self.shadows:
            for decision, other in zip(decisions, self._decisions(name, texts, manual, accuracy, judged), strict=True):
                decision.shadows[name] = {"agent": other.agent, "task_type": other.task_type,
                                          "confidence": other.confidence}
        if record:
            self.store.record_decisions(decisions)
        return decisions

    def _decisions(self, strategy: str, texts: list[str], manual: bool, accuracy: float | None,
                   judged: int) -> list[RoutingDecision]:
        if strategy == "keywords":
            probs, evidence = [self._keyword_types(t) for t in texts], [None] * len(texts)
        else:
            probs, evidence = self._learned_types(texts, strategy)
        return [self._decide(strategy, text, types, manual, accuracy, judged, found)
                for text, types, found in zip(texts, probs, evidence, strict=True)]

    @property
    def memory(self) -> neighbours.Memory:
        """This repository's past decisions whose task type feedback told (the ``neighbours`` strategy)."""
        if self._memory is None:
            self._memory = neighbours.Memory.from_decisions(
                self.store.judged_decisions(self.repo, limit=neighbours.MEMORY) if self.learning else [])
        return self._memory

    def _learned_types(self, texts: list[str], strategy: str = "learned"
                       ) -> tuple[list[dict[str, float]], list[tuple[np.ndarray, np.ndarray]]]:
        """Calibrated type probabilities per text, and what the agent's calibration reads (the
        uncalibrated probabilities and the intent cues)."""
        X = learned.featurize(texts)
        base = learned.load_base()
        cues = learned.cue_matrix(texts)
        scores = base.scores(X, texts, cues)
        if strategy == "neighbours":
            raw = self.memory.vote(X, learned.softmax(scores, base.temperature))
        else:
            if self.learning:
                scores = scores + self.state.residual_scores(X)
            raw = learned.softmax(scores, base.temperature)
        type_x, _ = learned.calibration_inputs(raw, cues, np.zeros_like(raw, dtype=bool))
        matrix = base.calibration.types(raw, type_x)
        return ([dict(zip(learned.TYPES, map(float, row), strict=True)) for row in matrix],
                list(zip(raw, cues, strict=True)))

    @staticmethod
    def _keyword_types(text: str) -> dict[str, float]:
        chosen = keywords.classify(text)
        return {t: (1.0 if t == chosen else 0.0) for t in TASK_TYPES}

    # -- agents ----------------------------------------------------------------------------------

    def candidates(self) -> list[str]:
        found = [CLAUDE, "chatgpt-pro"]
        for agent in (self.builder, *self.config.agents.fallback):  # every configured builder
            if agent not in found:
                found.append(agent)
        for per_agent in (self.state.agents.values() if self.learning else ()):
            found.extend(a for a in per_agent if a not in found)
        return found

    def mapped_agent(self, task_type: str) -> str:
        return CLAUDE if task_type in CLAUDE_TYPES else self.builder

    def agent_given_type(self, task_type: str, agents: list[str], cold: bool = False) -> dict[str, float]:
        """P(agent is the right one | task type) in this repository: the mapping as a prior,
        moved by overrides (preferred) and by each agent's success rate on this type (``cold``:
        the prior alone, as in a repository with no feedback)."""
        mapped = self.mapped_agent(task_type)
        seen = self.state.agents.get(task_type, {}) if self.learning and not cold else {}
        weights = {}
        for agent in agents:
            preferred, successes, failures = seen.get(agent, (0, 0, 0))
            prior = PRIOR_MAPPED if agent == mapped else PRIOR_OTHER
            weights[agent] = (prior + preferred) * (successes + 1) / (successes + failures + 2)
        total = sum(weights.values())
        return {a: w / total for a, w in weights.items()}

    # -- one decision ----------------------------------------------------------------------------

    def _decide(self, strategy: str, text: str, types: dict[str, float], manual: bool, accuracy: float | None,
                judged: int, evidence: tuple[np.ndarray, np.ndarray] | None = None) -> RoutingDecision:
        """``types``: the calibrated type probabilities people see; ``evidence``: the uncalibrated
        ones and the intent cues, from which the agent, the workflow and the confidence are worked
        out (calibration moves the top type's probability, never the order, and must not move the
        choice of agent)."""
        shown = types
        if evidence is not None:
            types = dict(zip(learned.TYPES, map(float, evidence[0]), strict=True))
        task_type = max(types, key=types.__getitem__)
        agents = self.candidates()
        given = {t: self._given[t] for t in types if types[t] > 0.001 or t == task_type}
        p_agent = {a: sum(types[t] * given[t][a] for t in given) for a in agents}
        p_build = sum(types.get(t, 0.0) for t in BUILD_TYPES)
        build_agent = self._best(given, types, BUILD_TYPES, agents) if p_build > 0 else self.builder
        claude_like = task_type in CLAUDE_TYPES
        hybrid = (not claude_like and types.get("planning", 0.0) >= HYBRID_PLANNING) or \
                 (task_type == "code_generation" and bool(_ARCHITECTURAL.search(text))) or \
                 (task_type == "planning" and p_build >= 1 - HYBRID_PLANNING - 0.25)
        lines = estimate_lines(text, types)

        if strategy == "keywords":
            return self._decide_keywords(text, types, task_type, lines, manual, accuracy, judged)

        workflow: list[WorkflowStep] = []
        plan_conf = self._given["planning"]
        review_conf = self._given["review"]
        build_conf = sum(types[t] * given[t][build_agent] for t in BUILD_TYPES if t in given) / p_build \
            if p_build > 0 else 0.0
        if task_type == "review":
            workflow.append(WorkflowStep(CLAUDE, "review", round(review_conf[CLAUDE], 3)))
        elif claude_like and not hybrid:
            workflow.append(WorkflowStep(CLAUDE, "plan", round(plan_conf[CLAUDE], 3)))
        else:
            if hybrid:
                workflow.append(WorkflowStep(CLAUDE, "plan", round(plan_conf[CLAUDE], 3)))
            workflow.append(WorkflowStep(build_agent, "build", round(build_conf, 3)))
            workflow.append(WorkflowStep(CLAUDE, "review", round(review_conf[CLAUDE], 3)))
        agent = max(p_agent, key=p_agent.__getitem__)
        confidence = self._confidence(agent, types, p_agent, evidence) if evidence is not None \
            else math.sqrt(types[task_type] * p_agent[agent])
        scores = {a: round(100 * p_agent[a], 1) for a in agents}
        estimates, cost, saving = self._costs(workflow, lines, text)
        reasoning = self._reasoning(strategy, text, shown, task_type, agent, hybrid, given, manual, accuracy, judged)
        return RoutingDecision(
            id=new_id("dec"), text=text, task_type=task_type, task_types=_rounded(shown), agent=agent,
            confidence=round(confidence, 3), scores=scores, reasoning=reasoning, workflow=workflow,
            estimated_cost_usd=cost, estimated_saving_usd=saving, strategy=strategy, estimates=estimates,
            manual=manual, repo=self.repo,
        )

    def _confidence(self, agent: str, types: dict[str, float], p_agent: dict[str, float],
                    evidence: tuple[np.ndarray, np.ndarray]) -> float:
        """P(the suggested agent is right): the calibrated map of the probability of the types this
        agent takes (``learned.Calibration``, fitted as in a repository with no feedback), lowered as
        far as this repository's feedback has moved the type -> agent mapping away from that agent."""
        raw, cues = evidence
        best = [max(self._given[t], key=self._given[t].__getitem__) == agent for t in learned.TYPES]
        _, agent_x = learned.calibration_inputs(raw[None, :], cues[None, :], np.array([best]))
        sure = float(learned.load_base().calibration.agent(agent_x)[0])
        expected = sum(p * self._cold[t].get(agent, 0.0) for t, p in types.items())
        sure = min(sure, MAX_CONFIDENCE)
        return sure * min(1.0, p_agent[agent] / expected) if expected > 0 else sure

    @staticmethod
    def _best(given: dict[str, dict[str, float]], types: dict[str, float], among: Iterable[str],
              agents: list[str]) -> str:
        weight = {a: sum(types.get(t, 0.0) * given[t][a] for t in among if t in given) for a in agents}
        return max(weight, key=weight.__getitem__)

    def _decide_keywords(self, text: str, types: dict[str, float], task_type: str, lines: int, manual: bool,
                         accuracy: float | None, judged: int) -> RoutingDecision:
        lines = max(lines, 1)
        history = self.state.agents.get(task_type, {}) if self.learning else {}
        result = keywords.score(
            text, estimated_lines=lines, large_codebase=self.large_codebase(),
            claude_history=history.get(CLAUDE, [0, 0, 0])[1] > 0,
            builder_history=history.get(self.builder, [0, 0, 0])[1] > 0,
        )
        agent = CLAUDE if result.claude >= result.builder else self.builder
        confidence = max(result.claude, result.builder) / (result.claude + result.builder)
        if agent == CLAUDE:
            step = "review" if task_type == "review" else "plan"
            workflow = [WorkflowStep(CLAUDE, step, round(confidence, 3))]
        else:
            workflow = [WorkflowStep(agent, "build", round(confidence, 3)), WorkflowStep(CLAUDE, "review", 1.0)]
        scores = {CLAUDE: float(result.claude), self.builder: float(result.builder)}
        if "chatgpt-pro" not in scores:
            scores["chatgpt-pro"] = 0.0
        estimates, cost, saving = self._costs(workflow, lines, text)
        hit_words = ", ".join(f"{k} {v}" for k, v in result.hits.items() if v) or "no keyword hits (planning by default)"
        reasoning = (f"keywords strategy (the original design's baseline): {task_type} by keyword hits ({hit_words}). "
                     f"Claude {result.claude}, {self.builder} {result.builder}: " + "; ".join(result.reasons or ["base 50 each"]))
        if manual:
            reasoning += self._manual_note(accuracy, judged)
        return RoutingDecision(
            id=new_id("dec"), text=text, task_type=task_type, task_types=_rounded(types), agent=agent,
            confidence=round(confidence, 3), scores=scores, reasoning=reasoning, workflow=workflow,
            estimated_cost_usd=cost, estimated_saving_usd=saving, strategy="keywords", estimates=estimates,
            manual=manual, repo=self.repo,
        )

    # -- estimates and cost ----------------------------------------------------------------------

    def _costs(self, workflow: list[WorkflowStep], lines: int, text: str) -> tuple[dict[str, int], float, float]:
        """Token estimates per step, priced: suggested (builder steps cost 0 on a subscription) and
        Claude alone (every step on Claude: builds at ``models.build``, the plan and the review at the
        model the architect's ladder would choose for this request, as the run will)."""
        usage_for = {
            "plan": (self.config.anthropic.plan_context_tokens + 500, 1200 + 4 * lines),
            "build": (3000 + 30 * lines, 400 + 12 * lines),
            "review": (4000 + 14 * lines, 500 + 2 * lines),
        }
        models = self._step_models(text, lines)
        suggested = alone = 0.0
        context = output = 0
        for step in workflow:
            tokens_in, tokens_out = usage_for[step.step]
            context = max(context, tokens_in)
            output += tokens_out
            usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out, estimated=True)
            price = self.prices.price(models[step.step]).usd(usage)
            alone += price
            if step.agent not in self.subscription_agents:
                suggested += price
        estimates = {"context_tokens": context, "output_tokens": output, "lines": lines}
        return estimates, round(suggested, 4), round(alone - suggested, 4)

    def _step_models(self, text: str, lines: int) -> dict[str, str]:
        """The model of each step for this request: the ladder's first choice for the plan and the
        review (its tests unknown yet; a review a rung rejects costs more), ``models.build`` for a build."""
        models = self.config.models
        rungs = models.ladder
        concerns = ladder.concerns(rungs, text=text)

        def chosen(work: ladder.Work) -> str:
            return ladder.choose(rungs, work, plan_model=models.plan, review_model=models.review).model

        return {"plan": chosen(ladder.Work("plan", task_tokens=estimate_tokens(text), concerns=concerns)),
                "review": chosen(ladder.Work("review", diff_lines=lines, concerns=concerns)),
                "build": models.build}

    # -- reasoning -------------------------------------------------------------------------------

    def _reasoning(self, strategy: str, text: str, types: dict[str, float], task_type: str, agent: str, hybrid: bool,
                   given: dict[str, dict[str, float]], manual: bool, accuracy: float | None, judged: int) -> str:
        second = sorted(types, key=types.__getitem__, reverse=True)[1]
        parts = [f"Reads as {TYPE_WORDS[task_type]}: {task_type} {types[task_type]:.0%}"
                 f" (next: {second} {types[second]:.0%})."]
        mapped = self.mapped_agent(task_type)
        if agent != mapped:
            parts.append(f"In this repository {agent} has done better on {task_type} than {mapped} "
                         f"(from overrides and outcomes), so it is suggested instead.")
        elif agent == CLAUDE:
            parts.append("Claude takes planning and review: decisions over the whole repository.")
        else:
            parts.append(f"{agent} writes the code on the flat plan (no marginal cost) and Claude reviews it.")
        if hybrid:
            why = "planning weight" if types.get("planning", 0) >= HYBRID_PLANNING else "an architectural concern"
            parts.append(f"Hybrid ({why}): Claude plans, {agent if agent != CLAUDE else self.builder} builds, "
                         "Claude reviews.")
        if strategy == "neighbours":
            parts.append(f"Model: neighbours, the packaged model moved by the most similar of this repository's "
                         f"{len(self.memory)} past decisions with a known task type.")
        if strategy == "learned":
            meta = learned.load_base().meta
            lessons = self.state.examples if self.learning else 0
            parts.append(f"Model: learned, pretrained on {meta['trained_on']} only ({meta['rows']} rows)"
                         + (f", plus {lessons} lessons from this repository." if self.learning
                            else "; learning from feedback is off."))
        if manual:
            parts.append(self._manual_note(accuracy, judged).strip())
        return " ".join(parts)

    def _manual_note(self, accuracy: float | None, judged: int) -> str:
        if not self.config.routing.auto:
            return " Manual mode: automatic routing is off, a person confirms every suggestion."
        return (f" Manual mode: only {accuracy:.0%} of the last {judged} suggestions with feedback were accepted "
                f"(below {self.config.routing.manual_below_accuracy:.0%}); a person confirms every suggestion.")

    # -- manual mode and feedback ----------------------------------------------------------------

    def accuracy(self) -> tuple[float | None, int]:
        """Share of the last ``accuracy_window`` decisions with feedback accepted without override."""
        from ..stats import has_feedback, overridden

        window = self.config.routing.accuracy_window
        judged: list[RoutingDecision] = []
        offset_limit = window * 4
        for decision in self.store.recent_decisions(self.repo, limit=offset_limit):
            if has_feedback(decision):
                judged.append(decision)
                if len(judged) == window:
                    break
        if not judged:
            return None, 0
        return sum(not overridden(d) for d in judged) / len(judged), len(judged)

    def manual_mode(self) -> tuple[bool, float | None, int]:
        accuracy, judged = self.accuracy()
        if not self.config.routing.auto:
            return True, accuracy, judged
        low = accuracy is not None and judged >= min(MIN_JUDGED, self.config.routing.accuracy_window) \
            and accuracy < self.config.routing.manual_below_accuracy
        return low, accuracy, judged

    def feedback(self, decision_id: str, override_agent: str | None = None, override_task_type: str | None = None,
                 outcome: str | None = None, agent_used: str | None = None, *, save: bool = True) -> RoutingDecision:
        """Record what happened to a decision and, unless learning is off, learn from it."""
        if override_task_type is not None and override_task_type not in TASK_TYPES:
            raise GitorchError(f"task type {override_task_type!r} is not known",
                               hint=f"use one of: {', '.join(TASK_TYPES)}")
        if override_agent is not None and override_agent not in ("claude", "chatgpt-pro", "codex"):
            raise GitorchError(f"agent {override_agent!r} is not known", hint="use claude, chatgpt-pro or codex")
        if override_agent is None and override_task_type is None and outcome is None and agent_used is None:
            raise GitorchError("feedback needs something to record",
                               hint="pass --override AGENT, --type TYPE or --outcome success|failure")
        decision = self.store.record_feedback(decision_id, override_agent=override_agent,
                                              override_task_type=override_task_type, agent_used=agent_used,
                                              outcome=outcome)
        if self.learning and self._learn(decision) and save:
            self.save_state()
        if self.learning and self._memory is not None:  # the shadows' scores are read from the feedback itself
            self._memory.remember([decision])
        return decision

    def _learn(self, decision: RoutingDecision) -> bool:
        if not _apply(self.state, decision):
            return False
        self._taught.append(decision)
        return True


def _apply(state: learned.RepoState, decision: RoutingDecision) -> bool:
    """Learn the lesson of ``decision`` as its feedback now stands, in place of what was learned from
    it before: the same feedback again (a retried MCP call, a re-delivered event, a lesson read again
    from the team) changes nothing, and a changed mind replaces the earlier counts. A type step
    already taken is not undone; a new label takes one more step toward it."""
    now = lesson(decision)
    before = state.applied.get(decision.id, NO_LESSON)
    if now == before:
        return False
    for task_type, agent, slot in before["counts"]:
        counts = state.agent_counts(task_type, agent)
        counts[slot] = max(0, counts[slot] - 1)
    for task_type, agent, slot in now["counts"]:
        state.agent_counts(task_type, agent)[slot] += 1
    label = now["label"]
    if label is not None and label != before["label"] and label in learned.TYPES:
        x = learned.featurize([decision.text])
        base = learned.load_base()
        state.learn(x, base.scores(x, [decision.text])[0], label, base.temperature)
    state.remember(decision.id, now)
    return True


NO_LESSON: dict[str, Any] = {"label": None, "counts": []}
LESSONS_REREAD_MS = 24 * 3600 * 1000.0
PREFERRED, SUCCESSES, FAILURES = 0, 1, 2  # the slots of ``RepoState.agents[type][agent]``


def lesson(decision: RoutingDecision) -> dict[str, Any]:
    """What a decision's feedback teaches: the task type it confirms or corrects (a label for the type
    model) and the agent counts it moves, as ``[type, agent, slot]`` (JSON-shaped, to be remembered)."""
    override_agent, outcome = decision.override_agent, decision.outcome
    label = decision.override_task_type or (decision.task_type if outcome == "success" and not override_agent else None)
    task_type = decision.override_task_type or decision.task_type
    counts: list[list[Any]] = []
    if override_agent is not None and override_agent != decision.agent:
        counts += [[task_type, override_agent, PREFERRED], [task_type, decision.agent, FAILURES]]
    if outcome is not None:
        who = decision.agent_used or override_agent or decision.agent
        counts.append([task_type, who, SUCCESSES if outcome == "success" else FAILURES])
    return {"label": label, "counts": counts}


def _taught(data: dict[str, Any]) -> RoutingDecision:
    """A decision as another runner's outbox sent it (``SqliteStore``'s decision record): only what
    its lesson needs."""
    return RoutingDecision(
        id=str(data["decision_id"]), text=str(data["text"]), task_type=str(data["task_type"]), task_types={},
        agent=str(data["agent"]), confidence=0.0, scores={}, reasoning="", workflow=[], estimated_cost_usd=0.0,
        estimated_saving_usd=0.0, override_agent=data.get("override_agent"),
        override_task_type=data.get("override_task_type"), agent_used=data.get("agent_used"),
        outcome=data.get("outcome"))


def _rounded(types: dict[str, float]) -> dict[str, float]:
    full = dict.fromkeys(TASK_TYPES, 0.0)
    full.update({t: round(p, 4) for t, p in types.items()})
    return full


__all__ = ["Router", "estimate_lines"]
