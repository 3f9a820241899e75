"""The architect's model ladder: the cheapest model for small, low-risk work, the next one up when the
work or the cheap reviewer calls for it, and the ledger saying which model each call used and why.

The reviews are real: the anthropic SDK against the local Messages API, whose reviewer rejects
unfinished work on every model but whose Haiku is unsure about subtler faults (an unpickled input,
SQL from a formatted string) that Sonnet rejects.
"""

from __future__ import annotations

import pytest

from gitorch import config as config_module
from gitorch import cost, ladder
from gitorch.agents.claude import ClaudeArchitect
from gitorch.config import Config
from gitorch.errors import ConfigError
from gitorch.model import Plan, Task, Verification
from gitorch.run.ledger import Ledger
from gitorch.run.plan import make_plan
from gitorch.run.review import review_change
from gitorch.simulate.anthropic_api import AnthropicServer
from gitorch.simulate.demo import DEMO_KEY
from gitorch.store.sqlite import SqliteStore

HAIKU, SONNET = "claude-haiku-5-5", "claude-sonnet-5-5"
CLEAN = "def total(rows):\n    return sum(r['value'] for r in rows)\n"
UNFINISHED = "def total(rows):\n    raise NotImplementedError\n"
UNPICKLES = "import pickle\n\n\ndef load(blob):\n    return pickle.loads(blob)\n"


def new_file_diff(path: str, content: str) -> str:
    lines = content.splitlines()
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines))


def plan_for(path: str, what: str = "Add the totals helper") -> Plan:
    return Plan(summary=what, tasks=[Task(id="t1", description=what, files=[path])])


@pytest.fixture
def world(tmp_path):
    with AnthropicServer() as api:
        def make(yaml: str = "") -> tuple[Config, ClaudeArchitect, Ledger, SqliteStore]:
            (tmp_path / ".gitorch.yml").write_text(yaml)
            cfg = config_module.load(cwd=tmp_path, env={"ANTHROPIC_API_KEY": DEMO_KEY,
                                                        "ANTHROPIC_BASE_URL": api.base_url,
                                                        "GITORCH_HOME": str(tmp_path / "state")},
                                     file=tmp_path / ".gitorch.yml")
            store = SqliteStore(cfg.db_path)
            return cfg, ClaudeArchitect(cfg), Ledger(store, cfg), store
        yield api, make


def review(cfg, architect, ledger, path, content, *, verify=None, what="Add the totals helper"):
    return review_change(architect, ledger, cfg, plan_for(path, what), new_file_diff(path, content),
                         {path: content}, ledger.gate(run_id="run-1"), verify=verify, run_id="run-1",
                         step="review:r1").review


def calls(store):
    return [(m.model, m.reason) for m in store.run_metrics("run-1")]


# -- the pure choice ----------------------------------------------------------------------------------


def test_small_plans_and_small_passing_changes_go_to_the_cheapest_model():
    rungs = Config().models.ladder
    off = {"plan_model": SONNET, "review_model": SONNET}
    assert ladder.choose(rungs, ladder.Work("plan", task_tokens=120), **off) == ladder.Choice(
        HAIKU, "small request (120 tokens)", 0)
    assert ladder.choose(rungs, ladder.Work("review", diff_lines=40, tests_passed=True), **off) == ladder.Choice(
        HAIKU, "small change (40 lines), tests pass, no concern", 0)
    assert ladder.choose(rungs, ladder.Work("plan", task_tokens=5000), **off).model == SONNET
    big = ladder.choose(rungs, ladder.Work("review", diff_lines=900, tests_passed=False, concerns=("payments",)), **off)
    assert big == ladder.Choice(SONNET, "large diff (900 lines); tests fail; concern: payments", 1)


def test_the_top_rung_has_the_last_word():
    rungs = Config().models.ladder
    top = ladder.Choice(SONNET, "tests fail", 1)
    assert ladder.escalation(rungs, top, "reject", 0.2) is None
    cheap = ladder.Choice(HAIKU, "small", 0)
    assert ladder.escalation(rungs, cheap, "reject", 0.95) == "rejected"
    assert ladder.escalation(rungs, cheap, "approve", 0.5) == "unsure (0.50)"
    assert ladder.escalation(rungs, cheap, "approve", 0.9) is None
    assert ladder.escalation(rungs, cheap, "approve", None) is None  # no confidence said: taken as sure


