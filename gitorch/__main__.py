"""``python -m gitorch``: the command line. The pre-push hook's call goes straight to the hook,
without loading the command-line framework, so a push that holds nothing for gitorch stays fast."""

from __future__ import annotations

import os
import sys


def hook(argv: list[str] | None = None) -> None:
    """The pre-push hook itself. The installed hook starts Python with -S and calls this: a push
    that holds nothing for gitorch never loads site-packages."""
    from .commands.pre_push import main as hook_main

    sys.exit(hook_main(sys.argv[1:] if argv is None else argv, sys.stdin.buffer, os.environ))


def _run() -> None:
    if sys.argv[1:3] == ["hook", "pre-push"] and not {"-h", "--help"} & set(sys.argv[3:]):
        hook(sys.argv[3:])
    from .cli import main

    main()


if __name__ == "__main__":
    _run()
