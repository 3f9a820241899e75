"""The router: which task type a request is, which agent should take it, how sure, at what cost.

Two strategies: ``learned`` (default; a packaged model plus per-repository online learning) and
``keywords`` (the original design's baseline). ``Router(config, store, repo)`` is the entry point.
"""

from ..config import repo_key
from .router import Router

__all__ = ["Router", "repo_key"]
