"""The dashboard without a browser: access rules, the command line, the figures over time, the
team's records read back as a store, and the charts' SVG."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from click.testing import CliRunner
from test_dashboard import fill_month  # tests/ is on sys.path (conftest.py, no package)

from gitorch import config as config_module
from gitorch import stats
from gitorch.cli import cli
from gitorch.dashboard import charts
from gitorch.dashboard.app import COOKIE, DashboardServer, check_binding
from gitorch.dashboard.sources import LocalSource
from gitorch.dashboard.team import TeamStore
from gitorch.errors import GitorchError
from gitorch.model import Run, utcnow
from gitorch.store.sqlite import SqliteStore

TOKEN = "s3cret-token-for-the-team-0123"


def gitorch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gitorch", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def month(isolated_env):
    config = config_module.load()
    made = fill_month(config.db_path, config, utcnow(), seed=3)
    return config, made


@pytest.fixture
def server():
    servers = []

    def start(**kw):
        s = DashboardServer(LocalSource(config_module.load()), port=0, **kw).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


# -- access ---------------------------------------------------------------------------------------------


def test_binding_another_address_without_a_token_is_refused():
    with pytest.raises(GitorchError) as err:
        check_binding("0.0.0.0", None)
    assert "0.0.0.0" in err.value.message and "--token" in err.value.hint
    with pytest.raises(GitorchError) as err:
        check_binding("192.168.1.5", "short")
    assert "too short" in err.value.message
    check_binding("127.0.0.1", None)
    check_binding("0.0.0.0", TOKEN)


def test_the_command_line_refuses_an_open_address_and_says_how_to_fix_it():
    result = gitorch("dashboard", "--host", "0.0.0.0")
    assert result.returncode == 1
    assert "open to anyone" in result.stderr and "hint:" in result.stderr and "--token" in result.stderr
    help_text = CliRunner().invoke(cli, ["dashboard", "--help"]).output
    assert "--token" in help_text and "127.0.0.1" in help_text


def test_team_mode_without_convex_url_says_what_to_set():
    result = gitorch("dashboard", "--store", "convex")
    assert result.returncode == 1
    assert "CONVEX_URL is empty" in result.stderr and "hint:" in result.stderr


def test_team_mode_without_the_deploy_key_says_the_records_need_it(monkeypatch):
    monkeypatch.setenv("CONVEX_URL", "http://127.0.0.1:9")
    result = gitorch("dashboard", "--store", "convex")
    assert result.returncode == 1
    assert "CONVEX_DEPLOY_KEY" in result.stderr and "--store local" in result.stderr


def test_with_a_token_every_request_must_carry_it(server):
    s = server(token=TOKEN)
    with httpx.Client(base_url=s.url.rstrip("/"), follow_redirects=False) as http:
        refused = http.get("/")
        assert refused.status_code == 401 and "--token" in refused.text
        assert http.get("/api/snapshot", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
        assert http.get("/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        # Opened once with ?token=, the page gets a cookie and an address without the token.
        opened = http.get("/", params={"token": TOKEN})
        assert opened.status_code == 303 and opened.headers["location"] == "/"
        assert COOKIE in opened.headers["set-cookie"] and "httponly" in opened.headers["set-cookie"].lower()
    with httpx.Client(base_url=s.url.rstrip("/"), cookies={COOKIE: TOKEN}) as http:
        assert http.get("/").status_code == 200
        assert http.get("/static/dashboard.js").status_code == 200


def test_a_page_served_under_another_host_name_is_refused(server):
    """DNS rebinding: a web page elsewhere must not read the dashboard through its own host name."""
    s = server()
    with httpx.Client() as http:
        assert http.get(s.url, headers={"Host": "evil.example"}).status_code == 400
        page = http.get(s.url)
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self' covers scripts
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_the_dashboard_command_serves_until_interrupted(isolated_env):
    # A shell starting a background job (the test suite run with `&`) makes it ignore SIGINT, and a
    # child inherits that: Python then installs no KeyboardInterrupt handler. Give the dashboard the
    # default disposition a terminal gives it. -X faulthandler: if it ever fails to stop, SIGABRT
    # makes it print every thread's stack.
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "gitorch", "dashboard", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "No runs yet" in page.text
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            pytest.fail("the dashboard did not stop on Ctrl-C; its threads:\n" + proc.communicate(timeout=10)[1][-8000:])
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# -- the figures ----------------------------------------------------------------------------------------


@pytest.mark.slow  # a generated month of runs
def test_series_add_up_to_the_figures_of_gitorch_stats(month):
    config, _ = month
    now = utcnow()
    with SqliteStore(config.db_path) as store:
        figures = stats.compute(store, config, now=now)
        over_time = stats.series(store, config, now=now)
        runs = stats.runs(store, limit=1000)
    assert sum(over_time["cost_usd"]) == pytest.approx(figures["total_cost_usd"])
    assert sum(over_time["baseline_cost_usd"]) == pytest.approx(figures["baseline_cost_usd"])
    for agent, row in figures["by_agent"].items():
        assert sum(over_time["tokens"][agent]) == row["tokens"]
    assert over_time["budget_month"]["spent_usd"][-1] == pytest.approx(figures["budget"]["spent_month_usd"])
    assert len(over_time["days"]) == 31 and over_time["days"][-1] == now.date().isoformat()
    # Per run, cost and saving add up too, and the completed runs are the features.
    assert sum(r["cost_usd"] for r in runs) == pytest.approx(figures["total_cost_usd"])
    assert sum(r["completed"] for r in runs) == figures["features_completed"]
    assert f"| features completed | {figures['features_completed']} (" in stats.markdown(figures)  # the job summary
    judged = [w for w in over_time["accuracy"] if w["with_feedback"]]
    assert judged and all(0 <= w["accuracy_pct"] <= 100 for w in judged)


@pytest.mark.slow  # a generated month of runs
def test_features_and_velocity_follow_the_runs(month):
    config, made = month
    now = utcnow()
    approved = [r for r in made["runs"] if r.verdict == "approve"]
    with SqliteStore(config.db_path) as store:
        figures = stats.compute(store, config, now=now)
    assert figures["features_completed"] == len(approved)
    minutes = [(r.updated_at - r.created_at).total_seconds() / 60 for r in approved]
    assert figures["velocity_min_per_feature"] == pytest.approx(sum(minutes) / len(minutes), abs=0.01)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert figures["features_today"] == sum(1 for r in approved if r.updated_at >= today)


@pytest.mark.slow  # a generated month of runs
def test_team_records_give_the_same_figures_as_the_store_they_came_from(month):
    """What Convex keeps of each record is what the outbox sent; read back, it must add up the same."""
    config, _ = month
    now = utcnow()
    names = {"runs": "runs", "journal": "journal", "artifacts": "artifacts", "metrics": "metrics",
             "routing_decisions": "decisions", "budget_events": "budgetEvents"}
    with SqliteStore(config.db_path) as store:
        store.save_run(Run(id="run-waiting", text="Add CSV export", status="paused",
                           resume_after=now.replace(microsecond=0) + timedelta(hours=2)))  # a usage cap's reset
        records: dict[str, list] = {v: [] for v in names.values()}
        while rows := [r for r in store.outbox_pending(500)]:
            for r in rows:
                if r["table"] in names:
                    records[names[r["table"]]].append({"runner": r["runner"], "data": r["payload"]})
            store.outbox_mark_sent([r["id"] for r in rows])
        local = stats.compute(store, config, now=now)
        local_series = stats.series(store, config, now=now)
        local_runs = stats.runs(store)
        newest = store.list_runs(1)[0]
        local_steps = store.journal(newest.id)
    team = TeamStore(records)
    assert stats.compute(team, config, now=now) == local
    assert stats.series(team, config, now=now) == local_series
    assert stats.runs(team) == local_runs
    assert team.get_run("run-waiting").resume_after == store.get_run("run-waiting").resume_after
    assert team.journal(newest.id) == local_steps
    assert set(team.runners.values()) == {store.runner}
    # The lookups the Action and the pipeline use answer the same too.
    oldest_pr = next(r for r in reversed(store.list_runs(1000)) if r.pr_number)
    assert team.run_for_pr(oldest_pr.pr_number) == store.run_for_pr(oldest_pr.pr_number) is not None
    assert team.decision_for_run(oldest_pr.id) == store.decision_for_run(oldest_pr.id) is not None
    assert team.run_metrics(oldest_pr.id) == store.run_metrics(oldest_pr.id) != []
    ids = [r.id for r in store.list_runs(1000)]
    assert team.run_costs(ids) == store.run_costs(ids)
    assert team.run_for_pr(99_999) is store.run_for_pr(99_999) is None


def test_figures_that_cannot_be_computed_are_explained_on_the_page(server, monkeypatch):
    """Fault injection: the figures fail (as a broken price table would make them); the page says
    why and how to fix it instead of serving a blank page or a traceback."""
    from gitorch.dashboard import data

    def broken(*args, **kw):
        raise GitorchError("no price for model 'claude-imaginary-9'", hint="add it under prices: in .gitorch.yml")

    monkeypatch.setattr(data, "snapshot", broken)
    s = server()
    page = httpx.get(s.url)
    assert page.status_code == 200
    assert 'data-notice="error"' in page.text and "claude-imaginary-9" in page.text and "prices:" in page.text
    assert httpx.get(s.url + "api/snapshot").status_code == 503


# -- charts ---------------------------------------------------------------------------------------------


def test_ticks_are_round_and_cover_the_data():
    assert charts.nice_ticks(9.7) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.nice_ticks(730_000)[-1] >= 730_000


def test_chart_text_is_escaped_and_gaps_stay_gaps():
    svg = charts.line_chart(["2026-11-02", "2026-11-09", "2026-11-16"],
                            [charts.Series("<b>x</b>", [None, 40.0, 60.0], "#000", points=True)],
                            title="a & b", fmt=charts.percent, top=100.0)
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a &amp; b" in svg
    path = re.search(r'<path d="([^"]+)"', svg).group(1)
    assert path.startswith("M") and path.count("M") == 1 and path.count("L") == 1  # no point drawn for None


def test_a_port_in_use_is_reported_with_the_fix(isolated_env):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = DashboardServer(LocalSource(config_module.load()), port=port)
        with pytest.raises(GitorchError) as err:
            server.start(timeout_s=20)
        server.source.close()
    assert str(port) in err.value.message and "--port" in err.value.hint


def _raw_get(url: str, target: str) -> tuple[int, str]:
    """One request sent byte for byte (no client normalises the target), and (status, Location)."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {where.netloc}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    location = next((h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("location:")), "")
    return int(head[0].split()[1]), location


