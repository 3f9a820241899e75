"""The edit protocol: every slip a builder really makes is forgiven, every unsafe edit refused."""

from __future__ import annotations

import os

import pytest

from gitorch.config import EditsConfig
from gitorch.edits import EditError, apply_edits, builder_instructions, format_files, parse_answer
from gitorch.errors import GitorchError
from gitorch.model import Edit

APP = 'import os\n\n\ndef add(a, b):\n    return a+b\n\n\ndef sub(a, b):\n    return a-b\n'
FILES = {"src/app.py": APP}


def run(answer: str, files: dict[str, str] | None = None, config: EditsConfig | None = None, root=None):
    """Parse and apply an answer, as the builder's caller does: the new contents of changed paths."""
    files = FILES if files is None else files
    edits = parse_answer(answer, files, config, repo_root=root)
    return apply_edits(edits, files, root, config)


def refusal(answer: str, files: dict[str, str] | None = None, config: EditsConfig | None = None, root=None) -> str:
    with pytest.raises(EditError) as info:
        run(answer, files, config, root)
    return info.value.message


SR = "<<<<<<< SEARCH\n    return a+b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
FIXED = APP.replace("return a+b", "return a + b")


# --- the protocol itself ------------------------------------------------------------------------


def test_whole_file_under_a_path_line_creates_the_file():
    assert run("src/new.py\n```python\nX = 1\n```\n") == {"src/new.py": "X = 1\n"}


def test_search_replace_changes_only_the_matched_lines():
    assert run(f"src/app.py\n```python\n{SR}```\n") == {"src/app.py": FIXED}


def test_delete_line_removes_the_file():
    assert run("DELETE src/app.py\n") == {"src/app.py": None}


@pytest.mark.parametrize("line", ["DELETE src/app.py", "DELETE: src/app.py", "- **DELETE** `src/app.py`",
                                  "Delete `src/app.py`", "DELETE FILE src/app.py  "])
def test_delete_line_forms_are_accepted(line):
    assert run(f"The module is unused.\n\n{line}\n") == {"src/app.py": None}


def test_several_files_in_one_answer():
    answer = (f"src/app.py\n```python\n{SR}```\n\nsrc/util.py\n```python\nY = 2\n```\n\nDELETE src/old.py\n")
    files = {**FILES, "src/old.py": "OLD = 1\n"}
    assert run(answer, files) == {"src/app.py": FIXED, "src/util.py": "Y = 2\n", "src/old.py": None}


def test_empty_search_creates_a_new_file():
    assert run("src/new.py\n```\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n```\n") == {"src/new.py": "X = 1\n"}


def test_parse_returns_search_as_the_file_has_it():
    edits = parse_answer("src/app.py\n```\n<<<<<<< SEARCH\nreturn a+b\n=======\nreturn a + b\n>>>>>>> REPLACE\n```\n",
                         FILES)
    assert edits == [Edit(path="src/app.py", search="    return a+b\n", replace="    return a + b\n")]


# --- slips that are forgiven ----------------------------------------------------------------------


def test_fence_without_language_tag_is_accepted():
    assert run(f"src/app.py\n```\n{SR}```\n") == {"src/app.py": FIXED}


def test_four_backtick_fence_is_accepted():
    assert run(f"src/app.py\n````python\n{SR}````\n") == {"src/app.py": FIXED}


def test_tilde_fence_is_accepted():
    assert run("src/new.py\n~~~python\nX = 1\n~~~\n") == {"src/new.py": "X = 1\n"}


def test_crlf_answer_is_accepted():
    answer = f"src/app.py\n```python\n{SR}```\n\nsrc/new.py\n```\nX = 1\n```\n".replace("\n", "\r\n")
    assert run(answer) == {"src/app.py": FIXED, "src/new.py": "X = 1\n"}


def test_crlf_file_keeps_its_crlf_line_ends():
    files = {"src/app.py": APP.replace("\n", "\r\n")}
    assert run(f"src/app.py\n```python\n{SR}```\n", files) == {"src/app.py": FIXED.replace("\n", "\r\n")}


def test_trailing_spaces_are_accepted():
    answer = "src/app.py  \n```python \n<<<<<<< SEARCH   \n    return a+b\n=======  \n    return a + b\n>>>>>>> REPLACE \n```  \n"
    assert run(answer) == {"src/app.py": FIXED}


