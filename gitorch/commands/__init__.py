"""What a person can ask gitorch to do (``table.COMMANDS``), and the entry points that ask it: `gitorch
action`, the pre-push hook, `gitorch doctor`. Importing this package loads nothing: the hook's idle path
goes through it."""
