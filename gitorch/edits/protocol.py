"""The edit protocol as the builder reads it (``builder_instructions``), and the files shown to it
(``format_files``). The examples use paths no repository is likely to have, and blocks identical to
them are skipped, so a model that echoes the instructions changes nothing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..config import EditsConfig
from ..cost import estimate_tokens
from ..model import BuildContext, Task, Usage
from ..secrets import withheld_note

_EXAMPLE_WHOLE = ("example/hello.py", 'def hello(name):\n    return f"Hello, {name}!"\n')
_EXAMPLE_SEARCH = ("example/calc.py", "def add(a, b):\n    return a+b\n", "def add(a, b):\n    return a + b\n")
_EXAMPLE_DELETE = "example/obsolete.py"


def builder_instructions(edits_config: EditsConfig | None = None) -> str:
    """How the builder must write its answer: the edit protocol, short and with one example each."""
    cfg = edits_config or EditsConfig()
    name, body = _EXAMPLE_WHOLE
    sr_path, search, replace = _EXAMPLE_SEARCH
    forbidden = "inside .git/" if cfg.allow_workflow_files else "inside .git/ or .github/workflows/"
    return f"""\
How to write your answer: change files only with the blocks below. Put each block's file path,
relative to the repository root, in backticks alone on the line just above the block's opening fence.

1. A new file, or a short file rewritten in full: the path, then the complete new content.

`{name}`
```python
{body}```

2. A change inside an existing file: the path, then one or more SEARCH/REPLACE pairs in a block.

`{sr_path}`
```python
<<<<<<< SEARCH
{search}=======
{replace}>>>>>>> REPLACE
```

SEARCH must copy the current lines exactly (comments, blank lines and indentation too) and match
exactly one place in the file: add a line or two around the change if needed. Keep it short: the
lines that change plus a little context. To insert lines, search for the line before them and
repeat it in REPLACE. An empty SEARCH creates a new file with the REPLACE lines.

3. Deleting a file: a line of its own, outside any block:

DELETE `{_EXAMPLE_DELETE}`

Rules:
- Paths use forward slashes, relative to the repository root: never absolute, never "..",
  never {forbidden}. Text files only (UTF-8), at most {cfg.max_file_bytes} bytes each.
- A whole-file block holds the entire file: no "..." or "rest unchanged" placeholders. For a
  change inside a long file, use SEARCH/REPLACE instead.
- If a file itself contains lines starting with ```, fence its block with four backticks (````).
- Blocks from a previous answer that were accepted must not be sent again.
"""


_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "jsx", ".ts": "typescript", ".tsx": "tsx", ".md": "markdown", ".yml": "yaml", ".yaml": "yaml",
    ".json": "json", ".toml": "toml", ".sh": "bash", ".go": "go", ".rs": "rust", ".rb": "ruby",
    ".java": "java", ".kt": "kotlin", ".c": "c", ".h": "c", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp",
    ".html": "html", ".css": "css", ".sql": "sql", ".ini": "ini", ".cfg": "ini", ".xml": "xml",
}


def language(path: str) -> str:
    return _LANGUAGES.get(Path(path).suffix.lower(), "")


def fence_for(text: str) -> str:
    """Three backticks, or one more than the longest run that starts a line of ``text``."""
    longest = max((len(m.group(1)) for m in re.finditer(r"^[ \t]*(`{3,})", text, re.M)), default=0)
    return "`" * max(3, longest + 1)


def format_files(files: Mapping[str, str]) -> str:
    """The current content of ``files`` for the prompt, each under its path in the protocol's own shape."""
    if not files:
        return "(no existing files are given for this task)\n"
    parts = []
    for path, content in files.items():
        fence = fence_for(content)
        body = content if content.endswith("\n") or not content else content + "\n"
        parts.append(f"`{path}`\n{fence}{language(path)}\n{body}{fence}\n")
    return "\n".join(parts)


def claude_request(task: Task, context: BuildContext, edits_config: EditsConfig | None = None) -> tuple[str, str]:
    """What gitorch's Claude builder sends for ``task``: the stable part (the protocol and the
    repository map, cached) and the request (the task, its files, the secret files withheld from it,
    extra instructions)."""
    stable = builder_instructions(edits_config)
    if context.repo_map.strip():
        stable += "\n\n# Repository\n\n" + context.repo_map.strip()
    files = ", ".join(task.files) or "(the task names none)"
    request = (f"Task {task.id}: {task.description.strip()}\nFiles: {files}\n\n"
               f"Current contents:\n\n{format_files(context.files)}")
    if context.withheld:
        request += "\n\n" + withheld_note(context.withheld)
    if context.instructions.strip():
        request += "\n\n" + context.instructions.strip()
    return stable, request


def claude_alone(task: Task, context: BuildContext, contents: Mapping[str, str | None],
                 edits_config: EditsConfig | None = None) -> Usage:
    """The Claude-alone counterfactual of a build, whichever builder did it: the tokens gitorch's
    Claude builder would send for ``task`` (``claude_request``) and receive (``contents`` as whole
    files, deletions as ``DELETE`` lines), estimated from the text. The stable part is counted as
    plain input: at about 450 tokens it is under the 1,024 a prompt cache needs."""
    stable, request = claude_request(task, context, edits_config)
    written = {path: text for path, text in contents.items() if text is not None}
    answer = format_files(written) if written else ""
    answer += "".join(f"DELETE `{path}`\n" for path, text in contents.items() if text is None)
    return Usage(input_tokens=estimate_tokens(stable + request), output_tokens=estimate_tokens(answer),
                 estimated=True)