@pytest.mark.parametrize("width", [5, 6, 7, 8, 9])
def test_markers_of_five_to_nine_characters_are_accepted(width):
    answer = (f"src/app.py\n```\n{'<' * width} SEARCH\n    return a+b\n{'=' * width}\n    return a + b\n"
              f"{'>' * width} REPLACE\n```\n")
    assert run(answer) == {"src/app.py": FIXED}


def test_markers_of_four_or_ten_characters_are_not_markers():
    answer = "src/app.py\n```\n<<<< SEARCH\n    return a+b\n====\n    return a + b\n>>>> REPLACE\n```\n"
    assert "marker lines are not recognised" in refusal(answer)  # never written as the whole file
    answer = answer.replace("<<<<", "<" * 10).replace("====", "=" * 10).replace(">>>>", ">" * 10)
    assert "marker lines are not recognised" in refusal(answer)


@pytest.mark.parametrize("heading", ["src/new.py", "**src/new.py**", "`src/new.py`", "src/new.py:", "### src/new.py",
                                     "## `src/new.py`:", "**`src/new.py`**:", "File: src/new.py", "# File: `src/new.py`",
                                     "- `src/new.py`", "1. **src/new.py**", "src/new.py (new file)"])
def test_filename_dressed_in_stars_backticks_hash_or_colon_is_found(heading):
    assert run(f"Here it is.\n\n{heading}\n```python\nX = 1\n```\n") == {"src/new.py": "X = 1\n"}


def test_filename_in_first_line_hash_comment_is_used_and_dropped():
    assert run("```python\n# src/new.py\nX = 1\n```\n") == {"src/new.py": "X = 1\n"}


def test_filename_in_first_line_slash_comment_is_used_and_dropped():
    assert run("```js\n// web/app.js\nlet x = 1;\n```\n") == {"web/app.js": "let x = 1;\n"}


def test_shebang_is_content_not_a_path():
    result = run("bin/tool\n```sh\n#!/bin/sh\necho hi\n```\n")
    assert result == {"bin/tool": "#!/bin/sh\necho hi\n"}


def test_filename_in_fence_info_string_is_found():
    assert run("```python src/new.py\nX = 1\n```\n") == {"src/new.py": "X = 1\n"}
    assert run("```python:src/new.py\nX = 1\n```\n") == {"src/new.py": "X = 1\n"}


def test_filename_named_in_the_sentence_above_is_found():
    assert run("Here is the new `src/new.py`:\n```python\nX = 1\n```\n") == {"src/new.py": "X = 1\n"}


def test_search_differing_only_in_whitespace_matches():
    answer = "src/app.py\n```\n<<<<<<< SEARCH\n    return  a+b   \n=======\n    return a + b\n>>>>>>> REPLACE\n```\n"
    assert run(answer) == {"src/app.py": FIXED}


def test_search_with_shifted_indentation_matches_and_replace_follows_it():
    files = {"src/shop.py": "class Cart:\n    def add(self, item):\n        self.items.append(item)\n"}
    answer = ("src/shop.py\n```\n<<<<<<< SEARCH\ndef add(self, item):\n    self.items.append(item)\n=======\n"
              "def add(self, item):\n    assert item\n    self.items.append(item)\n>>>>>>> REPLACE\n```\n")
    assert run(answer, files) == {
        "src/shop.py": "class Cart:\n    def add(self, item):\n        assert item\n        self.items.append(item)\n"}


def test_search_with_another_indent_width_is_mapped_level_for_level():
    answer = ("src/app.py\n```\n<<<<<<< SEARCH\ndef add(a, b):\n  return a+b\n=======\ndef add(a, b):\n"
              "  # sum\n  return a + b\n>>>>>>> REPLACE\n```\n")
    assert run(answer)["src/app.py"] == APP.replace("    return a+b", "    # sum\n    return a + b")


def test_search_with_spaces_for_tabs_keeps_the_files_tabs():
    files = {"main.go": "func main() {\n\tif ok {\n\t\trun()\n\t}\n}\n"}
    answer = ("main.go\n```go\n<<<<<<< SEARCH\n    if ok {\n        run()\n    }\n=======\n    if ok {\n"
              "        run()\n        stop()\n    }\n>>>>>>> REPLACE\n```\n")
    assert run(answer, files) == {"main.go": "func main() {\n\tif ok {\n\t\trun()\n\t\tstop()\n\t}\n}\n"}


