"""The dry-run provider, the Markdown gitorch posts, and the double fed by a real bare repository."""

from __future__ import annotations

import json
import subprocess

from gitorch import config as config_module
from gitorch.commands.table import Outcome, comment_commands
from gitorch.github import render
from gitorch.github.local import LocalProvider
from gitorch.github.provider import markers_in
from gitorch.github.rest import RestProvider
from gitorch.model import InlineComment, IssueInfo, Metric, Plan, RoutingDecision, Task, Usage, WorkflowStep
from gitorch.retry import RetryPolicy
from gitorch.simulate.github_api import GitHubDouble

SECRET = "ghp_" + "s" * 36


def decision(**extra) -> RoutingDecision:
    base = dict(id="dec-123", text="Add JWT authentication to user API", task_type="code_generation",
                task_types={"code_generation": 0.7, "planning": 0.3}, agent="chatgpt-pro", confidence=0.82,
                scores={"claude": 55.0, "chatgpt-pro": 80.0}, reasoning="Mostly new code from a clear spec.",
                workflow=[WorkflowStep("claude", "plan", 0.9), WorkflowStep("chatgpt-pro", "build", 0.8),
                          WorkflowStep("claude", "review", 0.9)],
                estimated_cost_usd=0.12, estimated_saving_usd=0.48,
                estimates={"context_tokens": 12000, "output_tokens": 3000, "lines": 240})
    base.update(extra)
    return RoutingDecision(**base)


def test_suggestion_reads_like_the_original_design():
    text = render.suggestion(decision(), stage="planning", plan=Plan("Add JWT auth", [
        Task("t1", "Write the token helpers", files=["auth/jwt.py"]),
        Task("t2", "Protect the user routes", files=["api/users.py"], assigned_to="claude")]),
        commands=comment_commands())
    assert markers_in(text) == [("decision", "dec-123")]
    for expected in ("`code_generation` (70%)", "context tokens ~12,000", "**chatgpt-pro** with 82% confidence",
                     "claude 55, chatgpt-pro 80", "$0.12 (saves $0.48 against Claude alone)",
                     "claude plan (90%) → chatgpt-pro build (80%) → claude review (90%)", "`gitorch:planning`",
                     "| 2 | Protect the user routes | claude | `api/users.py` |", "`/gitorch override`"):
        assert expected in text, expected
    assert "Why" not in text
    assert "Mostly new code" in render.suggestion(decision(), explain=True)
    manual = render.suggestion(decision(manual=True))
    assert "/gitorch proceed" in manual and "Mostly new code" in manual
    assert "a maintainer chose **claude**" in render.suggestion(decision(override_agent="claude"))


def test_job_summary_has_routing_tasks_cost_and_saving():
    usage = Usage(input_tokens=10_000, output_tokens=2_000)
    result = Outcome("done", "PR #4 approved", decision=decision(), pr_number=4, verdict="approve",
                          plan=Plan("p", [Task("t1", "Write it", status="approved")]),
                          metrics=[Metric("claude", "m", usage, 0.06, 0.06), Metric("chatgpt-pro", "c", usage, 0.0, 0.06)])
    text = render.job_summary(result)
    assert "`code_generation` → **chatgpt-pro** (82% confidence)" in text
    assert "- [x] Write it (chatgpt-pro)" in text
    assert "Pull request: #4, verdict **approve**" in text
    assert "| claude | 1 | 12,000 | $0.06 | $0.06 |" in text
    assert "saving $0.06 (50%)" in text
    assert "No model calls" in render.job_summary(Outcome("ignored", "x"))


def test_dry_run_provider_keeps_the_same_promises(tmp_path):
    local = LocalProvider(tmp_path / "out", "octo-org/sample", secrets=[SECRET],
                          issues={3: IssueInfo(3, "Add a flag", "", "open", False, ["gitorch"], "octocat")})
    first = local.post_or_update_comment(3, "suggestion", f"one {SECRET}")
    second = local.post_or_update_comment(3, "suggestion", "two")
    assert first.created and not second.created and first.id == second.id
    files = list((tmp_path / "out" / "comments").iterdir())
    assert len(files) == 1 and files[0].read_text().endswith("two")
    local.post_or_update_comment(3, "reply-1", f"token {SECRET}")
    assert SECRET not in (tmp_path / "out" / "comments" / "issue-3--reply-1.md").read_text()

    pr = local.open_or_update_pr("gitorch/run-1", "main", "Add a flag", "body", 3)
    assert pr.created and local.open_or_update_pr("gitorch/run-1", "main", "Add a flag", "b2", 3).number == pr.number
    assert "Closes #3" in (tmp_path / "out" / "pulls" / "gitorch-run-1.md").read_text()
    posted = local.post_review(pr.number, "abc123", "reject", "Fix it.", [InlineComment("a.py", 3, "here")])
    assert not posted.reused and local.post_review(pr.number, "abc123", "reject", "Fix it.", []).reused
    assert local.last_reviewed_sha(pr.number) == "abc123"
    statuses = json.loads((tmp_path / "out" / "statuses.json").read_text())
    assert statuses["abc123"]["gitorch/review"]["state"] == "failure"
    local.set_run_label(3, "planning")
    local.set_run_label(3, "building")
    assert local.get_issue(3).labels == ["gitorch", "gitorch:building"]


def test_dry_run_reads_config_from_the_default_branch_of_the_local_repository(tmp_path, repo):
    (repo / ".gitorch.yml").write_text("github:\n  trigger_label: go\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "config"], cwd=repo, check=True)
    subprocess.run(["git", "checkout", "-qb", "feature"], cwd=repo, check=True)
    (repo / ".gitorch.yml").write_text("github:\n  allowed_bots: [evil]\n")
    local = LocalProvider(tmp_path / "out", repo_root=repo)
    assert local.read_config_from_default_branch() == "github:\n  trigger_label: go\n"
    assert local.read_config_from_default_branch("nothing.yml") is None


def test_double_takes_branches_and_diffs_from_real_pushes(tmp_path, repo):
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "push", "-q", str(bare), "main"], cwd=repo, check=True)
    subprocess.run(["git", "checkout", "-qb", "gitorch/run-1"], cwd=repo, check=True)
    (repo / "cli.py").write_text("import argparse\n\n\ndef main():\n    return 0\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "add cli"], cwd=repo, check=True)
    subprocess.run(["git", "push", "-q", str(bare), "gitorch/run-1"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    with GitHubDouble(git_dir=str(bare)) as gh:
        cfg = config_module.load(env={"GITHUB_TOKEN": SECRET, "GITHUB_API_URL": gh.base_url})
        with RestProvider(cfg, gh.full_name, policy=RetryPolicy(attempts=1)) as provider:
            pr = provider.open_or_update_pr("gitorch/run-1", "main", "Add a CLI", "", None)
            assert pr.head_sha == head
            posted = provider.post_review(pr.number, head, "approve", "Fine.",
                                          [InlineComment("cli.py", 4, "main returns 0"), InlineComment("cli.py", 9, "x")])
            assert [c.line for c in posted.inline] == [4] and [c.line for c in posted.folded] == [9]


def test_both_providers_implement_the_whole_protocol():
    from gitorch.ports import GitHub as GitHubProvider

    wanted = {name for name in vars(GitHubProvider) if not name.startswith("_")} - {"repo"}
    for cls in (RestProvider, LocalProvider):
        missing = {name for name in wanted if not callable(getattr(cls, name, None))}
        assert not missing, (cls.__name__, missing)
