"""What a request asks to be done, read from its wording rather than its genre.

A commit subject, an issue title and a design question are different genres; the task under them is
the same kind of thing: a symptom to explain (debugging), a capability to add (code generation), a
change of shape that keeps behaviour (refactoring), or a decision to make (planning). These cues are
written by hand from how people phrase those four requests; they are prior knowledge, not learned from
any data set, and the learned model adds its evidence on top of them.

``tokens`` removes what only tells the genre or the repository apart: case, the ``Title: summary`` form
of a design document, length beyond the first words, and the names of the repository's own things
(identifiers, paths, versions, quoted code), which become one ``<code>`` token.
"""

from __future__ import annotations

import re

INTENT_TYPES: tuple[str, ...] = ("planning", "code_generation", "debugging", "refactoring")
MAX_WORDS = 40

_LEAD_IN = re.compile(
    r"^(?:(?:please|pls|kindly|we|i|you|team)\s+)?(?:(?:need|needs|want|wants|would like|have|has|'d like)\s+to\s+|"
    r"(?:should|must|can|could|let's|lets|let us)\s+(?=\w+\s)(?!we\b|i\b|you\b)|to\s+)?"
)

# The first verb says most of what is asked.
_VERBS: dict[str, tuple[str, ...]] = {
    "planning": (
        "design", "plan", "propose", "decide", "evaluate", "compare", "outline", "sketch", "discuss",
        "think", "figure", "define", "explore", "recommend", "assess", "consider", "research", "choose",
        "brainstorm", "envision", "architect", "strategize", "weigh", "come up", "rfc", "proposal",
        "spec", "draft",
    ),
    "code_generation": (
        "add", "implement", "create", "build", "support", "allow", "enable", "introduce", "provide",
        "generate", "scaffold", "write", "let", "expose", "show", "display", "send", "offer", "include",
        "integrate", "new", "make it possible", "auto", "accept", "emit", "export", "import", "notify",
        "track", "record", "log", "store", "persist", "sync", "detect", "warn", "validate",
    ),
    "debugging": (
        "fix", "debug", "resolve", "repair", "correct", "prevent", "avoid", "investigate", "diagnose",
        "handle", "ensure", "restore", "stop", "don't", "do not", "workaround", "patch", "hotfix",
    ),
    "refactoring": (
        "refactor", "split", "extract", "rename", "move", "clean", "cleanup", "tidy", "simplify",
        "deduplicate", "dedupe", "reorganise", "reorganize", "restructure", "consolidate", "decouple",
        "inline", "convert", "migrate", "replace", "rewrite", "flatten", "merge", "break up", "break",
        "pull", "turn", "reduce", "remove", "drop", "delete", "modernise", "modernize", "port", "unify",
        "isolate", "encapsulate", "abstract", "reuse", "share", "streamline", "untangle", "separate",
        "rework", "reshape", "use", "switch", "swap", "deprecate", "centralise", "centralize", "type",
    ),
}


def _words(items: tuple[str, ...]) -> str:
    return "|".join(re.escape(i) for i in sorted(items, key=len, reverse=True))


_FIRST_VERB = {kind: re.compile(rf"^(?:{_words(verbs)})\b") for kind, verbs in _VERBS.items()}

