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
