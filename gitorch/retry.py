"""The one retry policy: a few attempts, exponential backoff with jitter, a capped ``retry-after``.

Numbers follow the Anthropic SDK's: back off from 0.5 s doubling to an 8 s cap, jitter trimming up
to 25 %; a ``retry-after`` of 0-60 s is honoured as given; a longer one is not slept through (the
error is re-raised with ``deferred_until`` so the run can pause). Every wait is logged. The sleep is
injectable so tests do not wait.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from .errors import ServiceError

log = logging.getLogger("gitorch.retry")
T = TypeVar("T")

INITIAL_S = 0.5
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0


def backoff_s(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Wait before retry number ``attempt`` (1-based): 0.5, 1, 2, 4, 8, 8... minus up to 25 %."""
    base = min(INITIAL_S * 2 ** (attempt - 1), MAX_BACKOFF_S)
    return base * (1 - 0.25 * rng())


@dataclass
class RetryPolicy:
    attempts: int = 3
    max_retry_after_s: float = MAX_RETRY_AFTER_S
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    waits: list[float] = field(default_factory=list)  # what was slept, for tests and reports

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after_s", None)
        wait = after if after is not None else backoff_s(state.attempt_number, self.rng)
        if state.attempt_number >= self.attempts:  # tenacity asks for the wait before it stops
            return 0.0
        self.waits.append(wait)
        log.warning("attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc, wait)
        return wait

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` with the policy. Non-retryable errors pass through at once; a retry-after
        beyond the cap becomes a deferral."""

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, ServiceError) or not exc.retryable:
                return False
            if exc.retry_after_s is not None and exc.retry_after_s > self.max_retry_after_s:
                exc.deferred_until = exc.deferred_until or (
                    datetime.now(UTC) + timedelta(seconds=exc.retry_after_s)).isoformat(timespec="seconds")
                return False
            return True

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            retry=retry_if_exception(should_retry),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(fn)
