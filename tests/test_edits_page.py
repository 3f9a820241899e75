"""The corpus read back through the ChatGPT-like page: rendered to HTML as the page draws it, turned
back into Markdown as the browser builder reads it, then parsed. The file names and fences survive."""

from __future__ import annotations

import pytest
from test_edits_corpus import CASES, corpus

from gitorch.agents.browser import html_to_markdown
from gitorch.simulate.chatgpt_page import render_markdown

# What a rendered page cannot carry, whoever reads it back: the fence's info string beyond the
# language, SEARCH/REPLACE outside a fence (======= makes a heading, > a quote), a three-backtick
# fence around a file with fences (Markdown closes it at the first inner fence).
LOST_ON_A_PAGE = {
    "18_filename_in_info_string": "the page keeps only the language of a fence",
    "27_unfenced_search_replace": "markers outside a fence render as a heading and a quote",
    "30_markdown_nested_three_backticks": "Markdown closes the outer fence at the first inner one",
    "78_refuse_missing_divider": "markers outside a fence render as a heading and a quote",
    "79_refuse_cut_off_answer": "the page closes an unfinished code block, so a cut-off answer looks complete",
}
PAGE_CASES = [c for c in CASES if c.name not in LOST_ON_A_PAGE and not c.data.get("crlf")]


def test_only_page_limits_are_left_out():
    assert len(PAGE_CASES) >= len(CASES) - len(LOST_ON_A_PAGE) - 1


@pytest.mark.parametrize("case", PAGE_CASES, ids=[c.name for c in PAGE_CASES])
def test_corpus_case_read_back_from_the_page(case, tmp_path):
    markdown = html_to_markdown(render_markdown(case.answer))
    ok, why = corpus.run_case(corpus.Case(case.name, {**case.data, "answer": markdown}), tmp_path)
    assert ok, f"{case.name} after the page:\n{markdown}\n{why}"
