"""The one retry policy, as a log reader meets it: each wait it says it takes, it takes."""

from __future__ import annotations

import logging

import pytest

from gitorch.errors import ServiceError
from gitorch.retry import RetryPolicy


def test_a_service_that_never_recovers_is_tried_three_times_and_says_retrying_only_twice(caplog):
    slept: list[float] = []
    policy = RetryPolicy(attempts=3, sleep=slept.append, rng=lambda: 0.0)
    calls = []

    def down() -> None:
        calls.append(1)
        raise ServiceError("503 from the service", retryable=True)

    with caplog.at_level(logging.WARNING, logger="gitorch.retry"), pytest.raises(ServiceError, match="503"):
        policy.call(down)
    assert len(calls) == 3
    assert slept == policy.waits == [0.5, 1.0]
    assert [r.getMessage().split(";")[1].strip() for r in caplog.records] == ["retrying in 0.50s", "retrying in 1.00s"]
