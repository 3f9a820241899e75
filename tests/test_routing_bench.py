"""The routing benchmark runs on any file of {"text", "label"} lines, and refuses bad ones by line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from gitorch.errors import GitorchError
from gitorch.routing.train import read_labelled

BENCH = Path(__file__).resolve().parents[1] / "bench" / "routing.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_routing", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_reports_every_figure_on_a_small_file_of_our_own(tmp_path):
    rows = [json.loads(line) for line in (BENCH.parent / "data" / "issues.jsonl").read_text().splitlines()][:40]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = load_bench().run(data)
    for key in ("keyword_accuracy", "cold_accuracy", "final_accuracy", "curve", "decisions_per_second"):
        assert key in result
    assert len(result["curve"]) == 1 and 0 <= result["final_accuracy"] <= 1
    assert result["learned"]["cold"]["accuracy"] > result["keywords"]["accuracy"]
    assert result["batch"]["lines"] == 40 and result["decisions_per_second"] > 0
    assert "## mine.jsonl" in load_bench().table(result)


def test_labelled_file_with_a_bad_line_is_named(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "Add export", "label": "code_generation"}\n{"text": "x", "label": "chores"}\n')
    with pytest.raises(GitorchError, match="line 2"):
        read_labelled(data)
    data.write_text('{"text": "Add export", "label": "code_generation"}\nnot json\n')
    with pytest.raises(GitorchError, match="line 2 is not valid JSON"):
        read_labelled(data)
    with pytest.raises(GitorchError, match="cannot read"):
        read_labelled(tmp_path / "missing.jsonl")


@pytest.mark.slow
def test_training_refuses_the_held_out_set(tmp_path):
    from gitorch.routing.train import train

    data = tmp_path / "routing-heldout.jsonl"
    data.write_text('{"text": "Add export", "label": "code_generation"}\n')
    with pytest.raises(GitorchError, match="held-out"):
        train(data, out=tmp_path / "model.npz")


def test_bench_reports_calibration_auto_coverage_strategies_and_time_per_route(tmp_path):
    rows = [json.loads(line) for line in (BENCH.parent / "data" / "issues-dev.jsonl").read_text().splitlines()][:24]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = load_bench()
    result = bench.run(data)
    cold = result["learned"]["cold"]
    for part in ("type", "confidence"):
        assert 0 <= cold["calibration"][part]["ece"] <= 1
        assert sum(b["count"] for b in cold["calibration"][part]["bins"]) == 24
    assert cold["auto"]["threshold"] == 0.8 and 0 <= cold["auto"]["share"] <= 1
    stream = result["learned"]["stream"]
    assert set(stream["strategies"]) == {"learned", "keywords", "neighbours"}
    assert set(stream["route_ms"]) == {"learned", "keywords", "neighbours"}
    shown = bench.table(result)
    for words in ("auto coverage", "ECE", "| bin |", "McNemar", "ms per stored route"):
        assert words in shown


def test_auto_coverage_counts_the_share_at_the_threshold_and_the_agent_right_among_them():
    coverage = load_bench().auto_coverage([0.95, 0.8, 0.79, 0.99], [True, False, True, True], 0.8)
    assert coverage == {"threshold": 0.8, "share": 0.75, "count": 3, "agent_accuracy": 0.6667}
