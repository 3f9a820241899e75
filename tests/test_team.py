"""A team of runners on one Convex deployment: one owner per run, one budget, lessons shared.

Each runner is its own state folder (its own SQLite store and runner id) and, where it matters, its
own clone and its own process; they meet only in the local Convex (the project's own functions) and
on the GitHub double, as real runners on two machines would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from convex.http_client import ConvexExecutionError, ConvexHttpClient
from standins.convex_local import LocalConvex, project_root

from gitorch.cli import cli
from gitorch.simulate import demo_scenario
from gitorch.simulate.demo import DEMO_CONFIG, StandIns, git, make_repository
from gitorch.store.sqlite import SqliteStore

pytestmark = [pytest.mark.browser, pytest.mark.node]

TOKEN = "ghs_" + "e" * 36
LEASE_S = 10  # the shortest claim the configuration allows: a dead runner's lapses within it


@pytest.fixture
def convex():
    with LocalConvex() as server:
        yield server


class Runner:
    """One runner of the team: a state folder, a clone of the repository, and the environment that
    points it at the stand-ins and at the team's Convex."""

    def __init__(self, name: str, root: Path, standins: StandIns, convex: LocalConvex, repo: Path):
        self.name, self.root, self.repo = name, root, repo
        self.state = root / f"{name}-state"
        self.env = {**standins.env(self.state), "CONVEX_URL": convex.url, "CONVEX_DEPLOY_KEY": convex.admin_key,
                    "GITHUB_REPOSITORY": standins.hub.full_name if standins.hub else "", "GITHUB_TOKEN": TOKEN,
                    "GITHUB_STEP_SUMMARY": str(root / f"{name}-summary.md"),
                    "GITHUB_OUTPUT": str(root / f"{name}-output.txt")}

    @property
    def db(self) -> Path:
        return self.state / "state.db"

    def event(self, payload: dict, event_name: str) -> dict[str, str]:
        path = self.root / f"{self.name}-event-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(payload))
        return {**self.env, "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(path)}

    def action(self, payload: dict, event_name: str = "issue_comment") -> dict:
        """``gitorch action`` in this process, in this runner's clone."""
        cwd = os.getcwd()
        os.chdir(self.repo)
        try:
            result = CliRunner().invoke(cli, ["action", "--json"], env=self.event(payload, event_name),
                                        catch_exceptions=False)
        finally:
            os.chdir(cwd)
        assert result.exit_code == 0, result.output
        return json.loads(result.output[result.output.index("{"):])

    def spawn(self, payload: dict, event_name: str = "issue_comment") -> subprocess.Popen:
        """``gitorch action`` as a process of its own (to be killed)."""
        return subprocess.Popen([sys.executable, "-m", "gitorch", "action", "--json"], cwd=self.repo,
                                env={**os.environ, **self.event(payload, event_name)}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def journal_done(self, run_id: str) -> list[str]:
        if not self.db.exists():
            return []
        with SqliteStore(self.db) as store:
            return [row["key"] for row in store.journal(run_id) if row["status"] == "finished"]

    def spent_usd(self) -> float:
        with SqliteStore(self.db) as store:
            return store.spent_usd()


def team_totals(convex: LocalConvex, *totals: str) -> dict:
    client = ConvexHttpClient(convex.url)
    client.set_admin_auth(convex.admin_key)
    return client.query("coordination:totals", {"totals": list(totals)})


@pytest.fixture
def team(tmp_path, convex):
    config = DEMO_CONFIG.replace("pipeline:\n", f"pipeline:\n  lease_s: {LEASE_S}\n") + "routing:\n  auto: false\n"
    repo = make_repository(tmp_path, config_yaml=config)
    with StandIns(github=True, github_git_dir=str(tmp_path / "origin.git"), builder_latency_s=0.4) as s:
        s.hub.add_collaborator("maintainer", "write")
        s.hub.set_file(".gitorch.yml", config)
        clone = tmp_path / "shop-b"
        subprocess.run(["git", "clone", "-q", str(tmp_path / "origin.git"), str(clone)], check=True)
        for r in (repo, clone):
            git(r, "config", "user.name", "gitorch test")
            git(r, "config", "user.email", "gitorch@example.invalid")
        yield s, Runner("a", tmp_path, s, convex, repo), Runner("b", tmp_path, s, convex, clone)


def test_a_runner_killed_mid_build_is_finished_by_another_and_nothing_is_done_twice(team, convex):
    """Runner A dies (SIGKILL) while it builds. Runner B, asked while A's claim is live, leaves the run
    alone; once the claim lapses, B's schedule continues it from what GitHub and the branch hold: one
    pull request, one commit per task, one review per head."""
    from test_github_pipeline import labeled, proceed

    standins, a, b = team
    hub = standins.hub
    issue = hub.add_issue(demo_scenario.ISSUE_TITLE, demo_scenario.ISSUE_BODY, labels=["gitorch"])
    run_id = f"run-issue-{issue}"
    assert a.action(labeled(issue, hub.full_name), "issues")["status"] == "awaiting_confirmation"

    killed = a.spawn(proceed(issue, hub.full_name))
    deadline = time.monotonic() + 120
    while not any(k.startswith("build:") for k in a.journal_done(run_id)):
        assert killed.poll() is None, killed.communicate()
        assert time.monotonic() < deadline, "runner A never finished a build"
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    prompts_by_a = len(standins.page.prompts)

    # B is asked while A's claim is live: it does nothing, and says who holds the run.
    held = b.action(proceed(issue, hub.full_name))
    assert held["status"] == "held" and "being driven by" in held["message"]
    assert len(standins.page.prompts) == prompts_by_a and not hub.pulls

    time.sleep(LEASE_S + 1)  # A's claim lapses
    schedule = b.action({"schedule": "*/15 * * * *", "repository": {"full_name": hub.full_name}}, "schedule")
    assert schedule["status"] == "resumed", schedule

    [pr] = hub.pulls
    branch = hub.pulls[pr]["head"]["ref"]
    remote = str(a.root / "origin.git")
    subjects = git(a.repo, "--git-dir", remote, "log", "--format=%(trailers:key=Gitorch-Task,valueonly)",
                   f"main..{branch}").split()
    assert len(subjects) == len(set(subjects)) == 7  # five tasks and two fixes, each committed once
    reviews = hub.pull_reviews(pr)
    heads = [r["commit_id"] for r in reviews]
    assert len(heads) == len(set(heads)) == 2
    with SqliteStore(b.db) as store:
        assert store.get_run(run_id).status == "done"
    # What both runners spent is what the team's totals hold, once A's machine is back and sends its outbox.
    CliRunner().invoke(cli, ["sync"], env=a.env, catch_exceptions=False)
    month = f"month:{time.strftime('%Y-%m', time.gmtime())}"
    assert team_totals(convex, month)["spent"][0] == pytest.approx(a.spent_usd() + b.spent_usd(), abs=1e-9)
    assert team_totals(convex, month)["heldUsd"] == 0


def test_convex_away_mid_run_pauses_paid_calls_and_nobody_drives_the_run_twice(tmp_path, convex):
    """Convex stops answering after the plan. The run builds on (the builders cost nothing at the
    margin) but makes no Claude call the team's budget has not seen: the review waits, and the run
    pauses. A second process asked to continue it meanwhile cannot claim it and does nothing. When
    Convex is back, the schedule finishes the run and the team's totals hold every call, once."""
    config = DEMO_CONFIG.replace("pipeline:\n", f"pipeline:\n  lease_s: {LEASE_S}\n") + "convex:\n  retry_after_s: 1\n"
    repo = make_repository(tmp_path, config_yaml=config)
    with StandIns(builder_latency_s=0.3) as standins:
        runner = Runner("a", tmp_path, standins, convex, repo)
        env = {**os.environ, **runner.env}
        text = f"{demo_scenario.ISSUE_TITLE}\n\n{demo_scenario.ISSUE_BODY}"
        proc = subprocess.Popen([sys.executable, "-m", "gitorch", "run", text, "--yes", "--json"], cwd=repo, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        run_id = None
        while run_id is None or "plan" not in runner.journal_done(run_id):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never planned"
            if run_id is None and runner.db.exists():
                with SqliteStore(runner.db) as store:
                    runs = store.list_runs(1)
                    run_id = runs[0].id if runs else None
            time.sleep(0.02)
        convex.set_mode("refuse")
        claude_calls = len(standins.api.message_requests)

        # Meanwhile a second process is asked to continue the run: it cannot claim it, so it does nothing.
        second = subprocess.run([sys.executable, "-m", "gitorch", "run", "--resume", run_id, "--json"], cwd=repo,
                                env=env, capture_output=True, text=True, timeout=120)
        waits = json.loads(second.stdout)
        assert second.returncode == 1 and waits["status"] == "paused", second.stderr  # paused: exit 1, as always
        assert "cannot be reached to claim" in waits["message"]

        out, err = proc.communicate(timeout=180)
        first = json.loads(out)
        assert first["status"] == "paused" or "stopped here" in first.get("message", ""), (first, err)
        assert len(standins.api.message_requests) <= claude_calls + 1  # at most the call already in flight
        with SqliteStore(runner.db) as store:
            assert store.outbox_count() > 0  # the spend and the run wait for Convex, in SQLite

        convex.set_mode("normal")
        time.sleep(1.5)  # the run's wait (convex.retry_after_s) is over
        resumed = subprocess.run([sys.executable, "-m", "gitorch", "run", "--resume-due", "--json"], cwd=repo,
                                 env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        [done] = json.loads(resumed.stdout)
        assert done["status"] == "done" and done["verdict"] == "approve"
        tasks = git(repo, "log", "--format=%(trailers:key=Gitorch-Task,valueonly)", f"main..{done['branch']}").split()
        assert len(tasks) == len(set(tasks)) == 7
        CliRunner().invoke(cli, ["sync"], env=runner.env, catch_exceptions=False)
        month = f"month:{time.strftime('%Y-%m', time.gmtime())}"
        totals = team_totals(convex, month, f"run:{run_id}")
        assert totals["spent"] == [pytest.approx(runner.spent_usd(), abs=1e-9)] * 2
        assert totals["heldUsd"] == 0


EXPORT = re.compile(r"^export const (\w+) = (query|mutation|action|internalQuery|internalMutation|internalAction)\(",
                    re.MULTILINE)


def test_an_override_taught_on_one_runner_changes_the_next_suggestion_on_another(tmp_path, convex):
    """Three overrides through runner A (each `gitorch feedback` sends its lesson to the team at once)
    turn A's suggestion for such requests to Claude; runner B, with a store of its own, suggests the same
    at its next `gitorch route`, and learns each lesson once however often it reads them."""
    texts = [f"Generate CRUD endpoints for the {name} model" for name in ("order", "invoice", "product", "cart")]

    def runner(name: str) -> tuple[Path, dict[str, str]]:
        repo = make_repository(tmp_path / name)
        git(repo, "remote", "set-url", "origin", "https://github.com/acme/shop.git")  # both learn under acme/shop
        return repo, {"GITORCH_HOME": str(tmp_path / f"{name}-state"), "CONVEX_URL": convex.url,
                      "CONVEX_DEPLOY_KEY": convex.admin_key}

    def gitorch(where: tuple[Path, dict[str, str]], *args: str) -> dict:
        cwd = os.getcwd()
        os.chdir(where[0])
        try:
            result = CliRunner().invoke(cli, [*args, "--json"], env=where[1], catch_exceptions=False)
        finally:
            os.chdir(cwd)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    a, b = runner("a"), runner("b")
    assert gitorch(b, "route", texts[3])["agent"] == "chatgpt-pro"
    for text in texts[:3]:
        decision = gitorch(a, "route", text)
        gitorch(a, "feedback", decision["decision_id"], "--override", "claude")
    assert gitorch(a, "route", texts[3])["agent"] == "claude"

    told = gitorch(b, "route", texts[3])
    assert told["agent"] == "claude" and "done better" in told["reasoning"]
    assert gitorch(b, "route", texts[3])["scores"] == told["scores"]  # read again, learned once
    with SqliteStore(tmp_path / "a-state" / "state.db") as store_a, \
            SqliteStore(tmp_path / "b-state" / "state.db") as store_b:
        from gitorch.routing.learned import RepoState

        taught, learnt = (RepoState.from_bytes(s.load_router_state("acme/shop")) for s in (store_a, store_b))
    assert learnt.agents == taught.agents and learnt.agents["code_generation"]["claude"] == [3, 0, 0]


def test_a_team_month_alert_reaches_the_webhook_once_whichever_runners_pass_it(tmp_path, convex):
    """Two runners share a $1 month. A's call takes the team to 85%, B's to 90%, then both are stopped
    at the limit: each machine records both events (its dashboard shows them), but the team's webhook
    hears the 80% alert once and the pause once."""
    from expect import reservation
    from standins.webhook import WebhookReceiver

    from gitorch import config as config_module
    from gitorch.cost import hold
    from gitorch.errors import BudgetExceeded
    from gitorch.store.team import ConvexTeam

    with WebhookReceiver() as hook:
        env = {"CONVEX_URL": convex.url, "CONVEX_DEPLOY_KEY": convex.admin_key, "BUDGET_WEBHOOK_URL": hook.url}
        runners = []
        for name in ("a", "b"):
            config = config_module.load(cwd=tmp_path, env={**env, "GITORCH_HOME": str(tmp_path / name)})
            config.budget.monthly_usd, config.budget.per_run_usd = 1.0, None
            store = SqliteStore(config.db_path)
            runners.append((config, store, ConvexTeam(store, config.convex, convex.admin_key)))
        try:
            for (config, store, team), usd in zip(runners, (0.85, 0.05), strict=True):
                assert any("alert at 80%" in a for a in hold(team, store, config, reservation(usd)))
            for config, store, team in runners:
                with pytest.raises(BudgetExceeded):
                    hold(team, store, config, reservation(0.2))
                assert [e["kind"] for e in store.budget_events()] == ["alert", "paused"]
        finally:
            for _config, store, team in runners:
                team.close()
                store.close()
    texts = [p["text"] for p in hook.posts]
    assert len(texts) == 2, texts
    assert "alert at 80%" in texts[0] and "would pass the limit" in texts[1]


def test_without_the_deploy_key_no_function_reads_or_changes_team_data(convex):
    """Every function of convex/ is tried without a key, over HTTP as any stranger on the internet
    could: only mirror:version (the deployed functions' version, for `gitorch doctor`) answers."""
    client = ConvexHttpClient(convex.url)
    functions = [(f"{path.stem}:{name}", kind) for path in sorted((project_root() / "convex").glob("*.ts"))
                 if not path.name.endswith((".test.ts", ".d.ts")) for name, kind in EXPORT.findall(path.read_text())]
    assert len(functions) > 20, functions  # the list is read from the code: it cannot be empty by mistake
    public = []
    for path, kind in functions:
        call = client.query if "uery" in kind else client.mutation if "utation" in kind else client.action
        try:
            call(path, {})
        except ConvexExecutionError as exc:
            if "Could not find public function" in str(exc):
                continue
            public.append(path)  # it exists for strangers (and refused the empty arguments)
        else:
            public.append(path)
    assert public == ["mirror:version"]


ONE_TASK = {"summary": "The order confirmation template.", "tasks": [demo_scenario.PLAN["tasks"][0]]}


def test_one_month_limit_holds_across_two_runners_running_at_once(tmp_path, convex):
    """Two runners, each with five runs to do at the same time, share a month limit half of what the
    ten runs would cost. Every Claude call is reserved in the team's Convex first, so the team's
    spending stays within the limit (plus, at most, what two calls in flight used beyond their
    estimates), the runs that would pass it pause, and the team's total is the sum of both ledgers."""
    from gitorch.simulate.demo import ScriptedArchitect

    # One model for every Claude call (the ladder off), so that each run costs about the same.
    config = DEMO_CONFIG.replace("pipeline:\n", f"pipeline:\n  lease_s: {LEASE_S}\n") + \
        "anthropic:\n  max_output_tokens: 1024\nmodels:\n  ladder:\n    enabled: false\n"
    texts = [f"{demo_scenario.ISSUE_TITLE} (part {i})" for i in range(5)]
    with StandIns(architect=ScriptedArchitect(plan=ONE_TASK)) as standins:
        # Two runs on a machine of their own say what a run costs: the first writes the prompt cache.
        solo_repo = make_repository(tmp_path / "solo", config_yaml=config)
        solo_env = {**os.environ, **standins.env(tmp_path / "solo-state")}
        costs = []
        for text in texts[:2]:
            solo = subprocess.run([sys.executable, "-m", "gitorch", "run", text, "--yes", "--json"], cwd=solo_repo,
                                  env=solo_env, capture_output=True, text=True, timeout=300)
            assert solo.returncode == 0, solo.stderr
            costs.append(json.loads(solo.stdout)["cost_usd"])
        limit = round((2 * costs[0] + 8 * costs[1]) / 2, 6)

        limited = config + f"budget:\n  monthly_usd: {limit}\n"
        runners = []
        for name in ("a", "b"):
            repo = make_repository(tmp_path / name, config_yaml=limited)
            runners.append(Runner(name, tmp_path, standins, convex, repo))
        script = ("import subprocess, sys\n"
                  "for text in sys.argv[1:]:\n"
                  "    subprocess.run([sys.executable, '-m', 'gitorch', 'run', text, '--yes', '--json'])\n")
        procs = [subprocess.Popen([sys.executable, "-c", script, *texts], cwd=r.repo, env={**os.environ, **r.env},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in runners]
        outputs = [p.communicate(timeout=900)[0] for p in procs]

    results = [json.loads(line) for out in outputs for line in _json_objects(out)]
    assert len(results) == 10
    done = [r for r in results if r["status"] == "done"]
    paused = [r for r in results if r["status"] == "paused"]
    assert done and paused and len(done) + len(paused) == 10, [(r["status"], r["message"]) for r in results]
    assert all("month budget" in r["message"] for r in paused)
    month = f"month:{time.strftime('%Y-%m', time.gmtime())}"
    for r in runners:
        CliRunner().invoke(cli, ["sync"], env=r.env, catch_exceptions=False)
    team_spent = team_totals(convex, month)["spent"][0]
    assert team_spent == pytest.approx(sum(r.spent_usd() for r in runners), abs=1e-9)
    largest = 0.0
    for r in runners:
        with SqliteStore(r.db) as store:
            largest = max([largest, *(m.cost_usd for m in store.metrics_since(store_month_start()))])
    assert team_spent <= limit + 2 * largest


def store_month_start():
    from gitorch.cost import month_start
    from gitorch.model import utcnow

    return month_start(utcnow())


def _json_objects(text: str) -> list[str]:
    """The JSON documents `gitorch run --json` printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) != -1:
        obj, end = decoder.raw_decode(text, start)
        found.append(json.dumps(obj))
        at = end
    return found
