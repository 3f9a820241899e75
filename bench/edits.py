"""Edit protocol benchmark: how much of the corpus of builder answers comes out right, and how fast.

Run: python bench/edits.py [--seconds S]

Prints (a) the share of tests/fixtures/answers/ turned into exactly the expected edits or the
expected refusal (target 100%), (b) parse-and-apply throughput over the corpus and over one large
answer, (c) what the lenient SEARCH matching costs against exact matching, measured side by side, and
(d) an answer of 4,000 files checked with the current clash check (file against folder) and with the
old one that rebuilt the set of files for every file, side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gitorch.config import EditsConfig
from gitorch.edits import apply_edits, parse_answer

ROOT = Path(__file__).resolve().parents[1]


def load_corpus():
    path = ROOT / "tests" / "fixtures" / "answers" / "corpus.py"
    spec = importlib.util.spec_from_file_location("answers_corpus", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["answers_corpus"] = module
    spec.loader.exec_module(module)
    return module


def correctness(corpus) -> tuple[int, int, list[str]]:
    cases = corpus.load_cases()
    wrong = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            workdir = Path(tmp) / str(i)
            workdir.mkdir()
            ok, why = corpus.run_case(case, workdir)
            if not ok:
                wrong.append(f"{case.name}: {why.splitlines()[0] if why else ''}")
    return len(cases) - len(wrong), len(cases), wrong


def timed(fn, seconds: float) -> tuple[int, float]:
    """Calls of ``fn`` in about ``seconds``, and the median seconds per call."""
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return len(samples), statistics.median(samples)


def corpus_throughput(corpus, seconds: float) -> tuple[float, float]:
    """Answers per second and MB of answer text per second over the corpus cases without a disk."""
    cases = [c for c in corpus.load_cases() if "disk" not in c.data]
    size = sum(len(c.answer.encode()) for c in cases)

    def once():
        for case in cases:
            try:
                apply_edits(parse_answer(case.answer, case.files, case.config), case.files, None, case.config)
            except Exception:  # refusals are part of the work measured
                pass

    _, per_round = timed(once, seconds)
    return len(cases) / per_round, size / per_round / 1e6


def large_file(lines: int = 5000) -> str:
    out = ['"""A large generated module."""', "", "import math", ""]
    for i in range(lines // 5):
        out += [f"def f{i}(x):", f"    y = x * {i}", f"    return math.sqrt(abs(y)) + {i}", "", ""]
    return "\n".join(out) + "\n"


def large_answer(blocks: int, shift: bool) -> str:
    """``blocks`` SEARCH/REPLACE blocks on the large file, exact or with the indentation shifted."""
    parts = ["Here are the changes.\n"]
    for b in range(blocks):
        i = b * 17 + 3
        pad = "" if not shift else "  "
        parts.append(f"src/big.py\n```python\n<<<<<<< SEARCH\n{pad}def f{i}(x):\n{pad}    y = x * {i}\n=======\n"
                     f"{pad}def f{i}(x):\n{pad}    y = x * {i} + 1\n>>>>>>> REPLACE\n```\n")
    for n in range(20):
        body = "".join(f"VALUE_{k} = {k}\n" for k in range(200))
        parts.append(f"src/gen/mod{n}.py\n```python\n{body}```\n")
    return "\n".join(parts)


def _old_clash_check(self, path: str) -> None:
    """The clash check as it was: the set of live files rebuilt for every file written."""
    from gitorch.edits.failures import Refusal

    live = {p for p in self.given if self.current.get(p, "") is not None}
    live |= {p for p, c in self.current.items() if c is not None}
    parents = {path[:i] for i, ch in enumerate(path) if ch == "/"}
    clash = next((p for p in live if p in parents or p.startswith(path + "/")), None)
    if clash:
        raise Refusal(f"'{path}' cannot be written: '{clash}' is a file there")


def clash_check(files: int) -> tuple[float, float]:
    """Seconds apply_edits takes on an answer of ``files`` files with the old clash check and the
    current one, one after the other in this process."""
    from gitorch.edits import apply as apply_module
    from gitorch.model import Edit

    half = files // 2
    given = {f"lib/m{i}.py": f"V = {i}\n" for i in range(half)}
    edits = [Edit(path=f"lib/m{i}.py", content=f"V = {i + 1}\n") for i in range(half)]
    edits += [Edit(path=f"new/d{i % 40}/f{i}.py", content="N = 1\n") for i in range(files - half)]
    current = apply_module._Files._check_no_clash
    seconds = {}
    for name, check in (("old", _old_clash_check), ("new", current)):
        apply_module._Files._check_no_clash = check
        try:
            start = time.perf_counter()
            assert len(apply_edits(edits, given)) == files
            seconds[name] = time.perf_counter() - start
        finally:
            apply_module._Files._check_no_clash = current
    return seconds["old"], seconds["new"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each throughput figure")
    args = parser.parse_args()
    corpus = load_corpus()

    good, total, wrong = correctness(corpus)
    print(f"corpus: {good}/{total} answers turned into the expected edits or refusal ({100 * good / total:.1f}%)")
    for line in wrong:
        print(f"  wrong: {line}")

    per_s, mb_s = corpus_throughput(corpus, args.seconds)
    print(f"corpus throughput: {per_s:,.0f} answers/s ({mb_s:.2f} MB/s of answer text), parse + apply")

    files = {"src/big.py": large_file()}
    config = EditsConfig()
    figures = {}
    for shift in (False, True):
        answer = large_answer(50, shift)
        calls, median = timed(lambda a=answer: apply_edits(parse_answer(a, files, config), files, None, config),
                              args.seconds)
        figures[shift] = median
        kind = "indentation-shifted SEARCH" if shift else "exact SEARCH"
        print(f"large answer ({len(answer) / 1e3:.0f} KB: 50 {kind} blocks on a {len(files['src/big.py']) / 1e3:.0f} KB "
              f"file + 20 whole files): {median * 1e3:.1f} ms median over {calls} runs, "
              f"{len(answer) / median / 1e6:.2f} MB/s")
    print(f"lenient matching cost: shifted/exact = {figures[True] / figures[False]:.2f}x (same run)")

    old, new = clash_check(4000)
    print(f"answer with 4,000 files (2,000 changed, 2,000 new in 40 folders), apply_edits: {new * 1e3:.0f} ms with the "
          f"kept index, {old * 1e3:.0f} ms rebuilding the set of files per file (the old check): "
          f"{old / new:.0f}x (same run)")


if __name__ == "__main__":
    main()
