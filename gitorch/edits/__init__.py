"""Builder output turned into file edits: lenient with the model's formatting, strict with the repository.

The edit protocol (``builder_instructions`` says it to the builder):

- a whole file: its path (in backticks) alone on a line, then the complete content in a fenced block;
- a change inside a file: the path, then a fenced block of SEARCH/REPLACE pairs
  (``<<<<<<< SEARCH`` / ``=======`` / ``>>>>>>> REPLACE``);
- a deletion: ``DELETE `path``` alone on a line, outside any block.

Paths go in backticks because the browser builder reads the answer back from a rendered page, where
``src/__init__.py`` outside code would turn bold; the parser accepts them bare too.

``parse_answer`` reads an answer into ``Edit`` objects and checks every one against the files in
play (a dry run), so a bad answer fails before anything is written. It forgives the slips models
make (no language tag, four-backtick fences, CRLF, trailing spaces, 5 to 9 marker characters, the
path dressed in ``**``, backticks, ``#`` or ``:``, or given as a comment on the block's first line,
a SEARCH that differs from the file only in whitespace or indentation) and never guesses content.
It refuses, quoting the block: unsafe paths (absolute, ``..``, ``.git``, workflow files, symlinks),
binary content, oversized files, a SEARCH that matches nowhere or more than once, and answers with
no edits. The ``EditError`` it raises is written for the model: the caller sends ``.message`` back
verbatim and parses the reply with ``previous=err.accepted`` so the blocks that were fine count.

``apply_edits`` applies edits to a copy of the files and returns the new contents of the changed
paths (``None``: deleted); it repeats every path check, so half a set never lands.
"""

from .apply import apply_edits
from .failures import BlockFailure, EditError
from .paths import PathRefused, check, is_git_dir, is_workflow_path
from .protocol import builder_instructions, claude_alone, claude_request, format_files
from .reader import parse_answer

__all__ = ["BlockFailure", "EditError", "PathRefused", "apply_edits", "builder_instructions", "check",
           "claude_alone", "claude_request", "format_files", "is_git_dir", "is_workflow_path", "parse_answer"]
