"""Secrets never leave in text: prompts, logs, stored records and GitHub comments pass through here."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[REDACTED]"

# Token shapes worth catching even when nobody told us the value.
PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{10,}"),  # Anthropic keys
    re.compile(r"sk-(?:proj-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI keys
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),  # fine-grained GitHub tokens
    re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}"),  # AWS access key ids
    re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWTs
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every known secret value and every token-shaped string masked."""
    for value in sorted({k for k in known if k and len(k) >= 6}, key=len, reverse=True):
        text = text.replace(value, MASK)
    for pattern in PATTERNS:
        text = pattern.sub(MASK, text)
    return text
