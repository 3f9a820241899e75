"""The router: which task type a request is, which agent should take it, how sure, at what cost.

Two strategies: ``learned`` (default; a packaged model plus per-repository online learning) and
``keywords`` (the original design's baseline). ``Router(config, store, repo)`` is the entry point.
"""

from pathlib import Path

from .router import Router

__all__ = ["Router", "repo_key"]


def repo_key(root: Path | str | None, remote_url: str | None = None) -> str:
    """The name the router learns under, the same from every entry point: ``owner/name`` from the
    remote's URL (so a laptop, the pre-push hook and a runner's checkout share what they learn),
    else the repository folder's name. Without ``remote_url``, the ``origin`` remote is asked."""
    if remote_url is None and root is not None:
        import subprocess

        proc = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"],
                              capture_output=True, text=True)
        remote_url = proc.stdout.strip() or None if proc.returncode == 0 else None
    if remote_url:
        tail = remote_url.rstrip("/").removesuffix(".git").replace(":", "/").split("/")
        if len(tail) >= 2 and tail[-1]:
            return f"{tail[-2]}/{tail[-1]}"
    return Path(root).name if root is not None else ""
