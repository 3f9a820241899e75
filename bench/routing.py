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
  type -> agent mapping;
- calibration (cold): the expected calibration error and a reliability table of the top type's
  probability (against the type being right) and of the confidence (against the agent being right),
  and the auto coverage: the share of requests at or above MIN_CONFIDENCE_FOR_AUTO and how often the
  agent is right among them;
- strategies on the stream: every decision also routed by the shadows (keywords, neighbours) and
  scored from the same feedback: accuracy with a Wilson interval and McNemar's exact test;
- milliseconds per single `route` (stored, as the pre-push hook does) for each strategy, with the
  stream's feedback in the store (the neighbours strategy remembers it);
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
from gitorch.routing.learned import reliability  # noqa: E402
from gitorch.routing.shadow import compare, p_text  # noqa: E402
from gitorch.routing.train import read_labelled  # noqa: E402
from gitorch.store.sqlite import SqliteStore  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routing-tasks.jsonl"
LABELS = ("planning", "code_generation", "debugging", "refactoring")
COMMIT_LABELS = ("code_generation", "debugging", "refactoring")
# The stream routes with every other strategy as a shadow, so the same feedback scores them all.
SHADOWS = {"learned": ["keywords", "neighbours"], "keywords": ["learned", "neighbours"],
           "neighbours": ["learned", "keywords"]}


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


def auto_coverage(confidences: list[float], agent_right: list[bool], threshold: float) -> dict:
    """Share of requests at or above the auto threshold, and how often the agent is right among them."""
    conf, hit = np.array(confidences), np.array(agent_right, dtype=bool)
    auto = conf >= threshold
    return {"threshold": threshold, "share": round(float(auto.mean()), 4), "count": int(auto.sum()),
            "agent_accuracy": round(float(hit[auto].mean()), 4) if auto.any() else None}


def cold(rows: list[dict], strategy: str, workdir: Path) -> dict:
    store = SqliteStore(workdir / f"cold-{strategy}.db")
    router = Router(Config(), store, repo=f"bench-cold-{strategy}", strategy=strategy)
    decisions = router.route_batch([r["text"] for r in rows], record=False)
    store.close()
    gold = [r["label"] for r in rows]
    out = _scores([d.task_type for d in decisions], gold, [d.agent for d in decisions])
    if strategy == "learned":
        agent_right = [d.agent == mapped_agent(g) for d, g in zip(decisions, gold, strict=True)]
        out["calibration"] = {
            "type": reliability([d.task_types[d.task_type] for d in decisions],
                                [d.task_type == g for d, g in zip(decisions, gold, strict=True)]),
            "confidence": reliability([d.confidence for d in decisions], agent_right),
        }
        out["auto"] = auto_coverage([d.confidence for d in decisions], agent_right,
                                    Config().routing.min_confidence_for_auto)
    return out


def stream(rows: list[dict], workdir: Path, strategy: str = "learned") -> dict:
    """Prequential: predict, the person corrects a wrong suggestion (confirms a right one), learn."""
    store = SqliteStore(workdir / f"stream-{strategy}.db")
    config = Config.model_validate({"routing": {"strategy": strategy, "shadow": SHADOWS[strategy]}})
    router = Router(config, store, repo=f"bench-stream-{strategy}")
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
    strategies = compare(store.judged_decisions(router.repo, limit=len(rows)), strategy)
    timing = route_times(store, router.repo, rows)
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
        "strategies": {name: {k: row[k] for k in ("scored", "accuracy_pct", "interval_pct")}
                       for name, row in strategies["strategies"].items()},
        "tests": strategies["tests"],
        "suggestion": strategies["suggestion"],
        "route_ms": timing,
    }


def route_times(store: SqliteStore, repo: str, rows: list[dict], count: int = 60) -> dict:
    """Median milliseconds of one stored `route` per strategy, over the store the stream filled
    (the neighbours strategy's memory loads on the first call, as in a fresh hook process: that
    first call is reported apart)."""
    texts = [r["text"] for r in rows[:count]]
    out = {}
    for name in ("learned", "keywords", "neighbours"):
        router = Router(Config.model_validate({"routing": {"strategy": name}}), store, repo=repo)
        started = time.perf_counter()
        router.route(texts[0])
        first = time.perf_counter() - started
        times = []
        for text in texts:
            started = time.perf_counter()
            router.route(text)
            times.append(time.perf_counter() - started)
        out[name] = {"median_ms": round(1000 * float(np.median(times)), 2), "first_ms": round(1000 * first, 1)}
    return out


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
    cal, auto = c["calibration"], c["auto"]
    lines += [
        "",
        "learning curve (accuracy per 100 decisions): " + " ".join(f"{100 * v:.0f}" for v in s["curve"]),
        "",
        f"calibration (cold): top type probability: mean {pct(cal['type']['mean_probability'])} vs right "
        f"{pct(cal['type']['accuracy'])}, ECE {cal['type']['ece']:.3f}; confidence (P agent right): mean "
        f"{pct(cal['confidence']['mean_probability'])} vs right {pct(cal['confidence']['accuracy'])}, "
        f"ECE {cal['confidence']['ece']:.3f}",
        f"auto coverage: {pct(auto['share'])} of requests at or above {auto['threshold']:.0%} confidence "
        f"({auto['count']}), agent right for {pct(auto['agent_accuracy'])} of them",
        "",
        "| bin | type: rows | mean probability | right | confidence: rows | mean confidence | agent right |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    type_bins = {tuple(b["bin"]): b for b in cal["type"]["bins"]}
    conf_bins = {tuple(b["bin"]): b for b in cal["confidence"]["bins"]}
    for key in sorted(set(type_bins) | set(conf_bins)):
        t, k = type_bins.get(key), conf_bins.get(key)
        lines.append(f"| {key[0]:.1f}-{key[1]:.1f} | " + (f"{t['count']} | {pct(t['mean_probability'])} | "
                     f"{pct(t['accuracy'])}" if t else "0 | | ") + " | " + (
                     f"{k['count']} | {pct(k['mean_probability'])} | {pct(k['accuracy'])}" if k else "0 | | ") + " |")
    lines += ["", "strategies on the stream (scored from the same feedback; 95% Wilson interval; McNemar exact "
                  "against the acting one):"]
    for name, row in s["strategies"].items():
        test = s["tests"].get(name)
        lines.append(f"- {name}: {pct(row['accuracy_pct'] / 100)} of {row['scored']} "
                     f"({row['interval_pct'][0]:.1f}-{row['interval_pct'][1]:.1f}%)"
                     + (f"; only it right {test['only_shadow_right']}, only acting right "
                        f"{test['only_acting_right']}, {p_text(test['p_value'], 'p')}" if test else " (acting)"))
    if s["suggestion"]:
        lines.append(f"- suggestion: {s['suggestion']['message']}")
    lines.append("ms per stored route: " + ", ".join(
        f"{name} {t['median_ms']:.1f} (first {t['first_ms']:.0f})" for name, t in s["route_ms"].items()))
    lines.append(
        f"--batch: {result['batch']['decisions_per_second']} decisions/s through the code path (best of "
        f"{result['batch']['runs']}), {result['batch']['process_decisions_per_second']} decisions/s as a whole "
        f"process ({result['batch']['process_seconds']} s incl. start-up); stream of {result['rows']} route+feedback "
        f"pairs took {s['seconds']} s; learned state {s['state_bytes']} bytes")
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