def test_search_with_a_stray_leading_blank_line_matches():
    answer = "src/app.py\n```\n<<<<<<< SEARCH\n\n    return a+b\n=======\n\n    return a + b\n>>>>>>> REPLACE\n```\n"
    assert run(answer) == {"src/app.py": FIXED}


def test_search_is_never_matched_by_guessing_content():
    answer = "src/app.py\n```\n<<<<<<< SEARCH\n    return a+c\n=======\n    return a + c\n>>>>>>> REPLACE\n```\n"
    message = refusal(answer)
    assert "do not match anything" in message and "return a+b" in message  # offered, not applied


def test_inconsistent_indentation_is_not_forced_to_match():
    files = {"f.py": "if x:\n    a()\n    b()\n"}
    answer = "f.py\n```\n<<<<<<< SEARCH\nif x:\n    a()\n  b()\n=======\nif x:\n    c()\n>>>>>>> REPLACE\n```\n"
    assert "do not match" in refusal(answer, files)


def test_wrong_folder_is_mapped_to_the_one_given_file_of_that_name():
    answer = f"app.py\n```\n{SR}```\n"
    assert run(answer) == {"src/app.py": FIXED}


def test_path_written_inside_the_fence_before_search_is_used():
    assert run(f"```python\nsrc/app.py\n{SR}```\n") == {"src/app.py": FIXED}


def test_search_replace_without_any_fence_is_accepted():
    assert run(f"src/app.py\n{SR}\nDone.\n") == {"src/app.py": FIXED}


def test_pathless_search_replace_keeps_the_previous_blocks_file():
    answer = (f"src/app.py\n```\n{SR}```\n\nThen:\n\n```\n<<<<<<< SEARCH\n    return a-b\n=======\n"
              "    return a - b\n>>>>>>> REPLACE\n```\n")
    assert run(answer, {**FILES, "src/b.py": "B = 1\n"}) == {"src/app.py": FIXED.replace("a-b", "a - b")}


def test_pathless_search_replace_uses_the_only_file_in_play():
    assert run(f"```\n{SR}```\n") == {"src/app.py": FIXED}


def test_markdown_file_with_code_blocks_in_a_four_backtick_fence():
    readme = "# Tool\n\n```bash\npip install tool\n```\n"
    assert run(f"README.md\n````markdown\n{readme}````\n", {}) == {"README.md": readme}


def test_markdown_file_with_tagged_code_blocks_in_a_three_backtick_fence():
    readme = "# Tool\n\n```bash\npip install tool\n```\n\nThat is all.\n"
    assert run(f"README.md\n```markdown\n{readme}```\n\nHope this helps.\n", {}) == {"README.md": readme}


def test_model_that_echoes_the_instructions_changes_nothing_more():
    answer = builder_instructions() + f"\nMy change:\n\nsrc/app.py\n```\n{SR}```\n"
    assert run(answer) == {"src/app.py": FIXED}


def test_echoed_instructions_alone_are_no_edits():
    assert "contains no file edits" in refusal(builder_instructions())


def test_echoed_current_files_are_ignored():
    answer = format_files(FILES) + f"\nsrc/app.py\n```\n{SR}```\n"
    assert run(answer) == {"src/app.py": FIXED}


def test_block_indented_in_a_list_item_is_dedented():
    assert run("1. Add it:\n\n   src/new.py\n   ```python\n   def f():\n       return 1\n   ```\n") == {
        "src/new.py": "def f():\n    return 1\n"}


def test_backslash_path_is_normalised():
    assert run(f"src\\app.py\n```\n{SR}```\n") == {"src/app.py": FIXED}


def test_shell_example_without_path_is_ignored_next_to_real_edits():
    answer = f"Run it with:\n\n```bash\npytest -q\n```\n\nsrc/app.py\n```\n{SR}```\n"
    assert run(answer) == {"src/app.py": FIXED}


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/etc/passwd", "~/.bashrc", "C:\\Windows\\win.ini", "C:/x.txt"])
def test_absolute_path_is_refused(path):
    message = refusal(f"{path}\n```\nroot::0:0\n```\n")
    assert "is absolute" in message and "root::0:0" in message


