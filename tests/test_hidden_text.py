"""The model sees what a reader sees: each trick in tests/fixtures/hidden/ hides a sentence GitHub does
not show (or shows differently), and none of it survives ``clean_text``, nor reaches a prompt."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from gitorch.github.events import parse_event
from gitorch.github.untrusted import clean_text

CORPUS = Path(__file__).parent / "fixtures" / "hidden"
# An unclosed HTML comment hides everything after it (on GitHub too): it goes last when joined.
CASES = sorted(CORPUS.glob("*.md"), key=lambda c: (c.stem.startswith("unclosed"), c.stem))
VISIBLE = "Fix the login form: the submit button does nothing."


def invisible(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if c not in "\n\t" and (
        unicodedata.category(c) in ("Cf", "Cc", "Co", "Cn", "Cs") or 0xFE00 <= ord(c) <= 0xFE0F
        or 0xE0100 <= ord(c) <= 0xE01EF or c in "\u3164\u115f\u1160\uffa0\u034f")]


def test_the_corpus_has_every_trick_of_the_issue():
    names = {case.stem for case in CASES}
    assert {"link_reference_definition", "variation_selectors_after_an_emoji", "tag_characters", "image_alt_text",
            "link_title", "title_attribute", "data_attribute", "hidden_attribute", "zero_size_style",
            "bidirectional_overrides"} <= names
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_a_hidden_sentence_never_survives_cleaning(case):
    raw = case.read_text(encoding="utf-8")
    clean = clean_text(raw)
    assert VISIBLE in clean
    assert "SMUGGLED" not in clean and "os.system" not in clean
    assert invisible(clean) == []


def test_what_a_reader_sees_is_kept_as_written():
    text = ("Use the new API.\n\n<details><summary>Traceback</summary>\n\nValueError: bad input\n</details>\n\n"
            "See [the docs](https://example.com/docs) and the note[^1].\n\n[^1]: It broke in 2.0.\n\n"
            "![](https://example.com/empty-alt.png)\n\n"
            "```html\n<div data-x=\"1\" title=\"t\">keep</div>\n<!-- kept: it is code -->\n```\n\n"
            "Inline `<img alt=\"code\">` too. Emoji stay: \U0001F44D \u2764 café.")
    clean = clean_text(text)
    for shown in ("<details><summary>Traceback</summary>", "ValueError: bad input", "[the docs](https://example.com/docs)",
                  "[^1]: It broke in 2.0.", '<div data-x="1" title="t">keep</div>', "<!-- kept: it is code -->",
                  '`<img alt="code">`', "\U0001F44D", "café", "[image]"):
        assert shown in clean, shown


def test_a_hidden_element_without_content_hides_nothing_after_it():
    assert clean_text('Fix it <img hidden src="x.png"> now <br hidden/> and <span style="display:none"/> then') == \
        "Fix it  now  and  then"


def test_oversized_and_malformed_markup_is_cut_and_cleaned_in_one_pass():
    hostile = ("<a " * 200_000 + "![" * 200_000 + '](x "' * 100_000 + "<b hidden>" * 50_000
               + "[x]: " * 100_000 + "<div hidden>" * 30_000 + "<script>" * 30_000 + "\udc80\ud800")
    clean = clean_text(hostile)
    assert len(clean) <= 20_000 and invisible(clean) == []
    assert clean_text("\ud800 title \udfff", limit=300) == "title"


def test_an_issue_event_carries_only_the_visible_text():
    body = "\n\n".join(case.read_text(encoding="utf-8") for case in CASES)
    payload = {"action": "labeled", "label": {"name": "gitorch"}, "repository": {"full_name": "o/r"},
               "sender": {"login": "maintainer", "type": "User"},
               "issue": {"number": 7, "title": "Login\U000E0053\U000E004D form\u202e", "body": body, "state": "open"}}
    event = parse_event("issues", payload)
    assert event.title == "Login form"
    assert "SMUGGLED" not in event.text and invisible(event.text) == []
    assert event.text.count(VISIBLE) == len(CASES)


@pytest.mark.browser
def test_the_hidden_text_corpus_reaches_no_prompt(tmp_path):
    """The corpus as one issue, through the run: Claude's requests (plan, review) and the ChatGPT
    page's prompts hold none of the hidden sentences and no invisible character."""
    from gitorch import config as config_module
    from gitorch.run.assemble import assemble
    from gitorch.run.state import RunRequest
    from gitorch.simulate.demo import StandIns, make_repository

    body = "\n\n".join(case.read_text(encoding="utf-8") for case in CASES)
    payload = {"action": "labeled", "label": {"name": "gitorch"}, "repository": {"full_name": "o/r"},
               "sender": {"login": "maintainer", "type": "User"},
               "issue": {"number": 7, "title": "Login form", "body": body, "state": "open"}}
    event = parse_event("issues", payload)
    repo = make_repository(tmp_path, files={"README.md": "# app\n", "app/login.py": "def submit():\n    pass\n"})
    answer = "app/login.py\n```python\ndef submit():\n    return True\n```\n"
    with StandIns(builder_answer=lambda prompt: answer) as standins:
        cfg = config_module.load(cwd=repo, env=standins.env(tmp_path / "state"))
        pipeline, builders = assemble(cfg, repo_path=repo)
        try:
            result = pipeline.start(RunRequest(text=event.text, title=event.title, confirmed=True))
        finally:
            builders.close()
        prompts = [*standins.page.prompts, *(r.raw for r in standins.api.requests)]
    assert result.run.status == "done" and len(prompts) >= 3
    assert any(VISIBLE in p for p in prompts)
    for prompt in prompts:
        assert "SMUGGLED" not in prompt and "os.system" not in prompt and invisible(prompt) == []
