"""The router as a user meets it: suggestions, workflow, cost, feedback that teaches, manual mode.

Every test uses the real SqliteStore in a temporary GITORCH_HOME and the packaged model.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gitorch.cli import cli
from gitorch.config import Config
from gitorch.cost import PriceTable
from gitorch.errors import GitorchError
from gitorch.model import Usage
from gitorch.routing import Router, keywords, learned
from gitorch.routing.intent import cues, tokens
from gitorch.store.sqlite import SqliteStore

PLANNING = "Design the architecture for the notification service and decide how services should communicate"
CRUD = "Generate CRUD endpoints for the user model"


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def make_router(store, repo="acme/shop", **routing):
    config = Config()
    for key, value in routing.items():
        setattr(config.routing, key, value)
    return Router(config, store, repo=repo)


# -- the original design's examples --------------------------------------------------------------


def test_planning_text_goes_to_claude_with_high_confidence(store):
    decision = make_router(store).route(PLANNING)
    assert decision.task_type == "planning"
    assert decision.agent == "claude"
    assert decision.confidence > 0.8
    assert [(s.agent, s.step) for s in decision.workflow] == [("claude", "plan")]
    assert decision.scores["claude"] > decision.scores["chatgpt-pro"]


def test_generate_crud_endpoints_goes_to_the_builder(store):
    decision = make_router(store).route(CRUD)
    assert decision.task_type == "code_generation"
    assert decision.agent == "chatgpt-pro"
    assert [(s.agent, s.step) for s in decision.workflow] == [("chatgpt-pro", "build"), ("claude", "review")]
    assert decision.estimated_saving_usd > 0


def test_codex_as_configured_builder_gets_the_code_and_a_score(store):
    config = Config()
    config.agents.builder = "codex"
    decision = Router(config, store, repo="r").route(CRUD)
    assert decision.agent == "codex"
    assert set(decision.scores) == {"claude", "chatgpt-pro", "codex"}
    assert decision.scores["codex"] > 50


def test_issue_style_requests_of_each_kind(store):
    router = make_router(store)
    expected = {
        "Saving a draft drops its attachments on slow connections": "debugging",
        "Add a dark mode toggle to settings": "code_generation",
        "Split the 900-line payments module into smaller pieces": "refactoring",
        "How should we structure multi-tenant billing?": "planning",
    }
    for text, kind in expected.items():
        assert router.route(text).task_type == kind, text


def test_case_and_title_form_do_not_change_the_decision(store):
    router = make_router(store)
    plain = router.route("how should we version the public api?")
    shouting = router.route("HOW SHOULD WE VERSION THE PUBLIC API?")
    assert plain.task_type == shouting.task_type == "planning"
    assert tokens("Option Replace: This document proposes") == ["option", "replace", "this", "document", "proposes"]
    assert cues("App CRASHES on start")["debugging"] >= 1


def test_names_of_a_repositorys_own_things_become_one_token():
    found = tokens("handle `ssr.noExternal` in packages/vite/src/node/config.ts for v5.2 and fooBar_baz")
    assert found == ["handle", "<code>", "in", "<code>", "for", "<code>", "and", "<code>"]
    a, b = learned.featurize(["crash in `ssr.noExternal`", "crash in `resolve.alias`"]).row(0), \
        learned.featurize(["crash in `resolve.alias`"]).row(0)
    assert list(a.indices) == list(b.indices)


def test_features_are_l2_normalised_hashed_words_and_pairs():
    X = learned.featurize(["add csv export", "fix fix fix"])
    assert len(X) == 2
    for i in range(2):
        row = X.row(i)
        assert abs(float((row.values ** 2).sum()) - 1.0) < 1e-9
        assert ((row.indices >= 0) & (row.indices < learned.FEATURES)).all()
    assert len(X.row(0).indices) == 6  # 3 words + 3 pairs (the first with the start mark)


def test_a_state_saved_for_older_features_keeps_what_agents_did_and_drops_the_weights():
    import json
    import zlib

    header = json.dumps({"version": 1, "types": list(learned.TYPES), "examples": 40,
                         "agents": {"debugging": {"claude": [3, 1, 0]}}}).encode()
    old = zlib.compress(len(header).to_bytes(4, "big") + header + b"old weights")
    state = learned.RepoState.from_bytes(old)
    assert state.agents == {"debugging": {"claude": [3, 1, 0]}} and state.size == 0 and state.examples == 0


def test_a_model_file_for_other_features_is_refused_with_the_rebuild_command(tmp_path):
    import numpy as np

    bad = tmp_path / "model.npz"
    learned.save_base(bad, np.zeros((learned.FEATURES, 4), dtype=np.float32), np.zeros(4),
                      {"features": 1024, "state_version": 1, "temperature": 1.0})
    with pytest.raises(GitorchError, match="other features") as err:
        learned.load_base(bad)
    assert "gitorch.routing.train" in err.value.hint


def test_review_request_goes_to_claude_review(store):
    decision = make_router(store).route("Review the changes in the payments pull request before merge")
    assert decision.task_type == "review"
    assert [(s.agent, s.step) for s in decision.workflow] == [("claude", "review")]


# -- hybrid workflow -----------------------------------------------------------------------------


def test_hybrid_task_gets_plan_build_review_each_with_confidence(store):
    decision = make_router(store).route("Add JWT authentication to user API")
    assert [(s.agent, s.step) for s in decision.workflow] == [
        ("claude", "plan"), ("chatgpt-pro", "build"), ("claude", "review")]
    assert all(0 < s.confidence <= 1 for s in decision.workflow)
    assert "Hybrid" in decision.reasoning
    pure = make_router(store).route("Add a dark mode toggle to settings")
    assert [s.step for s in pure.workflow] == ["build", "review"]


def test_task_types_are_a_probability_per_type(store):
    decision = make_router(store).route("Fix the login form crash on submit")
    assert set(decision.task_types) == {"planning", "code_generation", "debugging", "refactoring", "review"}
    assert sum(decision.task_types.values()) == pytest.approx(1.0, abs=0.01)
    assert decision.task_types[decision.task_type] == max(decision.task_types.values())


# -- cost --------------------------------------------------------------------------------------------


def test_cost_and_saving_follow_the_price_table_and_the_architects_ladder(store):
    """The review is priced at the model the ladder will choose: the cheapest rung for a small change
    that touches no concern, one rung up for one that does, models.review with the ladder off."""
    config = Config()
    table = PriceTable.from_config(config)

    def priced(text: str, review_model: str, cfg: Config = config) -> None:
        decision = Router(cfg, store, repo="r").route(text)
        lines = decision.estimates["lines"]
        build = table.usd(cfg.models.build, Usage(input_tokens=3000 + 30 * lines, output_tokens=400 + 12 * lines))
        review = table.usd(review_model, Usage(input_tokens=4000 + 14 * lines, output_tokens=500 + 2 * lines))
        assert [s.step for s in decision.workflow][-2:] == ["build", "review"]
        assert decision.estimated_cost_usd == pytest.approx(review, abs=1e-4)
        assert decision.estimated_saving_usd == pytest.approx(build, abs=1e-4)

    rungs = config.models.ladder.rungs
    priced("Add a dark mode toggle to settings", rungs[0])
    priced("Fix the refund amount rounding in the payments module", rungs[1])  # a concern: payments
    off = Config()
    off.models.ladder.enabled = False
    priced("Add a dark mode toggle to settings", off.models.review, off)
    router = Router(config, store, repo="r")
    planning = router.route(PLANNING)
    assert planning.estimated_saving_usd == 0 and planning.estimated_cost_usd > 0
    claude_builds = Config()
    claude_builds.agents.builder = "claude"
    assert Router(claude_builds, store, repo="r").route(CRUD).estimated_saving_usd == 0


# -- keyword baseline --------------------------------------------------------------------------------


def test_keyword_baseline_classifies_by_hits_and_ties_to_planning():
    assert keywords.classify("Generate CRUD endpoints for the user model") == "code_generation"
    assert keywords.classify("fix the design") == "planning"  # one hit each: a tie
    assert keywords.classify("saving drops attachments") == "planning"  # no hit
    assert keywords.classify("debug the crash in the parser") == "debugging"


def test_keyword_baseline_scoring_matches_the_original_design():
    result = keywords.score("Review the database schema design", estimated_lines=10, large_codebase=True,
                            claude_history=True, builder_history=False)
    assert result.claude == 100  # 50 + 30 + 20 + 15 + 10, capped at 100
    assert result.builder == 50
    result = keywords.score("Generate CRUD endpoints", estimated_lines=250, large_codebase=False,
                            claude_history=False, builder_history=True)
    assert result.claude == 50
    assert result.builder == 100  # 50 + 30 + 25 + 15 + 10, capped
    result = keywords.score("Write a parser", estimated_lines=50, large_codebase=False,
                            claude_history=False, builder_history=False)
    assert (result.claude, result.builder) == (50, 80)


def test_keywords_strategy_through_the_router(store):
    decision = make_router(store, strategy="keywords").route(CRUD)
    assert decision.strategy == "keywords"
    assert decision.agent == "chatgpt-pro"
    assert decision.scores["chatgpt-pro"] > decision.scores["claude"]
    assert "original design" in decision.reasoning


# -- feedback teaches ----------------------------------------------------------------------------------


def test_override_is_recorded_and_learned_for_similar_texts(store):
    router = make_router(store)
    texts = [f"Generate CRUD endpoints for the {name} model" for name in ("order", "invoice", "product", "cart")]
    assert router.route(CRUD).agent == "chatgpt-pro"
    for text in texts[:3]:
        decision = router.route(text)
        router.feedback(decision.id, override_agent="claude")
        assert store.get_decision(decision.id).override_agent == "claude"
    # a new router, as the next `gitorch route` process would be: it reads what was learned
    after = make_router(store).route(texts[3])
    assert after.agent == "claude"
    assert "done better" in after.reasoning


def test_type_overrides_teach_repository_vocabulary(store):
    router = make_router(store)
    jargon = ["frobnicate the {} widget cache", "frobnicate {} sessions", "frobnicate the {} queue handler"]
    first = router.route(jargon[0].format("alpha"))
    target = "refactoring" if first.task_type != "refactoring" else "debugging"
    for i, name in enumerate(["beta", "gamma", "delta", "eps", "zeta", "eta"]):
        decision = router.route(jargon[i % 3].format(name))
        router.feedback(decision.id, override_task_type=target)
    assert make_router(store).route(jargon[0].format("omega")).task_type == target


def test_failures_move_the_agent_choice(store):
    router = make_router(store)
    for i in range(4):
        decision = router.route(f"Fix the checkout crash number {i}")
        router.feedback(decision.id, outcome="failure", agent_used="chatgpt-pro")
        claude = router.route(f"Fix the login crash number {i}")
        router.feedback(claude.id, override_agent="claude", outcome="success")
    assert make_router(store).route("Fix the cart crash on submit").agent == "claude"


def test_the_same_feedback_sent_again_teaches_nothing_more(store):
    """A retried MCP call or a re-delivered event repeats feedback: the decision's lesson is learned
    once, however often it arrives."""
    router = make_router(store)
    decision = router.route(CRUD)
    router.feedback(decision.id, override_agent="codex", outcome="success", agent_used="codex")
    once = learned.RepoState.from_bytes(store.load_router_state("acme/shop"))
    for _ in range(40):
        make_router(store).feedback(decision.id, override_agent="codex", outcome="success", agent_used="codex")
    again = learned.RepoState.from_bytes(store.load_router_state("acme/shop"))
    assert again.agents == once.agents and again.examples == once.examples
    assert once.agents["code_generation"]["codex"] == [1, 1, 0]
    assert make_router(store).route(CRUD).scores == router.route(CRUD).scores


def test_a_changed_mind_replaces_the_earlier_lesson(store):
    router = make_router(store)
    decision = router.route(CRUD)
    router.feedback(decision.id, override_agent="codex")
    router.feedback(decision.id, override_agent="claude")
    counts = make_router(store).state.agents["code_generation"]
    assert counts["claude"] == [1, 0, 0] and counts["codex"] == [0, 0, 0] and counts["chatgpt-pro"] == [0, 0, 1]


def test_two_routers_learning_at_once_keep_each_others_lessons(store):
    """A session's run and an Action job (or the MCP server) each learn and save: neither overwrites
    what the other saved meanwhile."""
    first, second = make_router(store), make_router(store)
    one, two = first.route(CRUD), second.route("Generate CRUD endpoints for the order model")
    assert first.state.agents == second.state.agents == {}  # both loaded the same, empty state
    first.feedback(one.id, override_agent="claude")
    second.feedback(two.id, override_agent="codex")
    counts = make_router(store).state.agents["code_generation"]
    assert counts["claude"][0] == 1 and counts["codex"][0] == 1 and counts["chatgpt-pro"][2] == 2


def test_learning_off_records_but_does_not_learn(store):
    router = make_router(store, learning=False)
    for name in ("order", "invoice", "product", "cart"):
        decision = router.route(f"Generate CRUD endpoints for the {name} model")
        router.feedback(decision.id, override_agent="claude")
        assert store.get_decision(decision.id).override_agent == "claude"
    assert store.load_router_state("acme/shop") is None
    later = make_router(store, learning=False).route(CRUD)
    assert later.agent == "chatgpt-pro"
    assert "learning from feedback is off" in later.reasoning


def test_feedback_for_unknown_decision_is_a_clear_error(store):
    with pytest.raises(GitorchError) as err:
        make_router(store).feedback("dec-nope", outcome="success")
    assert "dec-nope" in err.value.message and err.value.hint


def test_feedback_with_nothing_to_record_is_refused(store):
    decision = make_router(store).route(CRUD)
    with pytest.raises(GitorchError, match="needs something"):
        make_router(store).feedback(decision.id)


def test_state_round_trips_and_a_corrupt_state_says_how_to_reset():
    state = learned.RepoState()
    x = learned.featurize(["frobnicate the cache"])
    base = learned.load_base()
    state.learn(x, base.scores(x, ["frobnicate the cache"])[0], "refactoring", base.temperature)
    state.agent_counts("debugging", "claude")[0] += 2
    again = learned.RepoState.from_bytes(state.to_bytes())
    assert again.examples == 1 and again.agents == {"debugging": {"claude": [2, 0, 0]}}
    assert (again.residual_scores(x) == pytest.approx(state.residual_scores(x)))
    with pytest.raises(GitorchError, match="unreadable"):
        learned.RepoState.from_bytes(b"not a state")


# -- manual mode -------------------------------------------------------------------------------------


def test_below_sixty_percent_accuracy_the_router_always_asks(store):
    router = make_router(store, accuracy_window=50)
    for i in range(12):
        decision = router.route(f"Generate CRUD endpoints for table {i}")
        if i % 3 == 0:
            router.feedback(decision.id, outcome="success")  # accepted
        else:
            wrong = "refactoring" if decision.task_type != "refactoring" else "debugging"
            router.feedback(decision.id, override_task_type=wrong)  # corrected
    accuracy, judged = router.accuracy()
    assert judged == 12 and accuracy == pytest.approx(4 / 12)
    decision = router.route("Add a dark mode toggle to settings")
    assert decision.manual
    assert "Manual mode" in decision.reasoning


def test_accurate_router_stays_automatic(store):
    router = make_router(store)
    for i in range(12):
        router.feedback(router.route(f"Add export number {i}").id, outcome="success")
    assert router.accuracy() == (1.0, 12)
    assert not router.route("Add a dark mode toggle to settings").manual


def test_too_little_feedback_does_not_switch_to_manual(store):
    router = make_router(store)
    router.feedback(router.route("Add export").id, override_task_type="debugging")
    assert not router.route("Add import").manual


# -- batch -------------------------------------------------------------------------------------------


def test_batch_keeps_order_and_stores_every_decision(store):
    router = make_router(store)
    texts = [f"Add CSV export number {i}" if i % 2 else f"Crash when opening report {i}" for i in range(400)]
    decisions = router.route_batch(texts)
    assert [d.text for d in decisions] == texts
    assert len({d.id for d in decisions}) == 400 and all(d.id.startswith("dec-") for d in decisions)
    assert len(store.recent_decisions("acme/shop", limit=1000)) == 400
    assert decisions[0].task_type == "debugging" and decisions[1].task_type == "code_generation"


def test_empty_text_is_refused(store):
    with pytest.raises(GitorchError, match="empty"):
        make_router(store).route("   ")


def test_packaged_model_was_trained_on_the_development_set_only():
    meta = learned.load_base().meta
    assert meta["trained_on"] == "routing-tasks.jsonl" and meta["rows"] == 1740
    assert learned.MODEL_FILE.stat().st_size < 1_000_000


# -- the command line --------------------------------------------------------------------------------


def test_cli_route_json_has_every_field(repo):
    result = CliRunner().invoke(cli, ["route", PLANNING, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("decision_id", "task_type", "task_types", "agent", "confidence", "scores", "reasoning",
                "workflow", "estimated_cost_usd", "estimated_saving_usd"):
        assert key in data
    assert data["agent"] == "claude" and data["decision_id"].startswith("dec-")
    assert set(data["workflow"][0]) == {"agent", "step", "confidence"}
    assert "routing-tasks.jsonl" in data["reasoning"]


def test_cli_route_panel_shows_estimates_and_saving(repo):
    result = CliRunner().invoke(cli, ["route", "Add JWT authentication to user API"], terminal_width=120)
    assert result.exit_code == 0, result.output
    for words in ("Task type", "Input context", "Output size", "Suggestion", "confidence", "against Claude alone",
                  "claude plans", "chatgpt-pro builds", "claude reviews"):
        assert words in " ".join(result.output.replace("│", " ").split())


def test_cli_batch_writes_one_line_per_input_in_order(repo, tmp_path):
    source = tmp_path / "tasks.jsonl"
    texts = ["Add CSV export", "Crash on save", "How should we shard the database?"]
    source.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n\n")
    result = CliRunner().invoke(cli, ["route", "--batch", str(source), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [r["agent"] for r in rows] == ["chatgpt-pro", "chatgpt-pro", "claude"]


@pytest.mark.parametrize("line, words", [
    ("not json", "line 2 is not valid JSON"),
    ('{"title": "x"}', 'line 2 has no "text"'),
    ('{"text": ""}', "line 2: \"text\" must be a non-empty string"),
])
def test_cli_batch_names_the_bad_line(repo, tmp_path, line, words):
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "Add CSV export"}\n' + line + "\n")
    result = CliRunner().invoke(cli, ["route", "--batch", str(source), "--json"])
    assert result.exit_code != 0
    assert isinstance(result.exception, GitorchError) and words in result.exception.message


def test_cli_route_needs_text_or_batch(repo):
    result = CliRunner().invoke(cli, ["route"])
    assert isinstance(result.exception, GitorchError) and "either TEXT or --batch" in result.exception.message


def test_cli_feedback_teaches_and_unknown_id_is_named(repo):
    runner = CliRunner()
    decision = json.loads(runner.invoke(cli, ["route", CRUD, "--json"]).output)
    ok = runner.invoke(cli, ["feedback", decision["decision_id"], "--override", "claude", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["override_agent"] == "claude" and data["learned"] is True
    missing = runner.invoke(cli, ["feedback", "dec-unknown", "--outcome", "success"])
    assert isinstance(missing.exception, GitorchError) and "dec-unknown" in missing.exception.message
    bad = runner.invoke(cli, ["feedback", decision["decision_id"], "--type", "nonsense"])
    assert bad.exit_code == 2 and "nonsense" in bad.output


def test_keywords_strategy_counts_a_large_codebase_for_claude(store, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    for i in range(30):
        (root / f"f{i}.py").write_text("x = 1\n")
    config = Config()
    config.routing.strategy = "keywords"
    config.routing.large_codebase_files = 20
    big = Router(config, store, repo=str(root)).route("Plan the module layout")
    config.routing.large_codebase_files = 100
    small = Router(config, store, repo=str(root)).route("Plan the module layout")
    assert big.scores["claude"] == small.scores["claude"] + 20
    assert "large codebase" in big.reasoning
