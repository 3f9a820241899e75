"""Every answer in the corpus (tests/fixtures/answers/) turns into exactly its edits or its refusal."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).parent / "fixtures" / "answers" / "corpus.py"
_spec = importlib.util.spec_from_file_location("answers_corpus", _PATH)
assert _spec and _spec.loader
corpus = importlib.util.module_from_spec(_spec)
sys.modules["answers_corpus"] = corpus
_spec.loader.exec_module(corpus)

CASES = corpus.load_cases()


def test_corpus_has_at_least_forty_cases_of_both_kinds():
    refusals = [c for c in CASES if "refusal" in c.data]
    assert len(CASES) >= 40 and len(refusals) >= 15 and len(CASES) - len(refusals) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case, tmp_path):
    ok, why = corpus.run_case(case, tmp_path)
    assert ok, f"{case.name}: {case.data.get('description', '')}\n{why}"


def test_mangled_corpus_answers_are_used_or_refused_never_crash():
    """Answers cut, spliced and salted with markers, fences, unsafe paths and binary: each one either
    becomes safe edits or an EditError, never another exception."""
    import random

    from gitorch.edits import EditError, apply_edits, parse_answer

    rng = random.Random(5)
    cases = [c for c in CASES if "disk" not in c.data]
    salt = ["```", "````", "~~~", "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "DELETE x.py", "../x.py",
            ".git/config", "\x00", "\t", "**", "`", "# a.py", "\r", "", "src/app.py", "\ufffd", "\udcff", "/etc/x"]
    for _ in range(600):
        case = rng.choice(cases)
        lines = case.answer.split("\n")
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(lines) + 1)
            roll = rng.random()
            if roll < 0.3 and lines:
                del lines[min(at, len(lines) - 1)]
            elif roll < 0.6:
                lines.insert(at, rng.choice(salt))
            elif roll < 0.8 and lines:
                lines[min(at, len(lines) - 1)] += rng.choice(salt)
            else:
                lines = lines[:at]
        try:
            result = apply_edits(parse_answer("\n".join(lines), case.files, case.config), case.files, None, case.config)
        except EditError:
            continue
        for path in result:
            parts = path.lower().split("/")
            assert not path.startswith("/") and ".." not in parts and ".git" not in parts, path
