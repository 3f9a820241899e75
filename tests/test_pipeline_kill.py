"""A real `gitorch run` process is killed (SIGKILL) after every step of its journal, then resumed.

However often it dies, the run ends with one commit per task, one review per round, one plan, and
the same result as a run that was never interrupted. The stand-ins live in this test's process, so
they see every request the killed processes made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gitorch.simulate import demo_scenario
from gitorch.simulate.demo import ScriptedArchitect, StandIns, git, make_repository
from gitorch.store.sqlite import SqliteStore

pytestmark = pytest.mark.browser

PLAN = {"summary": "A template and the preferences check.", "tasks": [
    demo_scenario.PLAN["tasks"][0],  # templates.py: right the first time
    demo_scenario.PLAN["tasks"][2],  # preferences.py: unfinished first, so a fix round follows
]}
TEXT = f"{demo_scenario.ISSUE_TITLE}\n\n{demo_scenario.ISSUE_BODY}"


@pytest.fixture
def world(tmp_path):
    repo = make_repository(tmp_path)
    # Each agent call takes a moment, so the test can stop the process between two steps.
    with StandIns(architect=ScriptedArchitect(plan=PLAN, latency_s=0.3), builder_latency_s=0.3) as standins:
        env = {**os.environ, **standins.env(tmp_path / "state")}
        yield standins, repo, env, tmp_path / "state" / "state.db"


def _finished(db, run_id: str | None) -> tuple[str | None, int]:
    if not db.exists():
        return run_id, 0
    with SqliteStore(db) as store:
        if run_id is None:
            runs = store.list_runs(1)
            if not runs:
                return None, 0
            run_id = runs[0].id
        return run_id, sum(s["status"] == "finished" for s in store.journal(run_id))


def _gitorch(repo, env, *args):
    return subprocess.Popen([sys.executable, "-m", "gitorch", "run", *args, "--yes", "--json"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_killed_after_every_step_the_run_still_does_everything_exactly_once(world):
    standins, repo, env, db = world
    run_id, kills = None, 0
    proc = _gitorch(repo, env, TEXT)
    target = 1
    while True:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            run_id, done = _finished(db, run_id)
            if done >= target:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
                break
            time.sleep(0.01)
        if proc.returncode is not None and proc.returncode != -signal.SIGKILL:
            break  # the run got to its end before the next kill
        assert time.monotonic() < deadline, "the run made no progress"
        _, target = _finished(db, run_id)
        target += 1
        proc = _gitorch(repo, env, "--resume", run_id)

    out, err = proc.communicate()
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    result = json.loads(out)
    assert kills >= 5, f"only {kills} kills: the run was hardly interrupted"
    assert result["status"] == "done" and result["verdict"] == "approve" and result["rounds"] == 2
    with SqliteStore(db) as store:
        journal = store.journal(run_id)
        assert all(s["status"] == "finished" for s in journal)
        keys = [s["key"] for s in journal]
        assert len(keys) == len(set(keys))
        assert [r.verdict for r in store.reviews(run_id)] == ["reject", "approve"]
        assert sum(m.step == "plan" for m in store.metrics_since(store.get_run(run_id).created_at)) >= 1
    # One commit per task and fix on the branch, whatever the number of kills.
    tasks = git(repo, "log", "--format=%(trailers:key=Gitorch-Task,valueonly)", f"main..{result['branch']}").split()
    assert sorted(tasks) == ["fix1-1", "t1", "t3"]
    assert git(repo, "status", "--porcelain") == ""


def test_two_resumes_of_one_run_started_together_build_it_once(world):
    standins, repo, env, db = world
    waiting = subprocess.run([sys.executable, "-m", "gitorch", "run", TEXT, "--json"], cwd=repo, capture_output=True,
                             text=True, env={**env, "AUTO_ROUTING_ENABLED": "false"}, stdin=subprocess.DEVNULL)
    run_id = json.loads(waiting.stdout)["run_id"]
    assert json.loads(waiting.stdout)["status"] == "awaiting_confirmation"
    first, second = (_gitorch(repo, env, "--resume", run_id) for _ in range(2))  # at the same moment
    outcomes = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, out[-2000:] + err[-2000:]  # both exit cleanly
        outcomes.append(json.loads(out))
    held = [o for o in outcomes if o["held_by"]]
    built = [o for o in outcomes if not o["held_by"]]
    assert len(held) == 1 and len(built) == 1
    builder_pid = first.pid if outcomes[1]["held_by"] else second.pid
    assert f"is being driven by {os.uname().nodename} (pid {builder_pid}) since" in held[0]["message"]
    assert built[0]["status"] == "done" and built[0]["verdict"] == "approve"
    tasks = git(repo, "log", "--format=%(trailers:key=Gitorch-Task,valueonly)", f"main..{built[0]['branch']}").split()
    assert sorted(tasks) == ["fix1-1", "t1", "t3"]  # one commit per task and fix
    assert len(standins.page.prompts) == 3  # each built once, by the builder
    with SqliteStore(db) as store:
        metrics = store.run_metrics(run_id)
        assert not any(m.fallback for m in metrics) and sum(m.step == "build" for m in metrics) == 3
        assert all(s["attempts"] == 1 for s in store.journal(run_id) if s["key"].startswith(("build:", "commit:")))
