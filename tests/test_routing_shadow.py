"""Shadow strategies: run beside the acting one on every decision, stored with it, scored from
feedback, compared with an interval and a paired test, and promoted by a config change."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from gitorch import stats
from gitorch.cli import cli
from gitorch.config import Config, load
from gitorch.errors import ConfigError, GitorchError
from gitorch.model import RoutingDecision
from gitorch.routing import Router
from gitorch.routing.promote import promote
from gitorch.routing.shadow import compare, mcnemar_exact, scores, truth, wilson
from gitorch.store.sqlite import SqliteStore

CRUD = "Generate CRUD endpoints for the user model"
BUG = "Checkout crashes with a 500 when the cart is empty"


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def router_with(store, strategy="learned", shadow=("keywords", "neighbours"), repo="acme/shop"):
    config = Config.model_validate({"routing": {"strategy": strategy, "shadow": list(shadow)}})
    return Router(config, store, repo=repo)


def decision(strategy="learned", agent="chatgpt-pro", task_type="code_generation", shadows=None, **feedback):
    return RoutingDecision(id=f"dec-{id(feedback)}-{len(str(feedback))}", text="x", task_type=task_type,
                           task_types={}, agent=agent, confidence=0.9, scores={}, reasoning="", workflow=[],
                           estimated_cost_usd=0, estimated_saving_usd=0, strategy=strategy,
                           shadows=shadows or {}, **feedback)


# -- stored with the decision --------------------------------------------------------------------


def test_every_shadow_suggestion_is_stored_with_the_decision_and_read_back(store):
    made = router_with(store).route(BUG)
    assert set(made.shadows) == {"keywords", "neighbours"}
    for suggestion in made.shadows.values():
        assert set(suggestion) == {"agent", "task_type", "confidence"}
        assert 0 <= suggestion["confidence"] <= 1
    assert made.shadows["neighbours"]["task_type"] == made.task_type  # no history yet: the packaged model
    assert store.get_decision(made.id).shadows == made.shadows
    outbox = [json.loads(row[0]) for row in sqlite3.connect(store.path).execute(
        "SELECT payload FROM outbox WHERE tbl = 'routing_decisions'")]
    assert outbox[-1]["shadows"] == made.shadows  # mirrored to Convex with the decision


def test_without_shadows_configured_a_decision_has_none(store):
    made = Router(Config(), store, repo="acme/shop").route(CRUD)
    assert made.shadows == {} and store.get_decision(made.id).shadows == {}


def test_unknown_or_repeated_shadow_names_are_clear_config_errors(tmp_path):
    for text, words in (("routing:\n  shadow: [keywords, magic]\n", "routing.shadow.1"),
                        ("routing:\n  shadow: [learned]\n", "already routing.strategy"),
                        ("routing:\n  shadow: [keywords, keywords]\n", "twice"),
                        ("routing:\n  shadow: keywords\n", "routing.shadow")):
        (tmp_path / ".gitorch.yml").write_text(text)
        with pytest.raises(ConfigError) as caught:
            load(cwd=tmp_path, env={}, file=tmp_path / ".gitorch.yml")
        assert words in str(caught.value) and "gitorch init --print" in caught.value.hint


def test_a_shadow_never_changes_what_the_acting_strategy_suggests(store):
    plain = Router(Config(), store, repo="acme/shop").route(BUG, record=False)
    shadowed = router_with(store).route(BUG, record=False)
    assert (plain.agent, plain.task_type, plain.confidence) == (shadowed.agent, shadowed.task_type,
                                                               shadowed.confidence)


# -- scored from feedback ------------------------------------------------------------------------


def test_feedback_scores_every_strategy(store):
    router = router_with(store)
    made = router.route("Add a dark mode toggle to the settings page")
    router.feedback(made.id, override_task_type="refactoring")
    judged = store.get_decision(made.id)
    verdicts = scores(judged)
    assert set(verdicts) == {"learned", "keywords", "neighbours"}
    for name, suggestion in {"learned": {"task_type": made.task_type}, **made.shadows}.items():
        assert verdicts[name] == (suggestion["task_type"] == "refactoring")


def test_the_same_feedback_twice_scores_once_and_a_later_one_replaces_it(store):
    router = router_with(store, shadow=["keywords"])
    made = router.route(CRUD)
    router.feedback(made.id, outcome="success")
    router.feedback(made.id, outcome="success")
    figures = stats.compute(store, router.config)["routing_strategies"]
    assert figures["strategies"]["learned"]["scored"] == 1
    assert figures["strategies"]["learned"]["right"] == 1
    router.feedback(made.id, override_agent="claude")
    figures = stats.compute(store, router.config)["routing_strategies"]
    assert (figures["strategies"]["learned"]["scored"], figures["strategies"]["learned"]["right"]) == (1, 0)


def test_the_type_feedback_tells_is_the_label_the_router_learns():
    from gitorch.routing.router import lesson

    for feedback in ({"outcome": "success"}, {"outcome": "failure"}, {"override_task_type": "planning"},
                     {"override_agent": "claude", "outcome": "success"}, {"override_agent": "chatgpt-pro",
                                                                          "outcome": "success"}, {}):
        made = decision(**feedback)
        assert truth(made).task_type == lesson(made)["label"]


def test_what_each_kind_of_feedback_tells():
    assert truth(decision(outcome="success")) == truth(decision(agent_used="chatgpt-pro", outcome="success"))
    assert truth(decision(outcome="success")).task_type == "code_generation"
    assert truth(decision(override_agent="claude", outcome="success")).task_type is None
    assert truth(decision(outcome="failure")).not_agent == "chatgpt-pro"
    assert not truth(decision()).known
    failed = decision(outcome="failure", shadows={"keywords": {"agent": "claude", "task_type": "planning"}})
    assert scores(failed) == {"learned": False, "keywords": True}
    assert scores(decision()) == {}


def test_the_neighbours_strategy_learns_this_repositorys_corrections(store):
    router = router_with(store, strategy="neighbours", shadow=["learned"])
    text = "Make the invoice totals use the shared money helper"
    first = router.route(text)
    target = "planning" if first.task_type != "planning" else "refactoring"
    router.feedback(first.id, override_task_type=target)
    assert router.route(text).task_type == target
    fresh = router_with(store, strategy="neighbours", shadow=[])  # from the store, as a new process
    assert fresh.route(text, record=False).task_type == target
    assert fresh.model_info()["repo_examples"] == 1


# -- compared -------------------------------------------------------------------------------------


def test_wilson_interval_and_mcnemar_exact_match_known_values():
    low, high = wilson(8, 10)
    assert round(low, 4) == 0.4902 and round(high, 4) == 0.9433
    assert wilson(0, 0) is None and wilson(5, 5)[1] == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert round(mcnemar_exact(1, 9), 4) == 0.0215  # 2 * P(X <= 1), X ~ Bin(10, 1/2)
    assert mcnemar_exact(3, 5) == mcnemar_exact(5, 3) > 0.7


def _judged(acting_right: bool, shadow_right: bool, n: int) -> list[RoutingDecision]:
    out = []
    for i in range(n):
        out.append(RoutingDecision(
            id=f"dec-{acting_right}-{shadow_right}-{i}", text="t", task_type="debugging", task_types={},
            agent="chatgpt-pro", confidence=0.9, scores={}, reasoning="", workflow=[], estimated_cost_usd=0,
            estimated_saving_usd=0, strategy="learned",
            shadows={"keywords": {"agent": "chatgpt-pro" if shadow_right else "claude",
                                  "task_type": "debugging" if shadow_right else "planning"}},
            override_task_type=None if acting_right else ("debugging" if shadow_right else "refactoring"),
            outcome="success" if acting_right else None, override_agent=None if acting_right else "chatgpt-pro"))
        if not acting_right:
            out[-1].task_type = "refactoring" if shadow_right else "code_generation"
    return out


def test_no_switch_is_suggested_when_the_difference_is_not_significant():
    # the shadow is right on 6 the acting one missed, and wrong on 3 it got: p = 0.51
    decisions = _judged(True, True, 40) + _judged(False, True, 6) + _judged(True, False, 3)
    compared = compare(decisions, "learned")
    assert compared["strategies"]["keywords"]["accuracy_pct"] > compared["strategies"]["learned"]["accuracy_pct"]
    assert compared["tests"]["keywords"]["only_shadow_right"] == 6
    assert compared["tests"]["keywords"]["p_value"] > 0.05
    assert compared["suggestion"] is None


def test_a_switch_is_suggested_with_the_tests_p_value_when_the_difference_is_significant():
    decisions = _judged(True, True, 40) + _judged(False, True, 12) + _judged(True, False, 1)
    compared = compare(decisions, "learned")
    p = compared["tests"]["keywords"]["p_value"]
    assert p == float(f"{mcnemar_exact(1, 12):.4g}") < 0.05
    assert compared["suggestion"]["strategy"] == "keywords"
    assert "p = 0.00342" in compared["suggestion"]["message"]
    assert "gitorch routing promote keywords" in compared["suggestion"]["message"]
    assert compared["disagreement_count"] == 13


def test_a_worse_shadow_is_never_suggested_however_significant():
    decisions = _judged(True, False, 30) + _judged(True, True, 10)
    compared = compare(decisions, "learned")
    assert compared["tests"]["keywords"]["significant"] and compared["suggestion"] is None


def test_stats_show_each_strategy_with_its_interval_and_the_disagreements(repo, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    (repo / ".gitorch.yml").write_text("routing:\n  shadow: [keywords]\n")
    config = load(cwd=repo)
    from gitorch.store import open_store

    opened = open_store(config)
    router = Router(config, opened, repo="acme/shop")
    for text, right in ((BUG, "debugging"), (CRUD, "code_generation"),
                        ("Should invoices be immutable once issued?", "planning")):
        made = router.route(text)
        router.feedback(made.id, override_task_type=right)
    opened.close()
    result = CliRunner().invoke(cli, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    compared = json.loads(result.output)["routing_strategies"]
    assert set(compared["strategies"]) == {"learned", "keywords"}
    learned_row = compared["strategies"]["learned"]
    assert learned_row["acting"] and learned_row["scored"] == 3
    low, high = learned_row["interval_pct"]
    assert low <= learned_row["accuracy_pct"] <= high
    assert compared["disagreements"] and compared["tests"]["keywords"]["paired"] == 3
    shown = CliRunner().invoke(cli, ["stats"])
    assert "routing strategies" in shown.output and "keywords (shadow)" in shown.output
    assert "where they disagreed" in shown.output


# -- promoted -------------------------------------------------------------------------------------


def test_routing_promote_edits_the_config_keeping_its_comments(repo):
    tmp_path = repo
    config = tmp_path / ".gitorch.yml"
    config.write_text("# our settings\nrouting:\n  strategy: learned  # chosen in May\n  shadow:\n    - keywords\n"
                      "    - neighbours\n  auto: true\n\nbudget:\n  monthly_usd: 50  # hard limit\n")
    result = CliRunner().invoke(cli, ["routing", "promote", "neighbours"])
    assert result.exit_code == 0, result.output
    assert "routing.strategy is now neighbours (was learned)" in result.output
    text = config.read_text()
    assert "# our settings" in text and "# chosen in May" in text and "monthly_usd: 50  # hard limit" in text
    loaded = load(cwd=tmp_path, env={})
    assert loaded.routing.strategy == "neighbours" and loaded.routing.shadow == ["learned", "keywords"]
    again = CliRunner().invoke(cli, ["routing", "promote", "neighbours"])
    assert "already" in again.output and config.read_text() == text


def test_routing_promote_adds_a_routing_section_when_there_is_none(tmp_path):
    (tmp_path / ".gitorch.yml").write_text("agents:\n  builder: codex\n")
    promote(tmp_path, "keywords")
    loaded = load(cwd=tmp_path, env={}, file=tmp_path / ".gitorch.yml")
    assert (loaded.routing.strategy, loaded.routing.shadow, loaded.agents.builder) == ("keywords", ["learned"], "codex")


def test_routing_promote_refuses_what_it_cannot_edit_and_says_what_to_write(tmp_path):
    config = tmp_path / ".gitorch.yml"
    config.write_text("routing: {strategy: learned}\n")
    with pytest.raises(GitorchError) as caught:
        promote(tmp_path, "keywords")
    assert "strategy: keywords" in caught.value.hint and config.read_text() == "routing: {strategy: learned}\n"
    with pytest.raises(GitorchError, match="unknown routing strategy 'magic'") as caught:
        promote(tmp_path, "magic")
    assert "neighbours" in caught.value.hint


def test_routing_promote_refuses_a_hostile_config_file_and_leaves_it_alone(tmp_path):
    config = tmp_path / ".gitorch.yml"
    for raw, words in ((b"routing:\n  strategy: \xff\xfe\n", "UTF-8 YAML"), (b"routing: [unclosed\n", "UTF-8 YAML"),
                       (b"# x\n" * 300_000, "larger than"), (b"- just\n- a list\n", "not a mapping")):
        config.write_bytes(raw)
        with pytest.raises(GitorchError, match=words):
            promote(tmp_path, "keywords")
        assert config.read_bytes() == raw


def test_the_dashboard_shows_each_strategy_its_interval_and_where_they_disagreed(store):
    from gitorch.dashboard import data, render

    config = Config.model_validate({"routing": {"shadow": ["keywords"]}})
    router = Router(config, store, repo="acme/shop")
    hostile = '<img src=x onerror="alert(1)"> checkout crashes when the cart is empty'
    for text, right in ((hostile, "debugging"), (CRUD, "code_generation")):
        router.feedback(router.route(text).id, override_task_type=right)
    html = render.panels(data.snapshot(store, config), {"kind": "local"})["decisions"]
    assert "Strategies, scored from feedback" in html
    assert 'data-strategy="learned"' in html and 'data-strategy="keywords"' in html
    assert "95% interval" in html and "McNemar p" in html
    assert "Where they disagreed" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_route_shows_the_shadows_beside_the_suggestion(repo):
    (repo / ".gitorch.yml").write_text("routing:\n  shadow: [keywords, neighbours]\n")
    shown = CliRunner().invoke(cli, ["route", BUG])
    assert shown.exit_code == 0, shown.output
    assert "Shadows" in shown.output and "keywords:" in shown.output and "not acted on" in shown.output
    data = json.loads(CliRunner().invoke(cli, ["route", BUG, "--json"]).output)
    assert set(data["shadows"]) == {"keywords", "neighbours"}


def test_a_promote_killed_before_its_rename_leaves_the_config_whole_and_the_next_one_works(tmp_path):
    config = tmp_path / ".gitorch.yml"
    config.write_text("routing:\n  strategy: learned\n")
    (tmp_path / ".gitorch.yml.tmp").write_text("routing:\n  strat")  # what a kill mid-write leaves behind
    assert load(cwd=tmp_path, env={}, file=config).routing.strategy == "learned"
    promote(tmp_path, "neighbours")
    assert load(cwd=tmp_path, env={}, file=config).routing.strategy == "neighbours"
    assert not (tmp_path / ".gitorch.yml.tmp").exists()


def test_routing_promote_outside_a_repository_says_where_to_run_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["routing", "promote", "keywords"])
    assert isinstance(result.exception, GitorchError)
    assert "not inside a git repository" in result.exception.message and "in your repository" in result.exception.hint
    assert not (tmp_path / ".gitorch.yml").exists()


def test_stats_print_the_switch_suggestion_with_its_test_and_command():
    from rich.console import Console

    console = Console(record=True, width=200)
    decisions = _judged(True, True, 40) + _judged(False, True, 12) + _judged(True, False, 1)
    stats.render_strategies(compare(decisions, "learned"), console)
    shown = console.export_text()
    assert "suggestion:" in shown and "McNemar exact p = 0.00342" in shown
    assert "gitorch routing promote keywords" in shown and "12 / 1" in shown