def test_concerns_are_matched_on_paths_and_text():
    rungs = Config().models.ladder
    assert ladder.concerns(rungs, paths=["db/migrations/0004_refunds.sql"]) == ("payments", "schemas and migrations")
    assert ladder.concerns(rungs, text="Check the user's password on login") == ("authentication",)
    assert ladder.concerns(rungs, paths=["shop/notifications/mailer.py"],
                           text="Email customers when their order ships") == ()
    assert ladder.concerns(rungs, text="Guard the cache with a mutex") == ("concurrency",)


def test_concerns_in_gitorch_yml_extend_the_list_and_can_turn_one_off():
    cfg = Config.model_validate({"models": {"ladder": {"concerns": {
        "personal data": [r"\bgdpr\b", r"(^|/)pii/"], "concurrency": []}}}})
    rungs = cfg.models.ladder
    assert ladder.concerns(rungs, paths=["app/pii/export.py"]) == ("personal data",)
    assert ladder.concerns(rungs, text="Guard the cache with a mutex") == ()  # turned off
    assert ladder.concerns(rungs, text="Stripe refunds") == ("payments",)  # the built-in ones stay


# -- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize("yaml, named, fix", [
    ("models:\n  ladder: [claude-haiku-5-5]\n", "'models.ladder'", "valid dictionary"),
    ("models:\n  ladder:\n    rungs: []\n", "'models.ladder.rungs'", "cheapest first"),
    ("models:\n  ladder:\n    rungs: [claude-haiku-5-5, claude-haiku-5-5]\n", "'models.ladder.rungs'",
     "more than once"),
    ("models:\n  ladder:\n    unsure_below: 1.5\n", "'models.ladder.unsure_below'", "less than or equal to 1"),
    ("models:\n  ladder:\n    concerns:\n      billing: ['(unclosed']\n", "'models.ladder.concerns'",
     "concern 'billing'"),
    ("models:\n  ladder:\n    enable: false\n", "'models.ladder.enable'", "Did you mean 'enabled'?"),
])
def test_a_malformed_ladder_in_gitorch_yml_is_a_clear_error(tmp_path, yaml, named, fix):
    (tmp_path / ".gitorch.yml").write_text(yaml)
    with pytest.raises(ConfigError) as err:
        config_module.load(cwd=tmp_path, env={}, file=tmp_path / ".gitorch.yml")
    assert named in err.value.message and fix in err.value.message
    assert "gitorch init --print" in err.value.hint


def test_gitorch_init_print_shows_the_ladder_and_it_loads_back():
    import yaml

    text = config_module.default_yaml()
    assert "  ladder:  # the architect's model ladder\n    enabled: true" in text
    assert "rungs: [claude-haiku-5-5, claude-sonnet-5-5]" in text
    assert Config.model_validate(yaml.safe_load(text)) == Config()


def test_no_default_and_no_rung_uses_a_deprecated_or_retired_model():
    from typing import get_args

    from anthropic._data import DEPRECATED_MODELS
    from anthropic.types import ModelParam

    current = set(get_args(next(a for a in get_args(ModelParam) if get_args(a))))
    cfg = Config()
    for key, model in cfg.models.in_use():
        assert model in current and model not in DEPRECATED_MODELS, key
    assert cost.deprecation_warnings(cfg) == []


def test_a_deprecated_rung_is_named_in_the_warnings():
    cfg = Config.model_validate({"models": {"ladder": {"rungs": ["claude-sonnet-4-5", SONNET]}}})
    [warning] = cost.deprecation_warnings(cfg)
    assert "models.ladder.rungs[0]" in warning and "2026-11-30" in warning


# -- the calls, against the stand-in --------------------------------------------------------------------


def test_a_small_plan_is_made_on_the_cheapest_model_and_reserved_at_its_price(world):
    api, make = world
    cfg, architect, ledger, store = make()
    reserved = []
    gate = ledger.gate(run_id="run-1")

    def watching(model, **kw):
        reserved.append(model)
        return gate(model, **kw)

    make_plan(architect, ledger, cfg, "Add a totals helper to the reports", "(tiny repository)", watching,
              run_id="run-1")
    assert reserved == [HAIKU] and [r.body["model"] for r in api.message_requests] == [HAIKU]
    assert calls(store) == [(HAIKU, "small request (10 tokens)")]


