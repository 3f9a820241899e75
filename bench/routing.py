"""Routing benchmark: the original design's keywords against the default (learned) router.

    python bench/routing.py [--data FILE.jsonl ...] [--json] [--plot docs/routing-curve.png]

For each data file of ``{"text", "label"}`` lines (default ../shared/data/routing-tasks.jsonl):
- cold accuracy: the router as shipped, no feedback from this file (on routing-tasks.jsonl this is
  training data, so it flatters the model; the other files are text it never saw);
- learning: a prequential stream in file order through the real Router and SqliteStore: predict,
  then the simulated person overrides every wrong suggestion with the true type (and confirms the
  right ones with a success outcome), then the router learns; accuracy per block of 100 and over
  the last 300;
- per-label accuracy, accuracy on the three commit-derived labels alone, agent accuracy through the
  type -> agent mapping, mean confidence against accuracy (calibration);
- decisions per second of `gitorch route --batch` through the same code path (parse, route, store,
  write JSON), and of the whole command as a process (start-up included).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitorch.config import Config  # noqa: E402
from gitorch.routing import Router  # noqa: E402
from gitorch.routing.batch import route_file  # noqa: E402
from gitorch.routing.train import read_labelled  # noqa: E402
from gitorch.store.sqlite import SqliteStore  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routing-tasks.jsonl"
LABELS = ("planning", "code_generation", "debugging", "refactoring")
COMMIT_LABELS = ("code_generation", "debugging", "refactoring")


def mapped_agent(label: str, builder: str = "chatgpt-pro") -> str:
    return "claude" if label in ("planning", "review") else builder


def _scores(pred: list[str], gold: list[str], agents: list[str]) -> dict:
    pred_a, gold_a = np.array(pred), np.array(gold)
    per_label = {lab: round(float((pred_a[gold_a == lab] == lab).mean()), 4) for lab in LABELS if (gold_a == lab).any()}
    commit = np.isin(gold_a, COMMIT_LABELS)
    return {
        "accuracy": round(float((pred_a == gold_a).mean()), 4),
        "per_label": per_label,
        "commit_labels_accuracy": round(float((pred_a[commit] == gold_a[commit]).mean()), 4) if commit.any() else None,
        "agent_accuracy": round(float(np.mean([a == mapped_agent(g) for a, g in zip(agents, gold, strict=True)])), 4),
    }


def calibration(confidences: list[float], correct: list[bool], bins: int = 10) -> dict:
    conf, hit = np.array(confidences), np.array(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(conf[inside].mean() - hit[inside].mean())
    return {"mean_type_probability": round(float(conf.mean()), 4), "accuracy": round(float(hit.mean()), 4),
            "ece": round(float(ece), 4)}


def cold(rows: list[dict], strategy: str, workdir: Path) -> dict:
    store = SqliteStore(workdir / f"cold-{strategy}.db")
    router = Router(Config(), store, repo=f"bench-cold-{strategy}", strategy=strategy)
    decisions = router.route_batch([r["text"] for r in rows], record=False)
    store.close()
    gold = [r["label"] for r in rows]
    out = _scores([d.task_type for d in decisions], gold, [d.agent for d in decisions])
    if strategy == "learned":
        out["calibration"] = calibration([d.task_types[d.task_type] for d in decisions],
                                         [d.task_type == g for d, g in zip(decisions, gold, strict=True)])
    return out


def stream(rows: list[dict], workdir: Path, strategy: str = "learned") -> dict:
    """Prequential: predict, the person corrects a wrong suggestion (confirms a right one), learn."""
    store = SqliteStore(workdir / f"stream-{strategy}.db")
    router = Router(Config(), store, repo=f"bench-stream-{strategy}", strategy=strategy)
    hits, agent_hits = [], []
    started = time.perf_counter()
    for row in rows:
        decision = router.route(row["text"])
        hits.append(decision.task_type == row["label"])
        agent_hits.append(decision.agent == mapped_agent(row["label"]))
        if decision.task_type != row["label"]:
            router.feedback(decision.id, override_task_type=row["label"], save=False)
        else:
            router.feedback(decision.id, outcome="success", save=False)
    router.save_state()
    seconds = time.perf_counter() - started
    state_bytes = len(store.load_router_state(router.repo) or b"")
    store.close()
    hits_a = np.array(hits, dtype=float)
    curve = [round(float(hits_a[i: i + 100].mean()), 4) for i in range(0, len(hits_a), 100)]
    gold = np.array([r["label"] for r in rows])
    last = slice(max(0, len(rows) - 300), len(rows))
    commit = np.isin(gold[last], COMMIT_LABELS)
    return {
        "curve": curve,
        "final_accuracy": round(float(hits_a[last].mean()), 4),
        "final_commit_labels_accuracy": round(float(hits_a[last][commit].mean()), 4) if commit.any() else None,
        "final_agent_accuracy": round(float(np.mean(agent_hits[last])), 4),
        "stream_accuracy": round(float(hits_a.mean()), 4),
        "seconds": round(seconds, 2),
        "state_bytes": state_bytes,
    }


def batch_speed(path: Path, workdir: Path, repeat: int = 3) -> dict:
    """`--batch` through its code path (read, route, store, JSON out), best of ``repeat`` runs on a
    fresh store each; and the whole command as a process once."""
    rates = []
    lines = 0
    for i in range(repeat):
        store = SqliteStore(workdir / f"batch-{i}.db")
        router = Router(Config(), store, repo="bench-batch")
        sink = io.StringIO()
        started = time.perf_counter()
        lines = route_file(router, path, sink.write)
        rates.append(lines / (time.perf_counter() - started))
        store.close()
    env = {"GITORCH_HOME": str(workdir / "cli-home"), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
           "HOME": str(workdir)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gitorch", "route", "--batch", str(path.resolve()), "--json"],
                          cwd=workdir, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or proc.stdout.count("\n") != lines:
        raise SystemExit(f"gitorch route --batch failed: {proc.stderr[-2000:]}")
    process_rate = lines / elapsed
    return {"decisions_per_second": round(max(rates)), "runs": [round(r) for r in rates],
            "process_decisions_per_second": round(process_rate) if process_rate else None,
            "process_seconds": round(elapsed, 2), "lines": lines}


def run(path: Path, skip_process: bool = False) -> dict:
    rows = read_labelled(path)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        keywords_cold = cold(rows, "keywords", work)
        learned_cold = cold(rows, "learned", work)
        learned_stream = stream(rows, work)
        speed = batch_speed(path, work)
    return {
        "data": path.name,
        "rows": len(rows),
        "note": ("cold accuracy here is on the model's own training data" if path.name == "routing-tasks.jsonl"
                 else "text the packaged model never saw"),
        "keyword_accuracy": keywords_cold["accuracy"],
        "cold_accuracy": learned_cold["accuracy"],
        "final_accuracy": learned_stream["final_accuracy"],
        "curve": learned_stream["curve"],
        "decisions_per_second": speed["decisions_per_second"],
        "keywords": keywords_cold,
        "learned": {"cold": learned_cold, "stream": learned_stream},
        "batch": speed,
    }


def table(result: dict) -> str:
    k, c, s = result["keywords"], result["learned"]["cold"], result["learned"]["stream"]

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    lines = [
        f"## {result['data']} ({result['rows']} rows; {result['note']})",
        "",
        "| router | accuracy | planning | code_generation | debugging | refactoring | 3 commit labels | agent |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, part in (("keywords (original design)", k), ("learned, cold (as shipped)", c)):
        per = part["per_label"]
        lines.append(f"| {name} | {pct(part['accuracy'])} | " + " | ".join(pct(per.get(lab)) for lab in LABELS)
                     + f" | {pct(part['commit_labels_accuracy'])} | {pct(part['agent_accuracy'])} |")
    lines.append(f"| learned, last 300 of the stream | {pct(s['final_accuracy'])} | | | | | "
                 f"{pct(s['final_commit_labels_accuracy'])} | {pct(s['final_agent_accuracy'])} |")
    cal = c["calibration"]
    lines += [
        "",
        "learning curve (accuracy per 100 decisions): " + " ".join(f"{100 * v:.0f}" for v in s["curve"]),
        f"calibration (cold): mean type probability {pct(cal['mean_type_probability'])} vs accuracy "
        f"{pct(cal['accuracy'])}, ECE {cal['ece']:.3f}",
        f"--batch: {result['batch']['decisions_per_second']} decisions/s through the code path (best of "
        f"{result['batch']['runs']}), {result['batch']['process_decisions_per_second']} decisions/s as a whole "
        f"process ({result['batch']['process_seconds']} s incl. start-up); stream of {result['rows']} route+feedback "
        f"pairs took {s['seconds']} s; learned state {s['state_bytes']} bytes",
    ]
    return "\n".join(lines)


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    for result in results:
        curve = result["curve"]
        xs = [min(100 * (i + 1), result["rows"]) for i in range(len(curve))]
        line, = ax.plot(xs, [100 * v for v in curve], marker="o", ms=3, label=f"learned: {result['data']}")
        ax.axhline(100 * result["keyword_accuracy"], color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("decisions (prequential: predict, correct, learn)")
    ax.set_ylabel("accuracy per block of 100 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("gitorch router learning curve (dotted: keyword baseline)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", type=Path, help="JSON Lines of {text, label}; repeatable")
    parser.add_argument("--json", action="store_true", help="one JSON object (a list with several --data)")
    parser.add_argument("--plot", type=Path, help="write the learning curves as a PNG")
    args = parser.parse_args()
    paths = args.data or [DEFAULT_DATA]
    results = [run(p) for p in paths]
    if args.plot:
        plot(results, args.plot)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        print("\n\n".join(table(r) for r in results))


if __name__ == "__main__":
    main()