# Cues anywhere in the text, with a weight each.
_CUES: dict[str, list[tuple[re.Pattern[str], float]]] = {
    "planning": [
        (re.compile(r"^(?:how|what|which|why|where|when)\b(?! (?:does|do|did|is|are) (?:it|this|the)\b.*\b(?:crash|fail|break|error))"), 1.5),
        (re.compile(r"^(?:should|shall|would|could|can|do|does|is|are)\s+(?:we|i|our|the|it|there|this)\b"), 1.5),
        (re.compile(r"\?\s*$"), 1.0),
        (re.compile(r"\b(?:should we|how (?:do|should|would|can|could|will) we|what(?:'s| is) the (?:best|right) way|"
                    r"best way|right way|pros and cons|trade-?offs?|versus|vs\.?)\b"), 1.5),
        (re.compile(r"\b(?:architecture|architectural|strategy|approach(?:es)?|options|roadmap|proposal|design doc|"
                    r"decision|long-term|high-level|rollout|boundar(?:y|ies)|contract|scal(?:e|ability|able)|"
                    r"trade|recommendation|direction|vision|principles|model(?:l)?ing|rationale|motivation)\b"), 1.0),
        (re.compile(r"\b(?:this document|this proposal|proposes?|we propose|goal of|aims to)\b"), 1.0),
    ],
    "code_generation": [
        # "Email customers when ...", "SMS the driver ...": telling someone something is a capability to build
        (re.compile(r"^(?:e-?mail|sms|text|message|ping|remind|alert)\s+(?:the\s+|a\s+|an\s+|our\s+|all\s+|every\s+|each\s+)?"
                    r"(?:customers?|users?|buyers?|shoppers?|admins?|owners?|members?|people|team|couriers?|drivers?|"
                    r"patients?|subscribers?|managers?|staff|authors?|reviewers?|me|us|them)\b"), 2.0),
        (re.compile(r"\b(?:new (?:feature|command|endpoint|page|option|setting|button|api|flag|hook|plugin|field))\b"), 1.0),
        (re.compile(r"\b(?:support for|ability to|option to|possibility to|let (?:users|admins|people|you)|"
                    r"allow (?:users|admins|people|you)|so that (?:users|admins|people|i|we) can)\b"), 1.0),
        (re.compile(r"\b(?:endpoint|button|toggle|page|dialog|widget|integration|flag|shortcut|setting|"
                    r"export|import|notification|feature|command)s?\b"), 0.3),
    ],
    "debugging": [
        (re.compile(r"\b(?:crash(?:es|ed|ing)?|fail(?:s|ed|ing|ure)?|errors?|exceptions?|broken|breaks?|bug(?:gy|s)?|"
                    r"wrong(?:ly)?|incorrect(?:ly)?|not working|no longer|stuck|hang(?:s|ing)?|freez(?:e|es|ing)|"
                    r"leaks?|time ?outs?|times out|regression|flaky|intermittent(?:ly)?|garbled|missing|lost|"
                    r"drops?|twice|off by|mismatch|cut off|blank|typeerror|undefined|null|nan|race condition|"
                    r"overlap(?:s|ping)?|skips?|silently|unexpected(?:ly)?|randomly|resets?|expired|"
                    r"invalid|corrupt(?:s|ed)?|panics?|deadlocks?|throws?|500|502|503|404|instead of|"
                    r"can't|cannot|unable to|doesn't|does not|don't|do not|isn't|aren't|won't|never|nothing|"
                    r"(?:is|are|was|were|gets?|got) not \w+|overwrites?|slow(?:ly|er)?|spinner|glitch(?:es)?|misalign(?:ed)?|overflow(?:s)?|infinite)\b"), 1.0),
        (re.compile(r"\b(?:when|after|on|with|for|behind|under)\b.*\b(?:crash|fail|error|break|hang|leak|wrong|lost)"), 0.5),
    ],
    "refactoring": [
        (re.compile(r"\b(?:without changing|no (?:behaviou?r|functional) changes?|same (?:behaviou?r|output|queries)|"
                    r"keeping the same|behaviou?r unchanged|no user-visible)\b"), 2.0),
        (re.compile(r"\b(?:smaller (?:pieces|modules|functions|components|controllers|classes|files)|dead code|unused|"
                    r"duplicat(?:e|ed|ion)|into (?:its|their) own|into one|out of|named constants|interface|"
                    r"layer|decouple|readab(?:le|ility)|maintainab(?:le|ility)|legacy|tech(?:nical)? debt|"
                    r"boilerplate|helpers?|module|internals?|codebase|nested|reusable|consistently|structure)\b"), 0.6),
    ],
}

_TOKEN = re.compile(r"`[^`]*`|[\w.\-/@$:#']+|[^\w\s]")
# An identifier, path, version or quoted code: what it names belongs to one repository, its shape does not.
_CODE = re.compile(r"[a-z][A-Z]|[._/@$:#]\w|\d|^-|_")
_TITLE_COLON = re.compile(r"\s*:\s+")
_SPACE = re.compile(r"\s+")
CODE_TOKEN = "<code>"


def tokens(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """The words of ``text`` in lower case, at most ``max_words``, with every identifier, path, version
    or backquoted span replaced by ``<code>`` and the ``Title: summary`` colon of a design document
    dropped: what is left is how the request is phrased, not which repository it came from."""
    found = _TOKEN.findall(_TITLE_COLON.sub(" ", text.replace("’", "'")))[:max_words]
    return [CODE_TOKEN if word.startswith("`") or _CODE.search(word) else word.lower() for word in found]


def _lead(text: str) -> str:
    """The text from its first verb on: drops "please", "we need to", "let's"."""
    return _LEAD_IN.sub("", text, count=1)


def cues(text: str) -> dict[str, float]:
    """Evidence for each intent in raw ``text``: the leading verb (weight 2) plus cue phrases."""
    lowered = _SPACE.sub(" ", text.lower().replace("’", "'").replace("`", "")).strip()
    lead = _lead(lowered)
    scores = dict.fromkeys(INTENT_TYPES, 0.0)
    for kind, pattern in _FIRST_VERB.items():
        if pattern.match(lead):
            scores[kind] += 2.0
    for kind, patterns in _CUES.items():
        for pattern, weight in patterns:
            if pattern.search(lowered):
                scores[kind] += weight
    # A symptom asked as a question ("why does X crash?") is still a symptom.
    if scores["debugging"] >= 1.0 and scores["planning"] > 0 and not _FIRST_VERB["planning"].match(lead):
        scores["planning"] = max(0.0, scores["planning"] - 1.0)
    return scores


_REVIEW_LEAD = re.compile(r"^(?:review|audit|proofread|critique|double-check|sanity-check|look over|go over|"
                          r"check (?:the|this|my|our) (?:pr|pull request|changes|diff|code|implementation))\b")
_REVIEW_CUE = re.compile(r"\b(?:code review|review (?:of )?(?:the|this|my|our|pr|pull request|changes|diff)|"
                         r"second (?:pair of eyes|opinion)|security audit|feedback on (?:the|this|my|our) "
                         r"(?:pr|pull request|changes|diff|code|implementation))\b")


def review_evidence(text: str) -> float:
    """Evidence that ``text`` asks for a review of existing work (a type the data sets lack)."""
    lowered = _SPACE.sub(" ", text.lower().replace("`", "")).strip()
    lead = _lead(lowered)
    return (2.0 if _REVIEW_LEAD.match(lead) else 0.0) + (1.5 if _REVIEW_CUE.search(lowered) else 0.0)
