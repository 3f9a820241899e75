"""Assertions several test files share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest

from gitorch.cost import hold
from gitorch.errors import AgentError
from gitorch.model import Reservation, new_id, utcnow


@contextmanager
def agent_error(reason: str, match: str | None = None) -> Iterator[pytest.ExceptionInfo[AgentError]]:
    """Expect an ``AgentError`` with this ``reason`` (and a message matching ``match``)."""
    with pytest.raises(AgentError, match=match) as info:
        yield info
    assert info.value.reason == reason, f"expected reason {reason!r}, got {info.value.reason!r}: {info.value}"


def reservation(usd: float, run_id: str | None = None, *, expires_in_s: float = 900) -> Reservation:
    """A paid call's reservation of ``usd``, for ``expires_in_s`` seconds from now."""
    now = utcnow()
    return Reservation(new_id("res"), usd, "claude-sonnet-5-5", run_id, now, now + timedelta(seconds=expires_in_s))


def check_budget(store, config, usd: float, run_id: str | None = None, *, now: datetime) -> list[str]:
    """What a call estimated at ``usd`` meets at ``now``: alerts, or BudgetExceeded (it holds nothing after)."""
    held = reservation(usd, run_id)
    try:
        return hold(store, store, config, held, now=now)
    finally:
        store.release(held)