@pytest.mark.parametrize("path", ["../outside.py", "src/../../x.py", "..\\x.py", "a/b/../../../x.py"])
def test_dotdot_is_refused(path):
    assert "contains '..'" in refusal(f"{path}\n```\nX = 1\n```\n")


@pytest.mark.parametrize("path", [".git/config", ".git/hooks/pre-commit", "a/.git/x", "vendor/lib/.GIT/HEAD",
                                  ".Git/config", ".git./config", "git~1/config", "sub/.git"])
def test_anything_under_git_is_refused_in_any_case_at_any_depth(path):
    assert "inside a .git folder" in refusal(f"{path}\n```\n[core]\n```\n")


def test_git_file_names_that_only_start_with_git_are_fine():
    assert run(".gitignore\n```\n*.pyc\n```\n", {}) == {".gitignore": "*.pyc\n"}
    assert run("docs/.github-notes.md\n```\nhi\n```\n", {}) == {"docs/.github-notes.md": "hi\n"}


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", ".GitHub/Workflows/release.yaml", ".github/workflows/sub/x.yml"])
def test_workflow_file_is_refused(path):
    assert "workflow file" in refusal(f"{path}\n```yaml\non: push\n```\n", {})


def test_workflow_file_is_accepted_when_the_config_allows_it():
    config = EditsConfig(allow_workflow_files=True)
    assert run(".github/workflows/ci.yml\n```yaml\non: push\n```\n", {}, config) == {".github/workflows/ci.yml": "on: push\n"}


def test_other_github_files_are_not_workflows():
    assert run(".github/CODEOWNERS\n```\n* @me\n```\n", {}) == {".github/CODEOWNERS": "* @me\n"}


def test_path_through_a_symlinked_folder_is_refused(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "shared")
    message = refusal("shared/x.py\n```\nX = 1\n```\n", {}, root=root)
    assert "goes through the symbolic link 'shared'" in message
    assert not (outside / "x.py").exists()


def test_symlinked_file_is_refused(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "real.txt").write_text("a\n")
    os.symlink("real.txt", root / "link.txt")
    assert "is a symbolic link" in refusal("link.txt\n```\nb\n```\n", {}, root=root)
    assert "is a symbolic link" in refusal("DELETE link.txt\n", {"link.txt": "a\n"}, root=root)


def test_path_over_an_existing_file_is_refused(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "src").write_text("not a folder\n")
    assert "which is a file, not a folder" in refusal("src/x.py\n```\nX = 1\n```\n", {}, root=root)


def test_binary_content_is_refused():
    assert "NUL bytes" in refusal("assets/logo.png\n```\n\x89PNG\x00\x00\x00\n```\n", {})


def test_invalid_utf8_content_is_refused():
    text = b"data.txt\n```\ncaf\xe9\n```\n".decode("utf-8", "surrogateescape")
    assert "not valid UTF-8" in refusal(text, {})


def test_binary_file_on_disk_cannot_be_edited(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "blob.bin").write_bytes(b"\xff\xfe\x00\x01")
    answer = "blob.bin\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n"
    assert "is a binary file" in refusal(answer, {}, root=root)


def test_file_over_the_size_limit_is_refused():
    config = EditsConfig(max_file_bytes=20)
    message = refusal("src/big.py\n```\n" + "X = 1\n" * 10 + "```\n", {}, config)
    assert "60 bytes, over the limit of 20 bytes" in message


def test_search_replace_growing_a_file_over_the_limit_is_refused():
    config = EditsConfig(max_file_bytes=len(APP.encode()) + 5)
    answer = f"src/app.py\n```\n<<<<<<< SEARCH\n    return a+b\n=======\n{'    # padding' * 3}\n    return a+b\n>>>>>>> REPLACE\n```\n"
    assert "over the limit" in refusal(answer, config=config)


def test_search_matching_nowhere_is_refused_with_did_you_mean():
    answer = "src/app.py\n```\n<<<<<<< SEARCH\ndef add(x, y):\n    return x+y\n=======\nX\n>>>>>>> REPLACE\n```\n"
    message = refusal(answer)
    assert "do not match anything in src/app.py" in message
    assert "Did you mean these lines from src/app.py?" in message
    assert "def add(a, b):\n    return a+b" in message


