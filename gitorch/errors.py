"""The one error type gitorch raises on purpose.

Every expected failure is a ``GitorchError`` carrying a sentence that says what is wrong and a hint
that says how to fix it. ``cli.main`` prints both and exits 1; anything else is "unexpected".
"""

from __future__ import annotations


class GitorchError(Exception):
    """An expected failure: ``message`` says what is wrong, ``hint`` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class ConfigError(GitorchError):
    """`.gitorch.yml` or an environment override is invalid."""


class BudgetExceeded(GitorchError):
    """A call would take spending over a limit; the run pauses instead of spending."""

    def __init__(self, message: str, hint: str | None = None, *, scope: str = "month", resume_at: str | None = None):
        super().__init__(message, hint)
        self.scope = scope
        self.resume_at = resume_at


class NotAvailableYet(GitorchError):
    """A command whose capability is not built in this version."""

    exit_code = 2
