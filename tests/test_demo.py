"""`gitorch demo`, the README's first command, run as a newcomer would: a real process, no keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.codex]


def test_demo_runs_the_worked_example_end_to_end_with_no_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "GITHUB", "CONVEX", "CHATGPT"))}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "gitorch", "demo"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "The agents are local stand-ins" in out
    assert "Review, round 1: reject" in out and "Review, round 2: approve" in out
    assert "Claude alone would have cost" in out
    assert "status gitorch/review = success" in out


def test_demo_json_summary(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "GITHUB", "CONVEX", "CHATGPT"))}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "gitorch", "demo", "--json"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["verdict"] == "approve" and summary["rounds"] == 2 and summary["commits"] == 7
    assert 0 < summary["cost_usd"] < summary["baseline_cost_usd"]
    branch = subprocess.run(["git", "-C", summary["repo"], "branch", "--list", "gitorch/*"], capture_output=True,
                            text=True, check=True).stdout
    assert summary["branch"] in branch


def test_demo_with_codex_as_the_builder(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "GITHUB", "CONVEX", "CHATGPT", "CODEX"))}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "gitorch", "demo", "--builder", "codex", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["verdict"] == "approve" and summary["rounds"] == 2 and summary["commits"] == 7
    log = subprocess.run(["git", "-C", summary["repo"], "log", "--format=%(trailers:key=Gitorch-Agent,valueonly)",
                          f"main..{summary['branch']}"], capture_output=True, text=True, check=True).stdout.split()
    assert set(log) == {"codex"}