@pytest.mark.parametrize(("target", "location"), [
    (f"//evil.example/x?token={TOKEN}", "/"),
    (f"/\\evil.example/x?token={TOKEN}", "/"),
    (f"/%2F%2Fevil.example/x?token={TOKEN}", "/"),
    (f"http://evil.example/x?token={TOKEN}", "/"),
    (f"/runs?token={TOKEN}&tab=a%20b", "/runs?tab=a+b"),
])
def test_the_token_redirect_goes_only_to_a_path_on_this_server(server, target, location):
    s = server(token=TOKEN)
    status, went = _raw_get(s.url, target)
    assert status == 303 and went == location


def test_the_token_can_come_from_the_environment_or_a_file_and_never_shows_in_ps(isolated_env, tmp_path):
    token_file = tmp_path / "dashboard-token"
    token_file.write_text(TOKEN + "\n")
    for args, extra_env in ((["--token-file", str(token_file)], {}), ([], {"GITORCH_DASHBOARD_TOKEN": TOKEN})):
        import os

        proc = subprocess.Popen([sys.executable, "-m", "gitorch", "dashboard", "--port", "0", *args],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env={**os.environ, **extra_env})
        try:
            line = proc.stderr.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
            assert httpx.get(url, timeout=10).status_code == 401
            assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code == 200
            with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
                assert TOKEN.encode() not in fh.read()
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.mark.parametrize(("content", "said"), [
    (b"abc\n", "too short"),
    (b"x" * 5000, "5,000 bytes, too long for a token file"),
    (b"s3cret-token-\xff-for-the-team", "is not UTF-8 text: byte 13"),
    (TOKEN.encode() + b"\nsecond-line-of-the-file\n", "holds more than one token"),
    (TOKEN.encode()[:8] + "\u200b".encode() + TOKEN.encode()[8:], "holds more than one token"),
], ids=["short", "oversized", "not-utf8", "two-lines", "hidden-character"])
def test_a_bad_token_file_is_refused_with_what_is_wrong(isolated_env, tmp_path, content, said):
    path = tmp_path / "token"
    path.write_bytes(content)
    result = gitorch("dashboard", "--host", "0.0.0.0", "--token-file", str(path))
    assert result.returncode == 1 and said in result.stderr and "hint:" in result.stderr
