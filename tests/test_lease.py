"""One owner per run: a claim with an expiry, renewed while the run is driven, taken over only when
its holder died; a drive that cannot keep its claim stops before acting again."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from gitorch.model import Holder
from gitorch.run.lease import Lease, LeaseLost, RunHeld, gone, this_process
from gitorch.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def test_a_second_driver_finds_the_run_held_and_is_told_by_whom(store):
    with Lease(store, "run-1", 60, runner=store.runner) as first:
        with pytest.raises(RunHeld) as held, Lease(store, "run-1", 60, runner=store.runner):
            pass
        assert held.value.holder.token == first.holder.token
        assert f"pid {os.getpid()}" in held.value.message and " since " in held.value.message
    with Lease(store, "run-1", 60, runner=store.runner):  # released at the end: the next one gets it
        pass
    assert store.holder("run-1") is None


def test_a_claim_whose_holder_died_lapses_at_its_expiry(store):
    other = Holder("another-machine", 4242, "tok-dead", runner="other-runner")
    store.claim("run-1", other, lease_s=0.3)
    with pytest.raises(RunHeld):
        Lease(store, "run-1", 60, runner=store.runner).__enter__()
    time.sleep(0.4)
    with Lease(store, "run-1", 60, runner=store.runner) as lease:
        assert store.holder("run-1").token == lease.holder.token


def test_a_killed_process_on_this_machine_gives_up_its_claim_at_once(store, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = Holder(this_process().host, child.pid, "tok-child", runner=store.runner)
    store.claim("run-1", dead, lease_s=600)
    assert not gone(dead, store.runner)  # alive: its claim holds
    with pytest.raises(RunHeld):
        Lease(store, "run-1", 60, runner=store.runner).__enter__()
    child.kill()
    child.wait()
    assert gone(dead, store.runner)
    with Lease(store, "run-1", 60, runner=store.runner) as lease:  # no need to wait ten minutes
        assert store.holder("run-1").token == lease.holder.token
    # A holder of another store (another runner) is never judged by this machine's processes.
    assert not gone(Holder(dead.host, child.pid, "tok", runner="other-runner"), store.runner)


def test_the_claim_is_renewed_while_the_run_is_driven(store):
    with Lease(store, "run-1", 0.6, runner=store.runner) as lease:
        first = store.holder("run-1").expires_at
        time.sleep(0.5)  # renewed every 0.2 s
        assert store.holder("run-1").expires_at > first
        lease.check()


class AwayStore:
    """A claims store that answers the claim, then is away (Convex down) for every renewal."""

    def __init__(self, store):
        self.store = store

    def claim(self, *args, **kw):
        return self.store.claim(*args, **kw)

    def renew(self, *args, **kw):
        from gitorch.errors import GitorchError

        raise GitorchError("the team's store cannot be reached")

    def release_claim(self, *args, **kw):
        return self.store.release_claim(*args, **kw)


def test_a_drive_that_cannot_renew_in_time_stops_before_its_next_step(store):
    with Lease(AwayStore(store), "run-1", 0.3, runner=store.runner) as lease:
        lease.check()
        time.sleep(0.45)
        with pytest.raises(LeaseLost, match="could not be renewed|last renewed"):
            lease.check()


def test_a_drive_whose_run_was_taken_over_stops(store):
    with Lease(store, "run-1", 0.3, runner=store.runner) as lease:
        store.release_claim("run-1", lease.holder)  # as if it lapsed and someone else took it
        store.claim("run-1", Holder("elsewhere", 1, "tok-new", runner="other"), lease_s=60)
        time.sleep(0.25)
        with pytest.raises(LeaseLost, match="another process took the run over"):
            lease.check()
    assert store.holder("run-1").token == "tok-new"  # the new owner's claim is left alone