def test_a_plan_for_payments_starts_one_rung_up(world):
    api, make = world
    cfg, architect, ledger, store = make()
    make_plan(architect, ledger, cfg, "Let customers ask for a refund of a card payment", "(repo)",
              ledger.gate(run_id="run-1"), run_id="run-1")
    assert calls(store) == [(SONNET, "concern: payments")]


def test_a_small_clean_change_is_approved_by_the_cheapest_model_alone(world):
    api, make = world
    cfg, architect, ledger, store = make()
    verdict = review(cfg, architect, ledger, "reports/totals.py", CLEAN,
                     verify=Verification("pytest", 0, "3 passed"))
    assert verdict.verdict == "approve"
    assert calls(store) == [(HAIKU, "small change (2 lines), tests pass, no concern")]


def test_the_ladder_escalates_when_the_cheap_reviewer_rejects(world):
    api, make = world
    cfg, architect, ledger, store = make()
    verdict = review(cfg, architect, ledger, "reports/totals.py", UNFINISHED)
    assert verdict.verdict == "reject" and verdict.fix_tasks
    assert calls(store) == [(HAIKU, "small change (2 lines), no test command, no concern"),
                            (SONNET, "escalated: claude-haiku-5-5 rejected")]
    assert [r.body["model"] for r in api.message_requests] == [HAIKU, SONNET]


def test_the_ladder_escalates_when_the_cheap_reviewer_is_unsure_and_the_fault_is_caught(world):
    api, make = world
    cfg, architect, ledger, store = make()
    verdict = review(cfg, architect, ledger, "reports/load.py", UNPICKLES, what="Load saved reports")
    assert verdict.verdict == "reject" and "unpickles" in verdict.artifacts[0].notes
    assert calls(store) == [(HAIKU, "small change (5 lines), no test command, no concern"),
                            (SONNET, "escalated: claude-haiku-5-5 unsure (0.50)")]


def test_the_ladder_escalates_on_an_architectural_concern(world):
    api, make = world
    cfg, architect, ledger, store = make()
    review(cfg, architect, ledger, "shop/payments/refunds.py", CLEAN, verify=Verification("pytest", 0, "ok"))
    assert calls(store) == [(SONNET, "concern: payments")]


def test_the_ladder_escalates_on_failing_tests(world):
    api, make = world
    cfg, architect, ledger, store = make()
    verdict = review(cfg, architect, ledger, "reports/totals.py", CLEAN,
                     verify=Verification("pytest", 1, "1 failed"))
    assert verdict.verdict == "reject"  # a failing test command is never approved
    assert calls(store) == [(SONNET, "tests fail")]


def test_the_off_switch_uses_one_model_for_every_call(world):
    api, make = world
    cfg, architect, ledger, store = make("models:\n  ladder:\n    enabled: false\n")
    make_plan(architect, ledger, cfg, "Add a totals helper", "(repo)", ledger.gate(run_id="run-1"), run_id="run-1")
    review(cfg, architect, ledger, "reports/totals.py", UNFINISHED)
    review(cfg, architect, ledger, "shop/payments/refunds.py", CLEAN, verify=Verification("pytest", 1, "1 failed"))
    assert calls(store) == [(SONNET, "ladder off")] * 3
    assert {r.body["model"] for r in api.message_requests} == {SONNET}


def test_each_model_keeps_its_own_prompt_cache(world):
    """A cheap review after the cheap plan reads the plan's cached prefix; the escalated review
    writes its own copy on the next model (a cache belongs to one model)."""
    api, make = world
    cfg, architect, ledger, store = make()
    context = "# Repository\n" + "\n".join(f"def helper_{i}(rows):\n    return rows[{i}]\n" for i in range(400))
    make_plan(architect, ledger, cfg, "Add a totals helper", context, ledger.gate(run_id="run-1"), run_id="run-1")
    review(cfg, architect, ledger, "reports/totals.py", UNFINISHED)
    plan, cheap, escalated = [r.usage for r in api.message_requests]
    assert plan["cache_creation_input_tokens"] > 1024
    assert cheap["cache_read_input_tokens"] >= plan["cache_creation_input_tokens"]  # Haiku's cache, warm
    assert escalated["cache_read_input_tokens"] == 0 and escalated["cache_creation_input_tokens"] > 1024
