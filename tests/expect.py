"""Assertions several test files share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gitorch.errors import AgentError


@contextmanager
def agent_error(reason: str, match: str | None = None) -> Iterator[pytest.ExceptionInfo[AgentError]]:
    """Expect an ``AgentError`` with this ``reason`` (and a message matching ``match``)."""
    with pytest.raises(AgentError, match=match) as info:
        yield info
    assert info.value.reason == reason, f"expected reason {reason!r}, got {info.value.reason!r}: {info.value}"
