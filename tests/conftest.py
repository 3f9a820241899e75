"""Shared fixtures: every test gets its own state folder and an environment with no real keys.

Test tiers: a test that drives Chromium is marked ``browser``, one that runs Node.js ``node``, one
that runs the Codex CLI ``codex`` (by its module's ``pytestmark`` or, below, by the fixtures it
uses); all of those and a few long ones are ``slow``. ``python3 -m pytest -q -m "not slow"`` is the
fast tier for the edit-test loop; ``python3 -m pytest -q`` (what CI runs) runs everything.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# Variables that would point gitorch at real services or carry real keys.
_REAL_ENV = (
    "ANTHROPIC_API_KEY", "CLAUDE_API_KEY", "ANTHROPIC_BASE_URL", "GITHUB_TOKEN", "GITORCH_GITHUB_TOKEN",
    "GITHUB_API_URL", "CONVEX_URL", "CONVEX_ADMIN_KEY", "CONVEX_DEPLOY_KEY", "CODEX_API_KEY", "CODEX_HOME",
    "MONTHLY_BUDGET_USD", "ALERT_THRESHOLD_PCT", "AUTO_ROUTING_ENABLED", "MIN_CONFIDENCE_FOR_AUTO",
    "ENABLE_LEARNING", "CHATGPT_SESSION_DIR", "CHATGPT_URL", "GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH",
    "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITORCH_SKIP", "GITHUB_ACTIONS", "GITHUB_REPOSITORY",
    "BUDGET_WEBHOOK_URL",
)


# Fixtures that start something heavy, and the marker a test that uses one gets.
HEAVY_FIXTURES = {"open_page": "browser", "browser_builder": "browser", "convex_server": "node"}
TIER_MARKERS = ("browser", "node", "codex")


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in HEAVY_FIXTURES.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
        if any(item.get_closest_marker(m) for m in TIER_MARKERS):
            item.add_marker("slow")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """A private GITORCH_HOME and HOME, and none of the caller's keys or endpoints."""
    home = tmp_path_factory.mktemp("home")
    for var in _REAL_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GITORCH_HOME", str(home / ".gitorch"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Person")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "person@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Person")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "person@example.com")
    yield home


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """An empty git repository with one commit, as the current directory."""
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "README.md").write_text("# sample\n")
    subprocess.run(["git", "-C", str(path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "initial"], check=True)
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> Path:
    """A bare repository the `repo` fixture's main is pushed to, as its `origin`."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", str(bare)], check=True)
    subprocess.run(["git", "-C", str(repo), "push", "-q", "origin", "main"], check=True, capture_output=True)
    return bare
