"""Confidence that means what it says: the reliability measure, the calibration maps, their fit
(on synthetic data with a known answer, never on the benchmark's files), and what a user sees."""

from __future__ import annotations

import numpy as np
import pytest

from gitorch.config import Config
from gitorch.routing import Router, learned
from gitorch.store.sqlite import SqliteStore

DEMO_ISSUE = "Email customers when their order ships"


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def test_reliability_measures_the_gap_between_probability_and_accuracy():
    table = learned.reliability([0.9] * 10 + [0.3] * 10, [True] * 5 + [False] * 5 + [False] * 7 + [True] * 3)
    assert table["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.0)
    assert [b["count"] for b in table["bins"]] == [10, 10]
    assert table["bins"][1] == {"bin": [0.8, 0.9], "count": 10, "mean_probability": 0.9, "accuracy": 0.5}
    assert learned.reliability([0.0, 1.0], [False, True])["ece"] == 0.0  # both ends are counted


def test_calibrating_types_moves_the_top_probability_but_never_the_order():
    rng = np.random.default_rng(1)
    probs = learned.softmax(rng.normal(size=(500, len(learned.TYPES))) * 2, 1.0)
    cues = np.zeros_like(probs)
    type_x, _ = learned.calibration_inputs(probs, cues, np.zeros_like(probs, dtype=bool))
    sharper = learned.Calibration(type_weights=(2.0, 0.0, 1.0))
    out = sharper.types(probs, type_x)
    assert np.allclose(out.sum(axis=1), 1.0)
    assert (out.argmax(axis=1) == probs.argmax(axis=1)).all()
    assert (out.max(axis=1) >= probs.max(axis=1) - 1e-9).mean() > 0.9
    flatter = learned.Calibration(type_weights=(0.2, 0.0, -3.0)).types(probs, type_x)
    assert (flatter.argmax(axis=1) == probs.argmax(axis=1)).all()  # even when it wants the top below the next
    assert np.allclose(learned.Calibration().types(probs, type_x), probs)  # the identity map changes nothing


def _synthetic(rng, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scores of an under-confident model: the top type is right with probability
    sigmoid(1.8 * logit(p_top) + 0.8), more often than p_top says."""
    scores = rng.normal(size=(n, len(learned.TYPES))) * 1.5
    probs = learned.softmax(scores, 1.0)
    top = probs.argmax(axis=1)
    p_top = probs[np.arange(n), top]
    truly = 1 / (1 + np.exp(-(1.8 * np.log(p_top / (1 - p_top)) + 0.8)))
    right = rng.random(n) < truly
    other = (top + rng.integers(1, len(learned.TYPES), size=n)) % len(learned.TYPES)
    return scores, np.where(right, top, other), [f"request {i}" for i in range(n)]


@pytest.mark.slow
def test_fitted_calibration_brings_the_error_under_five_points_on_fresh_data():
    from gitorch.routing.train import fit_calibration

    rng = np.random.default_rng(19)
    calibration = fit_calibration([_synthetic(rng, 3000), _synthetic(rng, 400)], temperature=1.0)
    scores, y, texts = _synthetic(rng, 4000)
    probs = learned.softmax(scores, 1.0)
    type_x, _ = learned.calibration_inputs(probs, learned.cue_matrix(texts), np.zeros_like(probs, dtype=bool))
    right = probs.argmax(axis=1) == y
    before = learned.reliability(probs.max(axis=1), right)["ece"]
    after = learned.reliability(calibration.types(probs, type_x).max(axis=1), right)["ece"]
    assert before > 0.1 and after <= 0.05


def test_the_shipped_model_carries_its_calibration_and_says_what_it_was_fitted_on():
    base = learned.load_base()
    assert base.calibration != learned.Calibration()
    assert set(base.meta["calibrated_on"]) == {"routing-tasks.jsonl", "issues-calibration.jsonl"}


def test_the_demo_issue_reads_as_implementation_sure_enough_to_start_by_itself(store):
    decision = Router(Config(), store, repo="acme/shop").route(DEMO_ISSUE)
    assert decision.task_type == "code_generation" and decision.agent == "chatgpt-pro"
    assert decision.confidence >= Config().routing.min_confidence_for_auto


def test_confidence_drops_when_this_repository_keeps_overriding_the_agent(store):
    router = Router(Config(), store, repo="acme/shop")
    text = "Checkout crashes with a 500 when the cart is empty"
    first = router.route(text)
    assert first.agent == "chatgpt-pro"
    for _ in range(2):
        router.feedback(router.route(text).id, override_agent="claude")
    later = Router(Config(), store, repo="acme/shop").route(text)
    assert later.confidence < first.confidence


def test_calibration_refuses_the_files_the_benchmark_reports_on(tmp_path):
    from pathlib import Path

    from gitorch.errors import GitorchError
    from gitorch.routing.train import train

    data = tmp_path / "routing-tasks.jsonl"
    data.write_text('{"text": "Add export", "label": "code_generation"}\n')
    bench_file = Path(__file__).resolve().parents[1] / "bench" / "data" / "issues.jsonl"
    for issues in (bench_file, tmp_path / "routing-heldout.jsonl"):
        with pytest.raises(GitorchError, match="benchmark reports on") as caught:
            train(data, out=tmp_path / "model.npz", issues=issues)
        assert "issues-calibration.jsonl" in caught.value.hint
    assert not (tmp_path / "model.npz").exists()
