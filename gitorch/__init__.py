"""gitorch: a GitHub issue or a TASK.md commit in, a reviewed pull request out."""

__version__ = "0.1.0"
