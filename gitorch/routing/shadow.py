"""Strategies compared on the decisions people actually make.

Every decision stores what the acting strategy suggested and, in ``shadows``, what each strategy of
``routing.shadow`` would have suggested. Feedback scores them all. A score is a function of the
decision's latest feedback (``truth``), not a counter: the same feedback sent twice scores once, and
a later, different feedback replaces what the earlier one said.

What feedback tells (``truth``):
- ``--type T``: the task type was T;
- ``--override A``: the agent should have been A;
- ``--outcome success``: the agent that did the work (``agent_used``, else the suggestion) was right,
  and so was the suggested task type unless a person changed it;
- ``--outcome failure`` (without an override): that agent was wrong, the right one is unknown.

A suggestion is *right* when it matches everything the feedback tells (type and agent), *wrong* when
it contradicts any of it, and unscored when the feedback says nothing about it.

``compare`` gives each strategy's accuracy with a Wilson interval and, for the acting strategy
against each shadow, McNemar's exact test on the decisions both were scored on: the strategies are
judged on the same requests, so the test looks only at the requests where exactly one was right
(the discordant pairs) and asks whether one side wins them more often than a fair coin would. An
unpaired test of two proportions would ignore that pairing and need far more decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..model import RoutingDecision

SIGNIFICANCE = 0.05  # a switch is suggested only when McNemar's exact p-value is below this
Z95 = 1.959964  # the normal quantile of a 95% interval
MAX_DISAGREEMENTS = 20  # how many disagreeing decisions `stats` lists


@dataclass(frozen=True)
class Truth:
    """What feedback says the right suggestion was; ``None`` where it says nothing."""

    task_type: str | None = None
    agent: str | None = None
    not_agent: str | None = None  # an agent that failed (the right one is unknown)

    @property
    def known(self) -> bool:
        return self.task_type is not None or self.agent is not None or self.not_agent is not None


def truth(decision: RoutingDecision) -> Truth:
    """What the decision's latest feedback tells about the right task type and agent."""
    # the type: the same label the router learns from this feedback (``router.lesson``)
    task_type = decision.override_task_type or (
        decision.task_type if decision.outcome == "success" and not decision.override_agent else None)
    agent = decision.override_agent
    not_agent = None
    if decision.outcome == "success":
        agent = agent or decision.agent_used or decision.agent
    elif decision.outcome == "failure" and agent is None:
        not_agent = decision.agent_used or decision.agent
    return Truth(task_type, agent, not_agent)


def suggestions(decision: RoutingDecision) -> dict[str, dict[str, Any]]:
    """Every strategy's suggestion for this decision: the acting one first, then the shadows."""
    acting = {"agent": decision.agent, "task_type": decision.task_type, "confidence": decision.confidence}
    return {decision.strategy: acting, **{n: s for n, s in decision.shadows.items() if n != decision.strategy}}


def right(suggestion: dict[str, Any], known: Truth) -> bool | None:
    """Whether a suggestion matches what feedback said; None when feedback said nothing."""
    if not known.known:
        return None
    if known.task_type is not None and suggestion.get("task_type") != known.task_type:
        return False
    if known.agent is not None and suggestion.get("agent") != known.agent:
        return False
    return not (known.not_agent is not None and suggestion.get("agent") == known.not_agent)


def scores(decision: RoutingDecision) -> dict[str, bool]:
    """Right or wrong per strategy, for the strategies the decision's feedback can judge."""
    known = truth(decision)
    out = {}
    for name, suggestion in suggestions(decision).items():
        verdict = right(suggestion, known)
        if verdict is not None:
            out[name] = verdict
    return out


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (good at small n and near 0 or 1, unlike p ± z·se)."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: under "equally good", each discordant pair is a fair coin."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def p_text(p: float, name: str = "") -> str:
    """A p-value for people: three significant digits, and below one in a million just that;
    with ``name``, as a phrase ("p = 0.0989", "p < 1e-6")."""
    if p < 1e-6:
        return f"{name} < 1e-6" if name else "< 1e-6"
    return f"{name} = {p:.3g}" if name else f"{p:.3g}"


def compare(decisions: list[RoutingDecision], acting: str) -> dict[str, Any]:
    """Per strategy accuracy (95% Wilson interval) over the decisions it was scored on; per shadow,
    McNemar's exact test against ``acting`` on the decisions both were scored on; the decisions where
    the strategies disagreed (newest first); and a switch suggestion when a shadow is significantly better."""
    tallies: dict[str, list[int]] = {}
    pairs: dict[str, list[int]] = {}  # shadow -> [both right, only acting, only shadow, both wrong]
    disagreements = []
    for decision in decisions:
        scored = scores(decision)
        for name, ok in scored.items():
            tally = tallies.setdefault(name, [0, 0])
            tally[0] += ok
            tally[1] += 1
        if acting in scored:
            for name, ok in scored.items():
                if name != acting:
                    cell = pairs.setdefault(name, [0, 0, 0, 0])
                    cell[{(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[(scored[acting], ok)]] += 1
        seen = suggestions(decision)
        if len({(s.get("agent"), s.get("task_type")) for s in seen.values()}) > 1:
            disagreements.append({
                "decision_id": decision.id, "text": decision.text[:200], "created_at": decision.created_at.isoformat(),
                "suggestions": {n: {"agent": s.get("agent"), "task_type": s.get("task_type")} for n, s in seen.items()},
                "right": scored,
            })
    strategies = {}
    for name, (ok, n) in sorted(tallies.items(), key=lambda item: (item[0] != acting, item[0])):
        low, high = wilson(ok, n) or (0.0, 0.0)
        strategies[name] = {"acting": name == acting, "scored": n, "right": ok,
                            "accuracy_pct": round(100 * ok / n, 2), "interval_pct": [round(100 * low, 2), round(100 * high, 2)]}
    tests = {}
    suggestion = None
    for name, (both, only_acting, only_shadow, neither) in sorted(pairs.items()):
        p = mcnemar_exact(only_acting, only_shadow)
        tests[name] = {"against": acting, "paired": both + only_acting + only_shadow + neither,
                       "only_acting_right": only_acting, "only_shadow_right": only_shadow, "p_value": float(f"{p:.4g}"),
                       "significant": p < SIGNIFICANCE}
        if only_shadow > only_acting and p < SIGNIFICANCE and (suggestion is None or p < suggestion["p_value"]):
            suggestion = {"strategy": name, "p_value": float(f"{p:.4g}"), "test": "McNemar exact (two-sided)",
                          "message": f"{name} was right on {only_shadow} decisions where {acting} was wrong, and "
                                     f"wrong on {only_acting} where {acting} was right (McNemar exact {p_text(p, 'p')}): "
                                     f"switch with 'gitorch routing promote {name}'"}
    disagreements.sort(key=lambda d: d["created_at"], reverse=True)
    return {"acting": acting, "strategies": strategies, "tests": tests, "suggestion": suggestion,
            "disagreements": disagreements[:MAX_DISAGREEMENTS], "disagreement_count": len(disagreements)}
