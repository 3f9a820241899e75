"""Secrets never leave in text: prompts, logs, stored records and GitHub comments pass through here."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

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
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"(?:sk|rk)_live_[A-Za-z0-9]{16,}"),  # Stripe live keys
    re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"),  # Slack webhooks
    re.compile(r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]+"),  # Discord webhooks
)
# A quoted value assigned to a name that says it is secret: the name stays, the value goes.
ASSIGNMENT = re.compile(
    r"(?i)((?:api[_-]?key|secret|token|passw(?:or)?d|private[_-]?key|credentials?)[\w-]*[\"']?\s*[:=]\s*)"
    r"([\"'])([^\"'\s]{8,})\2")
# In a .env file: which keys hold secrets, and which values look like one whatever the key.
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*?)\s*$")
_SECRET_KEY = re.compile(r"(?i)key|token|secret|pass|pwd|auth|credential|private|dsn|database_url|conn")



def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every known secret value and every token-shaped string masked."""
    for value in sorted({k for k in known if k and len(k) >= 6}, key=len, reverse=True):
        text = text.replace(value, MASK)
    for pattern in PATTERNS:
        text = pattern.sub(MASK, text)
    return ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", text)


def env_values(text: str) -> list[str]:
    """The secret values of a ``.env`` file: every value of a key that names a secret (KEY, TOKEN,
    PASSWORD, DSN...) and any long value that mixes letters and digits, at least 6 characters."""
    values = []
    for line in text.splitlines():
        m = _ENV_LINE.match(line)
        if not m or line.lstrip().startswith("#"):
            continue
        key, value = m.group(1), m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        mixed = len(value) >= 16 and re.search(r"[A-Za-z]", value) and re.search(r"[0-9]", value)
        if len(value) >= 6 and (_SECRET_KEY.search(key) or mixed):
            values.append(value)
    return values


class Redactor:
    """``redact`` with a fixed set of known values (the configured secrets, .env values), for text,
    for nested records (dicts, lists, dataclasses' dicts) and for log records."""

    def __init__(self, known: Iterable[str] = ()):
        self.known: set[str] = set()
        self.add(known)

    def add(self, values: Iterable[str]) -> None:
        self.known.update(v for v in values if v and len(v) >= 6)

    def __call__(self, text: str) -> str:
        return redact(text, self.known)

    def record(self, value: Any) -> Any:
        """A copy of ``value`` with every string in it redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.record(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.record(v) for v in value)
        return value


_LOG_REDACTOR: Redactor | None = None


def install_log_redaction(redactor: Redactor) -> Redactor:
    """Mask secrets in every log record as it is made (any logger, any handler, also the SDK's and
    httpx's). Installed once per process; later calls add their known values."""
    global _LOG_REDACTOR
    if _LOG_REDACTOR is not None:
        _LOG_REDACTOR.add(redactor.known)
        return _LOG_REDACTOR
    _LOG_REDACTOR = active = Redactor(redactor.known)
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            record.msg, record.args = active(record.getMessage()), None
        except Exception:  # a record that cannot be formatted is left to logging's own handling
            pass
        return record

    logging.setLogRecordFactory(factory)
    return active
