"""One owner per run: the claim a process holds while it drives a run.

A drive claims its run (holder: this host, this pid, a random token) for ``pipeline.lease_s``
seconds, renews the claim from a background thread every third of that while it works, and releases
it at the end. A second driver that finds a live claim does not build (``RunHeld`` names the holder
and since when). A claim whose process died lapses at its expiry, and the next claimer continues from
the journal. A drive that could not renew its claim in time stops before its next step
(``LeaseLost``), because by then another process may have taken the run over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from ..errors import GitorchError
from ..model import Holder, new_id
from ..ports import Claims

log = logging.getLogger("gitorch.run.lease")


class RunHeld(GitorchError):
    """Another live process drives the run; this one leaves it alone."""

    def __init__(self, run_id: str, holder: Holder):
        super().__init__(f"run {run_id} is being driven by {holder}; nothing was done here",
                         hint="it goes on there; if that process died, its claim lapses and the next "
                              "'gitorch run --resume', event or schedule tick continues the run")
        self.run_id = run_id
        self.holder = holder


class LeaseLost(GitorchError):
    """This process could not keep its claim in time: it stops before acting again."""


def this_process(runner: str = "") -> Holder:
    """A holder for a drive of this process: the host, the pid, the state folder's runner id and a
    fresh token."""
    return Holder(host=socket.gethostname(), pid=os.getpid(), token=new_id(), runner=runner)


def gone(holder: Holder, runner: str) -> bool:
    """Whether ``holder`` is a process of this machine and store that no longer exists (killed,
    crashed): its claim need not wait for its expiry."""
    if not runner or holder.runner != runner or holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


class Lease:
    """The claim on one run, held (and renewed) for as long as the ``with`` block runs."""

    def __init__(self, claims: Claims, run_id: str, lease_s: float, *, runner: str = "",
                 holder: Holder | None = None, clock: Callable[[], float] = time.monotonic):
        self.claims, self.run_id, self.lease_s, self.runner = claims, run_id, lease_s, runner
        self.holder = holder or this_process(runner)
        self.clock = clock
        self._renewed_at = 0.0
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        started = self.clock()
        current = self.claims.claim(self.run_id, self.holder, self.lease_s)
        if not self.holder.same(current) and gone(current, self.runner):
            current = self.claims.claim(self.run_id, self.holder, self.lease_s, take_over=current)
        if not self.holder.same(current):
            raise RunHeld(self.run_id, current)
        self.holder = current
        self._renewed_at = started
        self._thread = threading.Thread(target=self._keep, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease_s)
        if self._lost is None:
            try:
                self.claims.release_claim(self.run_id, self.holder)
            except GitorchError as err:  # the claim lapses by itself
                log.warning("could not release the claim on %s: %s", self.run_id, err.message)

    def _keep(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            asked = self.clock()
            try:
                if self.claims.renew(self.run_id, self.holder, self.lease_s):
                    self._renewed_at = asked
                    continue
                self._lost = "another process took the run over"
            except GitorchError as err:  # the store (or the team's Convex) is away for now
                log.warning("could not renew the claim on %s: %s", self.run_id, err.message)
                if self.clock() - self._renewed_at < self.lease_s:
                    continue
                self._lost = f"the claim could not be renewed for {self.lease_s:.0f} s ({err.message})"
            return

    def check(self) -> None:
        """Raise ``LeaseLost`` when this process may no longer act for the run."""
        if self._lost is None and self.clock() - self._renewed_at >= self.lease_s:
            self._lost = f"the claim was last renewed more than {self.lease_s:.0f} s ago"
        if self._lost is not None:
            raise LeaseLost(f"run {self.run_id} stopped here: {self._lost}",
                            hint="whoever holds the run now continues it; nothing done so far is lost")