def test_search_matching_more_than_once_is_refused():
    files = {"f.py": "def a():\n    return 1\n\n\ndef b():\n    return 1\n"}
    message = refusal("f.py\n```\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n```\n", files)
    assert "match 2 places" in message and "lines 2, 6" in message


def test_search_matching_twice_after_normalising_is_refused():
    files = {"f.py": "x = 1\nx  =  1\n"}
    assert "match 2 places (ignoring whitespace)" in refusal("f.py\n```\n<<<<<<< SEARCH\nx = 1 \n=======\nx = 2\n>>>>>>> REPLACE\n```\n", files)


def test_empty_answer_is_refused():
    assert "answer was empty" in refusal("")
    assert "answer was empty" in refusal("  \n\t\n")


def test_answer_without_edits_is_refused_with_the_instructions():
    message = refusal("I think the code is fine as it is.")
    assert "contains no file edits" in message and "DELETE `example/obsolete.py`" in message


def test_code_block_without_a_path_is_refused_and_quoted():
    message = refusal("Here:\n```python\nA = 10\n```\n", {"a.py": "A = 1\n", "b.py": "B = 1\n"})
    assert "none has a file path" in message and "A = 10" in message


def test_search_replace_without_a_path_is_refused_when_several_files_are_in_play():
    files = {"a.py": "A = 1\n", "b.py": "B = 1\n"}
    assert "has no file path" in refusal("```\n<<<<<<< SEARCH\nA = 1\n=======\nA = 2\n>>>>>>> REPLACE\n```\n", files)


def test_unified_diff_is_refused():
    answer = "```diff\n--- a/src/app.py\n+++ b/src/app.py\n@@ -5 +5 @@\n-    return a+b\n+    return a + b\n```\n"
    assert "unified diff" in refusal(answer)


def test_whole_file_with_a_placeholder_is_refused():
    answer = "src/app.py\n```python\nimport os\n\n# ... rest of the file unchanged ...\n```\n"
    message = refusal(answer)
    assert "leaves content out" in message and "rest of the file unchanged" in message


def test_placeholder_words_in_a_new_file_are_content():
    assert run("src/new.py\n```\n# existing code ... is kept in the old module\n```\n", {}) == {
        "src/new.py": "# existing code ... is kept in the old module\n"}


def test_incomplete_search_replace_block_is_refused():
    answer = "src/app.py\n```\n<<<<<<< SEARCH\n    return a+b\n=======\n    return a + b\n```\n"
    assert ">>>>>>> REPLACE' line is missing" in refusal(answer)


def test_delete_of_a_missing_file_is_refused():
    assert "no such file" in refusal("DELETE src/nope.py\n")


def test_search_in_a_missing_file_is_refused():
    assert "does not exist" in refusal(f"src/nope.py\n```\n{SR}```\n", {**FILES, "b.py": "B\n"})


def test_edits_that_change_nothing_are_refused():
    assert "leave every file exactly as it was" in refusal(
        "src/app.py\n```\n<<<<<<< SEARCH\n    return a+b\n=======\n    return a+b\n>>>>>>> REPLACE\n```\n")


def test_already_applied_change_is_pointed_out():
    assert "REPLACE lines are already in src/app.py" in refusal(f"src/app.py\n```\n{SR}```\n", {"src/app.py": FIXED})


# --- the message for the model, and the one retry ---------------------------------------------------


def test_error_quotes_the_block_and_lists_the_blocks_that_succeeded():
    answer = f"src/app.py\n```\n{SR}```\n\n/etc/motd\n```\nhi\n```\n\nsrc/new.py\n```\nN = 1\n```\n"
    with pytest.raises(EditError) as info:
        parse_answer(answer, FILES)
    err = info.value
    assert isinstance(err, GitorchError) and err.hint
    assert "## Block 2 (whole file /etc/motd)" in err.message
    assert "/etc/motd\n```\nhi\n```" in err.message
    assert "were fine and are kept: Block 1 (SEARCH/REPLACE src/app.py); Block 3 (whole file src/new.py)" in err.message
    assert "Do not send them again" in err.message
    assert [e.path for e in err.accepted] == ["src/app.py", "src/new.py"]
    assert [f.number for f in err.failures] == [2]


