"""Claims and budget reservations: what they cost per call, and what they hold.

Run: python bench/coordination.py [--calls N] [--issues N]

(a) Overhead per paid call and per claim, side by side in one run: the ledger's reserve-then-record
    of a call (and a run's claim-then-release) on this machine's SQLite, against the same on a team's
    Convex (the local Convex server with the project's own functions; its spend record drains in the
    background). Median and 95th percentile in ms, and the ratio.
(b) The budget under parallel calls: threads make paid calls (each takes 20 ms and really costs
    between 30% and 110% of its estimate) until the limit stops them, at parallelism 1, 2 and 4. With
    reservations (SQLite, and the team's Convex) against the old check-then-call (spending is read,
    the call made, its cost recorded after): spent against the limit, and the overshoot against its
    bound (the calls in flight at once, times the most a call used beyond its estimate).
(c) Two runners x N issues (default 20) with one month limit: two processes, each its own SQLite
    store and runner id, work through their issues at the same time (a plan, three builds and a
    review of paid calls each). With the team's budget in Convex, against each runner keeping its
    own budget (what a second runner without team mode does): issues done, the team's spending
    against the limit, and whether Convex's total equals the sum of the two ledgers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as `python bench/coordination.py`, this folder comes first on sys.path and `bench/convex.py`
# would shadow the `convex` package; drop it, and add the tests' folder, where the stand-ins live.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from standins.convex_local import LocalConvex  # noqa: E402

from gitorch.config import Config, ConvexConfig  # noqa: E402
from gitorch.errors import BudgetExceeded  # noqa: E402
from gitorch.model import Usage, utcnow  # noqa: E402
from gitorch.run.lease import Lease  # noqa: E402
from gitorch.run.ledger import Ledger  # noqa: E402
from gitorch.store.convex import ConvexHttp, ConvexMirror  # noqa: E402
from gitorch.store.sqlite import SqliteStore  # noqa: E402
from gitorch.store.team import ConvexTeam  # noqa: E402

MODEL = "claude-sonnet-5-5"
IN_TOKENS, OUT_TOKENS = 6000, 1500  # a call's estimate: about $0.027 at its prices


def config(monthly_usd: float = 1_000_000.0) -> Config:
    return Config.model_validate({"budget": {"monthly_usd": monthly_usd, "alert_threshold_pct": 100},
                                  "anthropic": {"max_output_tokens": 4096}})


def convex_settings(convex: LocalConvex) -> ConvexConfig:
    return ConvexConfig(url=convex.url, timeout_s=30, interval_s=0.2)


class Team:
    """One runner of a team: its SQLite store, its outbox drain, and the team's claims and budget."""

    def __init__(self, path: Path, convex_url: str, key: str):
        self.store = SqliteStore(path)
        settings = ConvexConfig(url=convex_url, timeout_s=30, interval_s=0.2)
        self.mirror = ConvexMirror(self.store, settings, key).start()
        self.team = ConvexTeam(self.store, settings, key, kick=self.mirror.kick)

    def close(self) -> None:
        self.mirror.stop()
        self.mirror.sync()
        self.mirror.close()
        self.team.close()
        self.store.close()


def paid_call(ledger: Ledger, run_id: str | None, rng: random.Random | None = None, seconds: float = 0.0) -> float:
    """One paid call through the ledger: reserved, made (``seconds``), recorded. Returns what it cost."""
    with ledger.paid(MODEL, input_tokens=IN_TOKENS, output_tokens=OUT_TOKENS, run_id=run_id) as paid:
        if seconds:
            time.sleep(seconds)
        share = rng.uniform(0.3, 1.1) if rng else 0.5
        usage = Usage(input_tokens=int(IN_TOKENS * share), output_tokens=int(OUT_TOKENS * share))
        return ledger.record(agent="claude", model=MODEL, usage=usage, duration_s=seconds, step="bench",
                             run_id=run_id, paid=paid).cost_usd


