"""The original design's router, kept as the named strategy ``keywords`` so benchmarks can compare.

Task type: count keyword substrings per type; the most hits wins; no hit or a tie goes to planning.
Scores: Claude 50 (+30 planning or review keywords, +20 large codebase, +15 architectural decisions,
+10 history of success on similar tasks); builder 50 (+30 code-generation keywords, +25 more than 200
estimated lines, +15 boilerplate, +10 history).
"""

from __future__ import annotations

from dataclasses import dataclass

TASK_KEYWORDS: dict[str, tuple[str, ...]] = {
    "planning": ("plan", "design", "architect", "structure", "strategy", "approach", "organize", "roadmap"),
    "code_generation": ("implement", "create", "generate", "write", "build", "add", "crud", "endpoint"),
    "review": ("review", "check", "audit", "analyze", "evaluate", "assess"),
    "refactoring": ("refactor", "restructure", "optimize", "clean", "improve", "simplify", "reorganize"),
    "debugging": ("fix", "debug", "error", "bug", "issue", "crash", "fail"),
}
ARCHITECTURE_KEYWORDS: tuple[str, ...] = (
    "architecture", "authentication", "auth", "security", "database", "schema", "migration", "scalab",
    "microservice", "infrastructure", "api design", "system design",
)
BOILERPLATE_KEYWORDS: tuple[str, ...] = (
    "crud", "boilerplate", "scaffold", "endpoints", "model", "form", "test", "template", "getter", "setter",
)


@dataclass
class KeywordResult:
    task_type: str
    hits: dict[str, int]
    claude: int
    builder: int
    reasons: list[str]


def hits(text: str) -> dict[str, int]:
    lowered = text.lower()
    return {kind: sum(1 for word in words if word in lowered) for kind, words in TASK_KEYWORDS.items()}


def classify(text: str) -> str:
    """The most keyword hits; none, or a tie, goes to planning."""
    found = hits(text)
    best = max(found.values())
    winners = [kind for kind, count in found.items() if count == best]
    return winners[0] if best > 0 and len(winners) == 1 else "planning"


def score(text: str, *, estimated_lines: int, large_codebase: bool, claude_history: bool,
          builder_history: bool) -> KeywordResult:
    lowered = text.lower()
    found = hits(text)
    claude, builder, reasons = 50, 50, []
    if found["planning"] or found["review"]:
        claude += 30
        reasons.append("planning/review keywords +30 Claude")
    if large_codebase:
        claude += 20
        reasons.append("large codebase +20 Claude")
    if any(word in lowered for word in ARCHITECTURE_KEYWORDS):
        claude += 15
        reasons.append("architectural decision +15 Claude")
    if claude_history:
        claude += 10
        reasons.append("Claude succeeded on similar tasks +10")
    if found["code_generation"]:
        builder += 30
        reasons.append("code-generation keywords +30 builder")
    if estimated_lines > 200:
        builder += 25
        reasons.append(f"~{estimated_lines} lines (>200) +25 builder")
    if any(word in lowered for word in BOILERPLATE_KEYWORDS):
        builder += 15
        reasons.append("boilerplate +15 builder")
    if builder_history:
        builder += 10
        reasons.append("builder succeeded on similar tasks +10")
    return KeywordResult(classify(text), found, min(claude, 100), min(builder, 100), reasons)