def test_corrected_answer_parsed_with_previous_keeps_the_accepted_blocks():
    first = f"src/app.py\n```\n{SR}```\n\nsrc/app.py\n```\n<<<<<<< SEARCH\n    return a - b\n=======\n    return b-a\n>>>>>>> REPLACE\n```\n"
    with pytest.raises(EditError) as info:
        parse_answer(first, FILES)
    assert "Did you mean" in info.value.message
    second = "src/app.py\n```\n<<<<<<< SEARCH\n    return a-b\n=======\n    return b-a\n>>>>>>> REPLACE\n```\n"
    edits = parse_answer(second, FILES, previous=info.value.accepted)
    assert apply_edits(edits, FILES) == {"src/app.py": FIXED.replace("return a-b", "return b-a")}


def test_resending_an_accepted_block_is_harmless():
    with pytest.raises(EditError) as info:
        parse_answer(f"src/app.py\n```\n{SR}```\n\nsrc/x.py\n```\n<<<<<<< SEARCH\nq\n=======\nr\n>>>>>>> REPLACE\n```\n", FILES)
    edits = parse_answer(f"src/app.py\n```\n{SR}```\n\nsrc/x.py\n```\nr\n```\n", FILES, previous=info.value.accepted)
    assert apply_edits(edits, FILES) == {"src/app.py": FIXED, "src/x.py": "r\n"}


def test_corrected_answer_with_only_previous_edits_is_enough():
    with pytest.raises(EditError) as info:
        parse_answer(f"src/app.py\n```\n{SR}```\n\n/etc/x\n```\nhi\n```\n", FILES)
    edits = parse_answer("Sorry, that file was not needed.", FILES, previous=info.value.accepted)
    assert apply_edits(edits, FILES) == {"src/app.py": FIXED}


def test_long_blocks_are_shortened_in_the_quote():
    body = "".join(f"line {i}\n" for i in range(200))
    message = refusal(f"/abs/big.txt\n```\n{body}```\n", {})
    assert "line 10\n" in message and "line 100\n" not in message and "more lines" in message


# --- apply_edits --------------------------------------------------------------------------------------


