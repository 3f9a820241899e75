"""A dry-run ``GitHubProvider``: the same exchange written as Markdown files in a folder.

Nothing leaves the machine. Each comment is one file found again by its key (so an edit overwrites
it), each pull request one file per branch, each review one file per head commit; statuses and
labels are kept in JSON beside them. ``gitorch action --dry-run DIR`` uses it, and so can the
pipeline when you want to see what gitorch would post.
"""

from __future__ import annotations

import json
import re
import subprocess
import zlib
from pathlib import Path
from typing import Any

from ..errors import GitorchError
from ..model import CommentInfo, InlineComment, IssueInfo, LabelEvent, PullInfo, ReviewPosted
from ..redact import redact
from .provider import (
    REVIEW_CONTEXT,
    STAGE_LABEL_PREFIX,
    STAGES,
    limit_body,
    marker,
    stage_label,
)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"


class LocalProvider:
    """Writes what gitorch would post under ``folder``; reads config from the local repository."""

    def __init__(self, folder: str | Path, repo: str = "local/repo", *, repo_root: str | Path | None = None,
                 default_branch: str = "main", secrets: list[str] | None = None,
                 issues: dict[int, IssueInfo] | None = None, permissions: dict[str, str] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.repo = repo
        self.repo_root = Path(repo_root) if repo_root else None
        self._default_branch = default_branch
        self._secrets = secrets or []
        self.issues = dict(issues or {})
        self.permissions = dict(permissions or {})

    # -- state files -----------------------------------------------------------------------------
    def _state(self, name: str, default: Any) -> Any:
        path = self.folder / f"{name}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default

    def _save(self, name: str, data: Any) -> None:
        (self.folder / f"{name}.json").write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")

    def _write(self, relative: str, text: str) -> Path:
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(limit_body(redact(text, self._secrets)), encoding="utf-8")
        return path

    # -- reading ---------------------------------------------------------------------------------
    def get_issue(self, number: int) -> IssueInfo:
        # an issue the dry run was not told about is taken as open, with the labels it gave it
        issue = self.issues.get(number) or IssueInfo(number, "", "", "open", False, [], "")
        labels = self._state("labels", {}).get(str(number))
        if labels is not None:
            issue.labels = labels
        return issue

    def get_pull(self, number: int) -> PullInfo:
        for pull in self._state("pulls", {}).values():
            if pull["number"] == number:
                return PullInfo(**{**pull, "created": False})
        raise GitorchError(f"pull request #{number} is not known to the dry run", hint="open it first")

    def default_branch(self) -> str:
        return self._default_branch

    def permission(self, login: str) -> str:
        return self.permissions.get(login, "admin")  # a dry run is run by the person who owns the folder

    def read_config_from_default_branch(self, path: str = ".gitorch.yml") -> str | None:
        if self.repo_root is None:
            return None
        proc = subprocess.run(["git", "-C", str(self.repo_root), "show", f"{self._default_branch}:{path}"],
                              capture_output=True, text=True)
        return proc.stdout if proc.returncode == 0 else None

    # -- writing ---------------------------------------------------------------------------------
    def comments(self, issue: int) -> list[CommentInfo]:
        return []  # a dry run reads no one's comments: only the event it is given

    def labels_added(self, issue: int) -> list[LabelEvent]:
        return []

    def review_comments(self, pr: int) -> list[CommentInfo]:
        return []

    def changes_requested(self, pr: int) -> list[CommentInfo]:
        return []

    def find_comment(self, issue: int, key: str) -> CommentInfo | None:
        path = self.folder / "comments" / f"issue-{issue}--{_safe(key)}.md"
        if not path.exists():
            return None
        return CommentInfo(id=zlib.crc32(path.name.encode()), body=path.read_text(encoding="utf-8"), author="gitorch",
                           url=path.as_uri())

    def post_or_update_comment(self, issue: int, key: str, body: str) -> CommentInfo:
        existed = self.find_comment(issue, key) is not None
        path = self._write(f"comments/issue-{issue}--{_safe(key)}.md", f"{marker('comment', key)}\n{body}")
        return CommentInfo(id=zlib.crc32(path.name.encode()), body=path.read_text(encoding="utf-8"), author="gitorch",
                           url=path.as_uri(), created=not existed)

    def open_or_update_pr(self, branch: str, base: str, title: str, body: str, issue: int | None) -> PullInfo:
        pulls = self._state("pulls", {})
        created = branch not in pulls
        number = pulls[branch]["number"] if not created else 1000 + len(pulls) + 1
        head_sha = ""
        if self.repo_root is not None:
            proc = subprocess.run(["git", "-C", str(self.repo_root), "rev-parse", "--verify", "--quiet", branch],
                                  capture_output=True, text=True)
            head_sha = proc.stdout.strip()
        text = body if issue is None or f"#{issue}" in body else f"{body}\n\nCloses #{issue}"
        pulls[branch] = {"number": number, "head_ref": branch, "head_sha": head_sha, "base_ref": base,
                         "state": "open", "merged": False, "author": "gitorch", "url": "", "body": text}
        path = self._write(f"pulls/{_safe(branch)}.md", f"{marker('pr', branch)}\n# {title}\n\n{text}\n")
        pulls[branch]["url"] = path.as_uri()
        self._save("pulls", pulls)
        return PullInfo(**pulls[branch], created=created)

    def last_reviewed_sha(self, pr: int) -> str | None:
        reviews = self._state("reviews", {}).get(str(pr), [])
        return reviews[-1] if reviews else None

    def find_pr(self, branch: str) -> PullInfo | None:
        pull = self._state("pulls", {}).get(branch)
        return PullInfo(**{**pull, "created": False}) if pull else None

    def posted_reviews(self, pr: int) -> list[tuple[str, str]]:
        out = []
        for head_sha in self._state("reviews", {}).get(str(pr), []):
            path = self.folder / "reviews" / f"pr-{pr}-{_safe(head_sha)[:12]}.md"
            out.append((head_sha, path.read_text(encoding="utf-8") if path.exists() else ""))
        return out

    def post_review(self, pr: int, head_sha: str, verdict: str, summary: str,
                    comments: list[InlineComment]) -> ReviewPosted:
        if verdict not in ("approve", "reject"):
            raise GitorchError(f"unknown verdict {verdict!r}", hint="use 'approve' or 'reject'")
        reviews = self._state("reviews", {})
        done = reviews.setdefault(str(pr), [])
        event = "APPROVE" if verdict == "approve" else "REQUEST_CHANGES"
        reused = head_sha in done
        path = self.folder / "reviews" / f"pr-{pr}-{_safe(head_sha)[:12]}.md"
        if not reused:
            lines = [marker("review", head_sha), f"# Review of #{pr} at {head_sha[:12]}: {event}", "", summary, ""]
            lines += [f"- `{c.path}:{c.line}`: {c.body}" for c in comments]
            path = self._write(f"reviews/pr-{pr}-{_safe(head_sha)[:12]}.md", "\n".join(lines) + "\n")
            done.append(head_sha)
            self._save("reviews", reviews)
        self.set_status(head_sha, "success" if verdict == "approve" else "failure",
                        "Claude approved these changes" if verdict == "approve" else "Claude asks for changes")
        return ReviewPosted(review_id=zlib.crc32(path.name.encode()), event=event, commit_id=head_sha, verdict=verdict,
                            inline=[] if reused else list(comments), reused=reused, url=path.as_uri())

    def set_status(self, sha: str, state: str, description: str, context: str = REVIEW_CONTEXT,
                   target_url: str | None = None) -> None:
        statuses = self._state("statuses", {})
        statuses.setdefault(sha, {})[context] = {"state": state, "description": redact(description, self._secrets),
                                                 "target_url": target_url}
        self._save("statuses", statuses)

    def set_run_label(self, issue: int, stage: str) -> None:
        wanted = stage_label(stage)
        labels = self._state("labels", {})
        current = labels.get(str(issue), list(self.issues[issue].labels) if issue in self.issues else [])
        kept = [lb for lb in current if not (lb.startswith(STAGE_LABEL_PREFIX) and lb[len(STAGE_LABEL_PREFIX):] in STAGES)]
        labels[str(issue)] = [*kept, wanted]
        self._save("labels", labels)

    def reply_to_review_comment(self, pr: int, comment_id: int, key: str, body: str) -> CommentInfo | None:
        path = self.folder / "replies" / f"pr-{pr}-{comment_id}--{_safe(key)}.md"
        existed = path.exists()
        if not existed:
            self._write(f"replies/{path.name}", f"{marker('reply', f'{comment_id}/{key}')}\n{body}")
        return CommentInfo(id=zlib.crc32(path.name.encode()), body=path.read_text(encoding="utf-8"), author="gitorch",
                           url=path.as_uri(), created=not existed)
