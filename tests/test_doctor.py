"""`gitorch doctor` says what is wrong and how to fix it, and exits 1 when something fails."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gitorch.cli import cli


def _checks(env=None):
    result = CliRunner().invoke(cli, ["doctor", "--json"], env=env or {})
    return result.exit_code, {c["name"]: c for c in json.loads(result.output)}


def test_a_fresh_repository_passes_with_warnings_that_say_what_to_do(repo):
    code, checks = _checks()
    assert code == 0
    assert checks["config"]["status"] == "ok" and "gitorch init" in checks["config"]["detail"]
    assert checks["anthropic key"]["status"] == "warn" and "ANTHROPIC_API_KEY" in checks["anthropic key"]["fix"]
    assert checks["chatgpt session"]["status"] == "warn" and "gitorch browser login" in checks["chatgpt session"]["fix"]
    assert "create pull requests" in checks["github token"]["fix"]
    assert checks["convex"]["status"] == "ok"


def test_a_broken_config_fails_and_names_the_key(repo):
    (repo / ".gitorch.yml").write_text("budget:\n  monthly_usd: lots\n")
    code, checks = _checks()
    assert code == 1
    assert checks["config"]["status"] == "fail" and "budget.monthly_usd" in checks["config"]["detail"]


def test_an_unknown_model_fails_with_the_price_to_add(repo):
    (repo / ".gitorch.yml").write_text("models:\n  review: claude-imaginary-9\n")
    code, checks = _checks()
    assert code == 1 and checks["models"]["status"] == "fail"
    assert "claude-imaginary-9" in checks["models"]["detail"] and "prices" in checks["models"]["fix"]


def test_a_deprecated_model_is_a_warning(repo):
    (repo / ".gitorch.yml").write_text("models:\n  review: claude-sonnet-4-5\n")
    code, checks = _checks()
    assert checks["models"]["status"] == "warn" and "2026-11-30" in checks["models"]["detail"]


def test_a_dead_convex_fails_with_what_to_check(repo):
    code, checks = _checks({"CONVEX_URL": "http://127.0.0.1:9", "CONVEX_ADMIN_KEY": "x" * 20})
    assert code == 1
    assert checks["convex"]["status"] == "fail" and "CONVEX_URL" in checks["convex"]["fix"]