def test_apply_edits_is_all_or_nothing(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.txt").write_text("a\n")
    files = {"a.txt": "a\n"}
    edits = [Edit(path="a.txt", content="b\n"), Edit(path=".git/config", content="x\n")]
    with pytest.raises(EditError) as info:
        apply_edits(edits, files, root)
    assert "inside a .git folder" in info.value.message
    assert files == {"a.txt": "a\n"} and (root / "a.txt").read_text() == "a\n"
    assert not (root / ".git").exists()


@pytest.mark.parametrize("edit", [Edit(path="/etc/passwd", content="x"), Edit(path="a/../../b", content="x"),
                                  Edit(path=".github/workflows/x.yml", content="on: push\n"),
                                  Edit(path="a.txt", content="\x00"), Edit(path="nope.txt", delete=True)])
def test_apply_edits_repeats_every_check(edit):
    with pytest.raises(EditError):
        apply_edits([edit], {"a.txt": "a\n"})


def test_apply_edits_never_writes_to_disk(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    result = apply_edits([Edit(path="new.txt", content="n\n")], {}, root)
    assert result == {"new.txt": "n\n"} and not (root / "new.txt").exists()


def test_apply_edits_reads_files_not_given_from_the_repository(tmp_path):
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    edits = parse_answer(f"src/app.py\n```\n{SR}```\n", {}, repo_root=root)
    assert apply_edits(edits, {}, root) == {"src/app.py": FIXED}


def test_apply_edits_leaves_out_paths_that_end_as_they_began():
    edits = [Edit(path="a.txt", content="b\n"), Edit(path="a.txt", content="a\n"), Edit(path="n.txt", content="n\n"),
             Edit(path="n.txt", delete=True)]
    assert apply_edits(edits, {"a.txt": "a\n"}) == {}


def test_edits_apply_in_order_on_the_same_file():
    edits = [Edit(path="a.txt", content="one\ntwo\n"), Edit(path="a.txt", search="two\n", replace="three\n")]
    assert apply_edits(edits, {}) == {"a.txt": "one\nthree\n"}


# --- what the builder is told ---------------------------------------------------------------------------


def test_instructions_describe_every_form_and_the_limits():
    text = builder_instructions()
    assert "<<<<<<< SEARCH" in text and ">>>>>>> REPLACE" in text and "DELETE " in text
    assert ".github/workflows/" in text and "512000 bytes" in text
    assert ".github/workflows/" not in builder_instructions(EditsConfig(allow_workflow_files=True))


def test_format_files_renders_each_file_under_its_path():
    text = format_files({"src/app.py": APP, "README.md": "# T\n\n```bash\nrun\n```\n"})
    assert text.startswith("`src/app.py`\n```python\nimport os\n")
    assert "`README.md`\n````markdown\n# T\n" in text


def test_format_files_output_read_back_is_no_change():
    with pytest.raises(EditError) as info:
        parse_answer(format_files(FILES), FILES)
    assert "no file edits" in info.value.message


def test_format_files_with_nothing_given():
    assert "no existing files" in format_files({})


def test_git_with_invisible_characters_is_refused():
    assert "inside a .git folder" in refusal(".g\u200cit/config\n```\nx\n```\n", {})


def test_a_path_cannot_be_both_file_and_folder():
    assert "both a file and a folder" in refusal("src/app.py/x.py\n```\nX = 1\n```\n")
    assert run("DELETE src/app.py\n\nsrc/app.py/x.py\n```\nX = 1\n```\n") == {
        "src/app.py": None, "src/app.py/x.py": "X = 1\n"}


def test_a_folder_where_an_answer_wrote_a_file_is_refused_and_4000_files_are_checked_together():
    with pytest.raises(EditError) as info:
        apply_edits([Edit(path="pkg/mod/x.py", content="X = 1\n"), Edit(path="pkg/mod", content="M = 1\n")], {})
    assert "'pkg/mod' cannot be written: 'pkg/mod/x.py' is a file there" in info.value.message
    given = {f"lib/m{i}.py": f"V = {i}\n" for i in range(2000)}
    edits = [Edit(path=f"lib/m{i}.py", content=f"V = {i + 1}\n") for i in range(2000)]
    edits += [Edit(path=f"new/d{i % 40}/f{i}.py", content="N = 1\n") for i in range(2000)]
    result = apply_edits(edits, given)
    assert len(result) == 4000 and result["new/d0/f0.py"] == "N = 1\n"
    with pytest.raises(EditError, match="'lib/m7.py/x.py' cannot be written: 'lib/m7.py' is a file there"):
        apply_edits([*edits, Edit(path="lib/m7.py/x.py", content="X\n")], given)


def test_block_missing_its_divider_does_not_swallow_the_next_blocks():
    answer = ("src/app.py\n<<<<<<< SEARCH\n    return a+b\n>>>>>>> REPLACE\n\nsrc/new.py\n```\nN = 1\n```\n")
    with pytest.raises(EditError) as info:
        parse_answer(answer, FILES)
    assert "'=======' line is missing" in info.value.message
    assert [e.path for e in info.value.accepted] == ["src/new.py"]


def test_delete_in_a_numbered_list():
    assert run("1. DELETE `src/app.py`\n") == {"src/app.py": None}


def test_command_example_under_a_sentence_naming_a_file_is_not_written_to_it():
    answer = f"src/app.py\n```\n{SR}```\n\nCheck it with `src/app.py` like this:\n```bash\npython src/app.py\n```\n"
    assert run(answer) == {"src/app.py": FIXED}


def test_remove_in_prose_is_not_a_deletion():
    assert "contains no file edits" in refusal("Remove `src/app.py`\n")


def test_file_on_disk_over_the_limit_is_not_read(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "big.log").write_text("x\n" * 100)
    answer = "big.log\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n"
    assert "over the limit of 50 bytes" in refusal(answer, {}, EditsConfig(max_file_bytes=50), root=root)


@pytest.mark.parametrize("line", ["# ... rest of the file unchanged ...", "// ...existing code...", "# rest of the code",
                                  "    # (other methods unchanged)", "<!-- … -->  <!-- remaining content as before -->",
                                  "/* ... previous implementation ... */", "# Rest of the module remains the same."])
def test_placeholder_lines_are_recognised(line):
    assert "leaves content out" in refusal(f"src/app.py\n```\nimport os\n{line}\n```\n")


@pytest.mark.parametrize("line", ["# Keep the previous behaviour unchanged for old clients", "# use the existing pool",
                                  "# ...", "    ..."])
def test_ordinary_comments_are_not_placeholders(line):
    assert run(f"src/app.py\n```\nimport os\n{line}\n```\n") == {"src/app.py": f"import os\n{line}\n"}


@pytest.mark.parametrize("heading", ["src/**init**.py", "**src/**init**.py**", "`src/__init__.py`", "**File:** `src/__init__.py`"])
def test_double_underscores_turned_bold_by_the_page_are_restored(heading):
    assert run(f"{heading}\n```python\nX = 1\n```\n", {}) == {"src/__init__.py": "X = 1\n"}


def test_delete_of_a_dunder_file_read_back_from_the_page():
    assert run("DELETE src/**init**.py\n", {"src/__init__.py": "X = 1\n"}) == {"src/__init__.py": None}


def test_replacement_characters_of_mangled_binary_are_refused():
    assert "U+FFFD" in refusal("assets/logo.png\n```\n\ufffdPNG\n\ufffd\ufffd\n```\n", {})


def test_cut_off_answer_does_not_cut_off_the_file():
    message = refusal("src/app.py\n```python\nimport os\n\n\ndef add(a, b):\n")
    assert "no closing fence" in message and "def add(a, b):" in message


def test_cut_off_answer_keeps_complete_search_replace_pairs():
    assert run(f"src/app.py\n```python\n{SR}") == {"src/app.py": FIXED}


def test_empty_block_for_an_existing_file_is_refused():
    assert "would erase the file" in refusal("src/app.py\n```\n```\n")


def test_empty_block_for_a_new_file_creates_an_empty_file():
    assert run("pkg/__init__.py\n```python\n```\n", {}) == {"pkg/__init__.py": ""}


def test_code_after_a_delete_line_is_not_written_to_the_deleted_file():
    edits = parse_answer("DELETE `src/app.py`\n\n```python\nprint('bye')\n```\n", {**FILES, "b.py": "B\n"})
    assert edits == [Edit(path="src/app.py", delete=True)]


def test_an_edit_with_nothing_in_it_is_refused():
    with pytest.raises(EditError, match="has no content"):
        apply_edits([Edit(path="src/app.py")], FILES)


@pytest.mark.parametrize("line", ["DELETEsrc/app.py", "Deleted src/app.py", "Deletes: src/app.py"])
def test_words_that_only_start_like_delete_are_not_deletions(line):
    assert "contains no file edits" in refusal(f"{line}\n")


@pytest.mark.parametrize("first", ["src/new.py", "Filename: src/new.py", "**src/new.py**"])
def test_path_as_the_first_line_inside_the_block_is_used_and_dropped(first):
    assert run(f"Here:\n```python\n{first}\nX = 1\n```\n") == {"src/new.py": "X = 1\n"}


def test_a_first_line_that_looks_like_a_path_is_content_when_the_path_is_given():
    assert run("MANIFEST.txt\n```\nsrc/app.py\nsrc/new.py\n```\n", {}) == {"MANIFEST.txt": "src/app.py\nsrc/new.py\n"}


@pytest.mark.parametrize("block", ["```bash\nscripts/setup.sh\n```", "```sh\nscripts/setup.sh\nscripts/test.sh\n```",
                                   "```\n./run_tests.sh\npytest\n```", "```console\nbin/tool\n```"])
def test_a_command_in_a_shell_block_is_not_taken_for_a_file(block):
    assert run(f"src/app.py\n```\n{SR}```\n\nThen run:\n\n{block}\n") == {"src/app.py": FIXED}


def test_a_local_action_is_protected_like_a_workflow():
    from gitorch.config import EditsConfig

    answer = ".github/actions/deploy/action.yml\n```yaml\nruns:\n  using: composite\n```\n"
    with pytest.raises(EditError, match="local action"):
        parse_answer(answer, {}, EditsConfig())
    assert parse_answer(answer, {}, EditsConfig(allow_workflow_files=True))[0].path == ".github/actions/deploy/action.yml"