def naive_call(ledger: Ledger, run_id: str, limit: float, rng: random.Random, seconds: float) -> float:
    """The old way: read what the run spent, make the call if its estimate fits, record its cost after."""
    if ledger.store.spent_usd(run_id=run_id) + ledger.estimate(MODEL, IN_TOKENS, OUT_TOKENS) > limit:
        raise BudgetExceeded("month budget reached")
    time.sleep(seconds)
    share = rng.uniform(0.3, 1.1)
    usage = Usage(input_tokens=int(IN_TOKENS * share), output_tokens=int(OUT_TOKENS * share))
    return ledger.record(agent="claude", model=MODEL, usage=usage, duration_s=seconds, step="bench",
                         run_id=run_id).cost_usd


def ms(values: list[float]) -> str:
    values = sorted(values)
    return f"median {statistics.median(values) * 1000:6.2f} ms, p95 {values[int(len(values) * 0.95)] * 1000:6.2f} ms"


# -- (a) overhead --------------------------------------------------------------------------------------


def overhead(convex: LocalConvex, folder: Path, calls: int) -> None:
    cfg = config()
    local = SqliteStore(folder / "a-local.db")
    team = Team(folder / "a-team.db", convex.url, convex.admin_key)
    ledgers = {"sqlite": Ledger(local, cfg), "convex": Ledger(team.store, cfg, budget=team.team)}
    claims = {"sqlite": local, "convex": team.team}
    for name in ledgers:  # warm-up: Node compiles the functions on first use
        for _ in range(20):
            paid_call(ledgers[name], "run-warm")
    call_times: dict[str, list[float]] = {name: [] for name in ledgers}
    claim_times: dict[str, list[float]] = {name: [] for name in ledgers}
    for i in range(calls):  # paired: each round does one of each, alternating which goes first
        order = list(ledgers) if i % 2 == 0 else list(reversed(ledgers))
        for name in order:
            started = time.perf_counter()
            paid_call(ledgers[name], f"run-{i % 10}")
            call_times[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            with Lease(claims[name], f"run-claim-{i}", 60, runner=local.runner if name == "sqlite" else team.store.runner):
                pass
            claim_times[name].append(time.perf_counter() - started)
    print(f"(a) overhead, {calls} paired rounds")
    for name in ledgers:
        print(f"    {name:6} paid call (reserve + record): {ms(call_times[name])}   claim + release: {ms(claim_times[name])}")
    ratio = statistics.median(call_times["convex"]) / statistics.median(call_times["sqlite"])
    claim_ratio = statistics.median(claim_times["convex"]) / statistics.median(claim_times["sqlite"])
    print(f"    convex / sqlite: paid call x{ratio:.1f}, claim x{claim_ratio:.1f}")
    team.close()
    local.close()


# -- (b) parallel calls against one limit ---------------------------------------------------------------


def until_stopped(make_call, parallelism: int) -> tuple[int, list[float]]:
    """Threads call ``make_call(rng)`` until it raises BudgetExceeded; returns calls made, their costs."""
    costs: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            try:
                cost = make_call(rng)
            except BudgetExceeded:
                return
            with lock:
                costs.append(cost)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(parallelism)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(costs), costs


def parallel_budget(convex: LocalConvex, folder: Path) -> None:
    limit = 1.0  # the run's limit (budget.per_run_usd): the team's month total is shared by the cases
    cfg = Config.model_validate({"budget": {"per_run_usd": limit, "alert_threshold_pct": 100},
                                "anthropic": {"max_output_tokens": 4096}})
    estimate = Ledger(SqliteStore(folder / "b-estimate.db"), cfg).estimate(MODEL, IN_TOKENS, OUT_TOKENS)
    most_over = estimate * 0.1  # a call uses at most 110% of its estimate here
    print(f"(b) run limit ${limit:.2f}; each call estimated at ${estimate:.4f}, really 30-110% of it, 20 ms long")
    for parallelism in (1, 2, 4):
        line = []
        for kind in ("check-then-call", "sqlite", "convex"):
            run = f"bench-b-{kind}-{parallelism}"
            db = folder / f"{run}.db"
            team = Team(db, convex.url, convex.admin_key) if kind == "convex" else None
            store = team.store if team else SqliteStore(db)
            ledger = Ledger(store, cfg, budget=team.team if team else None)
            if kind == "check-then-call":
                def call(rng, ledger=ledger, run=run):
                    return naive_call(ledger, run, limit, rng, 0.02)
            else:
                def call(rng, ledger=ledger, run=run):
                    return paid_call(ledger, run, rng, 0.02)
            calls, costs = until_stopped(call, parallelism)
            team.close() if team else store.close()
            spent = sum(costs)
            line.append(f"{kind}: {calls} calls, ${spent:.4f}, over by ${max(0.0, spent - limit):.4f}")
        print(f"    parallelism {parallelism}: " + "; ".join(line) +
              f" (bound with reservations: ${parallelism * most_over:.4f})")


# -- (c) two runners, one month limit --------------------------------------------------------------------


def runner_process(db: str, convex_url: str, key: str, team_mode: bool, limit: float, issues: int, seed: int,
                   out: multiprocessing.Queue) -> None:
    rng = random.Random(seed)
    cfg = config(limit)
    if team_mode:
        team = Team(Path(db), convex_url, key)
        ledger = Ledger(team.store, cfg, budget=team.team)
    else:
        store = SqliteStore(db)
        ledger = Ledger(store, cfg)
    done = paused = 0
    started = time.perf_counter()
    for i in range(issues):
        run_id = f"run-{seed}-{i}"
        try:
            for _ in range(5):  # a plan, three builds, a review
                paid_call(ledger, run_id, rng, rng.uniform(0.01, 0.03))
            done += 1
        except BudgetExceeded:
            paused += 1
    seconds = time.perf_counter() - started
    spent = ledger.store.spent_usd()
    if team_mode:
        team.close()
    else:
        store.close()
    out.put({"done": done, "paused": paused, "spent": spent, "seconds": seconds})


def two_runners(convex: LocalConvex, folder: Path, issues: int) -> None:
    one_issue = 5 * Ledger(SqliteStore(folder / "c-estimate.db"), config()).estimate(MODEL, IN_TOKENS, OUT_TOKENS)
    limit = round(one_issue * issues * 0.6, 2)  # the two runners together could spend about 3.3 times this
    print(f"(c) two runners x {issues} issues, month limit ${limit:.2f} (one issue: 5 calls, at most "
          f"${one_issue * 1.1:.3f})")
    ctx = multiprocessing.get_context("spawn")
    for team_mode in (True, False):
        if team_mode:  # a deployment of its own, so the team's month total starts at zero
            server = LocalConvex().start()
        queue = ctx.Queue()
        procs = [ctx.Process(target=runner_process, args=(str(folder / f"c-{team_mode}-{n}.db"),
                                                          server.url if team_mode else "",
                                                          server.admin_key if team_mode else "",
                                                          team_mode, limit, issues, n, queue))
                 for n in (1, 2)]
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
        wall = time.perf_counter() - started
        spent = sum(r["spent"] for r in results)
        label = "team budget in Convex" if team_mode else "each runner its own budget"
        extra = ""
        if team_mode:
            client = ConvexHttp(server.url, server.admin_key)
            total = client.query("coordination:totals", {"totals": [f"month:{utcnow():%Y-%m}"]})["spent"][0]
            client.close()
            extra = f"; Convex's month total ${total:.4f} = sum of the ledgers: {abs(total - spent) < 1e-9}"
            server.stop()
        print(f"    {label:28}: issues done {[r['done'] for r in results]}, paused {[r['paused'] for r in results]}, "
              f"team spent ${spent:.4f} of ${limit:.2f} ({spent / limit * 100:.0f}%), {wall:.1f} s{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--issues", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalConvex() as convex:
        folder = Path(tmp)
        overhead(convex, folder, args.calls)
        parallel_budget(convex, folder)
        two_runners(convex, folder, args.issues)


if __name__ == "__main__":
    main()
