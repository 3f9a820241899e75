"""Repository context under a token budget: the map, ranking, what is never included, and a
repository far larger than the budget."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anthropic
import pytest

from gitorch.git.context import (
    TokenEstimate,
    build_context,
    diff_lines,
    python_definitions,
    read_tree,
    words,
)
from gitorch.secrets import file_values
from gitorch.simulate.anthropic_api import AnthropicServer, count_tokens


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def _big_repo(root: Path, n: int = 2000) -> None:
    for i in range(n):
        folder = root / f"pkg{i % 40}" / f"sub{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"module_{i}.py").write_text(
            f'"""Module {i}."""\n\nclass Widget{i}(Base):\n    def render(self, page):\n        return page\n\n'
            f"def helper_{i}(value, scale=2):\n    return value * scale\n" + "# filler line of code\n" * 30)
    _write(root, {"pkg3/billing/invoice_totals.py": "def invoice_totals(lines):\n    return sum(lines)\n"})


def test_definitions_of_python_files_are_listed():
    source = "class A(B):\n    def f(self): pass\n    async def g(self): pass\n\ndef top(x, *, y): pass\n"
    assert python_definitions(source) == ["class A(B): f, g", "def top(x, y)"]
    assert python_definitions("def broken(:\n") == []


def test_words_split_identifiers():
    assert words("InvoiceTotals parse_invoice_lines for the CLI") == ["invoice", "totals", "parse", "invoice",
                                                                     "lines", "cli"]


def test_a_repository_of_2000_files_stays_within_the_budget(tmp_path):
    _big_repo(tmp_path)
    context = build_context(tmp_path, "fix the invoice totals rounding", budget=20_000)
    assert context.files_total == 2001
    assert context.tokens <= 20_000
    assert count_tokens(context.text) <= 20_000  # the stand-in's own tokenizer agrees
    assert context.files_included[0] == "pkg3/billing/invoice_totals.py"  # the relevant file first
    assert context.map_detail in ("relevant", "folders")
    naive = sum(len(p.read_text()) for p in tmp_path.rglob("*.py")) / 3.5
    assert naive > 10 * context.tokens


def test_small_repository_gets_the_full_map_and_whole_files(tmp_path):
    _write(tmp_path, {"app/cli.py": "import click\n\ndef main(verbose):\n    return verbose\n",
                      "app/models.py": "class User:\n    def name(self):\n        return 'x'\n",
                      "README.md": "# app\n"})
    context = build_context(tmp_path, "add a verbose flag to the cli", budget=5000)
    assert context.map_detail == "full"
    assert "cli.py: def main(verbose)" in context.text and "models.py: class User: name" in context.text
    assert context.files_included[0] == "app/cli.py"
    assert "### file: app/cli.py" in context.text and context.files_cut == []


def test_a_file_too_big_for_the_room_left_is_cut_not_dropped(tmp_path):
    _write(tmp_path, {"big/report.py": "def report():\n" + "    total = total + 1  # report line\n" * 3000})
    context = build_context(tmp_path, "change the report", budget=3000)
    assert context.files_cut == ["big/report.py"]
    assert "[cut:" in context.text and context.tokens <= 3000


def test_git_dir_node_modules_binaries_and_lock_files_are_never_shown(tmp_path):
    _write(tmp_path, {"src/app.py": "def app():\n    return 'lockfile'\n",
                      "node_modules/lib/index.js": "lockfile()",
                      ".git/config": "[core]",
                      "package-lock.json": '{"lockfile": true}',
                      "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00lockfile",
                      "server.pem": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"})
    tree = read_tree(tmp_path)
    assert "node_modules/lib/index.js" not in tree and ".git/config" not in tree
    assert tree["package-lock.json"] is None and tree["logo.png"] is None and tree["server.pem"] is None
    context = build_context(tmp_path, "lockfile handling", budget=4000)
    assert context.files_included == ["src/app.py"]
    assert "PRIVATE KEY" not in context.text
    assert "server.pem (contents withheld)" in context.text


def test_env_values_are_redacted_wherever_they_appear(tmp_path):
    _write(tmp_path, {".env": "STRIPE_SECRET=whsec-local-9f8e7d6c\nPORT=8080\n",
                      "config/settings.py": 'WEBHOOK = "whsec-local-9f8e7d6c"\nPORT = 8080\n'})
    assert file_values(tmp_path) == ["whsec-local-9f8e7d6c"]
    context = build_context(tmp_path, "settings webhook", budget=3000)
    assert "whsec-local-9f8e7d6c" not in context.text
    assert "PORT = 8080" in context.text  # ordinary values stay


def test_reads_a_commit_with_pygit2(tmp_path):
    _write(tmp_path, {"lib/parser.py": "def parse(text):\n    return text\n"})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "one"], check=True)
    (tmp_path / "lib" / "parser.py").write_text("def parse(text):\n    return 'uncommitted'\n")
    context = build_context(tmp_path, "the parser", budget=3000, rev="HEAD")
    assert "return text" in context.text and "uncommitted" not in context.text


def test_count_tokens_recalibrates_an_optimistic_estimate(tmp_path):
    _big_repo(tmp_path, n=300)
    with AnthropicServer() as api, anthropic.Anthropic(api_key="sk-ant-test-ctx-1", base_url=api.base_url) as client:
        def count(text: str) -> int:
            return client.messages.count_tokens(model="claude-opus-5-5",
                                                messages=[{"role": "user", "content": text}]).input_tokens

        estimate = TokenEstimate(chars_per_token=8.0)  # far too optimistic
        context = build_context(tmp_path, "invoice totals widget render", budget=6000, count=count, estimate=estimate)
        assert context.counted and context.tokens <= 6000
        assert estimate.chars_per_token < 6  # learned from the count
        assert 2 <= len([r for r in api.requests if r.path == "/v1/messages/count_tokens"]) <= 4


def test_diff_lines_are_the_new_side_of_each_hunk():
    diff = ("--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,4 @@\n keep\n-old\n+new\n+added\n tail\n"
            "--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n")
    assert diff_lines(diff) == {"x.py": {1: ("keep", False), 2: ("new", True), 3: ("added", True),
                                         4: ("tail", False)}}


@pytest.mark.parametrize("budget", [1000, 2500])
def test_tiny_budgets_still_hold(tmp_path, budget):
    _big_repo(tmp_path, n=600)
    context = build_context(tmp_path, "invoice totals", budget=budget)
    assert context.tokens <= budget
