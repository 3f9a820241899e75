"""``GitHubProvider`` over GitHub's REST API with githubkit.

githubkit's own retries are off: they re-send a POST after a 5xx, and a comment GitHub created but
answered with 502 would become two. Instead every call goes through ``gitorch.retry.RetryPolicy``:
reads and idempotent writes are retried on 5xx, time-outs and rate limits (``retry-after`` and
``x-ratelimit-reset`` honoured, secondary limits backed off); a create is retried only after looking
for what it would have made (by marker, or the PR by its branch). A 403 or 404 that means the
token lacks a permission fails with a ``GitorchError`` naming it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import GitorchError, ServiceError
from ..model import CommentInfo, InlineComment, IssueInfo, LabelEvent, PullInfo, ReviewPosted
from ..redact import redact
from ..retry import RetryPolicy
from .provider import (
    REVIEW_CONTEXT,
    STAGE_LABEL_PREFIX,
    STAGES,
    commentable_lines,
    limit_body,
    marker,
    markers_in,
    stage_label,
)

log = logging.getLogger("gitorch.github")
T = TypeVar("T")

# The token permission each kind of call needs, for errors that say what to grant.
PERMISSIONS = {
    "issues:read": "issues: read",
    "issues:write": "issues: write",
    "pulls:read": "pull-requests: read",
    "pulls:write": "pull-requests: write",
    "statuses:write": "statuses: write",
    "contents:read": "contents: read",
    "metadata:read": "metadata: read",
}
TRUSTED_AUTHORS = ("OWNER", "MEMBER", "COLLABORATOR")


class GitHubError(ServiceError):
    """A GitHub API call failed. ``retryable`` is set per failure (rate limits always; 5xx and
    time-outs only for calls that are safe to repeat); ``maybe_done`` marks a create whose outcome
    is unknown (5xx or time-out after sending), so the caller looks before sending it again."""

    def __init__(self, message: str, hint: str | None = None, *, status: int | None = None,
                 retryable: bool = False, retry_after_s: float | None = None, maybe_done: bool = False):
        super().__init__(message, hint, retryable=retryable, retry_after_s=retry_after_s)
        self.status = status
        self.maybe_done = maybe_done


def _error_message(response: Any) -> str:
    try:
        data = response.json()
    except Exception:
        return ""
    if not isinstance(data, dict):
        return ""
    text = str(data.get("message", ""))
    errors = data.get("errors")
    if errors:
        text += ": " + "; ".join(e if isinstance(e, str) else str(e.get("message") or e) for e in errors)
    return text


class RestProvider:
    """One repository through the REST API (``config.github.api_url``; the double in tests)."""

    def __init__(self, config: Any, repo: str, *, policy: RetryPolicy | None = None, timeout_s: float = 30.0):
        from githubkit import GitHub

        token = config.secrets.github_token
        if token is None:
            raise GitorchError("no GitHub token: GITHUB_TOKEN is not set",
                               hint="in the Action pass `github-token: ${{ secrets.GITHUB_TOKEN }}`; "
                                    "locally export GITHUB_TOKEN (or GITORCH_GITHUB_TOKEN)")
        if "/" not in repo:
            raise GitorchError(f"'{repo}' is not a repository name", hint="use owner/name, e.g. octo-org/sample")
        self.repo = repo
        self.owner, self.name = repo.split("/", 1)
        self.config = config
        self._secrets = config.secrets.values()
        self.policy = policy or RetryPolicy(attempts=4)
        self._gh = GitHub(token.get_secret_value(), base_url=config.github.api_url.rstrip("/") + "/",
                          auto_retry=False, http_cache=False, timeout=timeout_s, user_agent="gitorch")
        self._gh.__enter__()  # one HTTP client (and its connections) for every call, not one per call
        self._default_branch: str | None = None

    def close(self) -> None:
        self._gh.__exit__(None, None, None)

    def __enter__(self) -> RestProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the call wrapper ------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T], *, needs: str, idempotent: bool = True) -> T:
        """Run one API call under the retry policy, mapping failures to ``GitHubError``."""

        def attempt() -> T:
            try:
                return fn()
            except GitorchError:
                raise
            except Exception as exc:
                mapped = self._map(exc, what, needs, idempotent)
                if mapped is exc:
                    raise
                raise mapped from exc

        return self.policy.call(attempt)

    def _map(self, exc: Exception, what: str, needs: str, idempotent: bool) -> Exception:
        from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed, RequestTimeout

        permission = PERMISSIONS[needs]
        if isinstance(exc, RateLimitExceeded):
            wait = max(exc.retry_after.total_seconds(), 0.0)
            return GitHubError(f"GitHub rate limit hit while trying to {what}; retry in {wait:.0f}s",
                               hint="wait, or use a token with a higher limit (a GitHub App)",
                               status=exc.response.status_code, retryable=True, retry_after_s=wait)
        if isinstance(exc, RequestFailed):
            status = exc.response.status_code
            detail = _error_message(exc.response)
            if status in (403, 429) and "rate limit" in detail.lower():
                # a secondary limit without the headers githubkit looks for: back off a minute
                return GitHubError(f"GitHub secondary rate limit while trying to {what}: {detail}",
                                   hint="gitorch backs off; fewer parallel runs help", status=status,
                                   retryable=True, retry_after_s=60.0)
            if status in (401,):
                return GitHubError(f"GitHub refused the token while trying to {what}: {detail or 'Bad credentials'}",
                                   hint="the token is wrong or expired; set GITHUB_TOKEN to a valid one", status=status)
            if status in (403, 404):
                return GitHubError(
                    f"GitHub answered {status} when gitorch tried to {what} in {self.repo}: {detail or 'forbidden'}. "
                    f"The token probably lacks the '{permission}' permission.",
                    hint=f"grant '{permission}' in the workflow's `permissions:` block (or the fine-grained "
                         "token's or GitHub App's repository permissions)", status=status)
            if status >= 500:
                return GitHubError(f"GitHub failed ({status}) while trying to {what}: {detail}",
                                   hint="GitHub had a problem; try again later", status=status,
                                   retryable=idempotent, maybe_done=not idempotent)
            return GitHubError(f"GitHub refused to {what} ({status}): {detail}",
                               hint="this is likely a gitorch bug; please report it with the run's log", status=status)
        if isinstance(exc, RequestTimeout):
            return GitHubError(f"GitHub did not answer in time while trying to {what}",
                               hint="check the network or GITHUB_API_URL", retryable=idempotent, maybe_done=not idempotent)
        if isinstance(exc, RequestError):
            return GitHubError(f"could not reach GitHub at {self.config.github.api_url} to {what}: {exc.exc}",
                               hint="check the network, or GITHUB_API_URL", retryable=idempotent,
                               maybe_done=not idempotent)
        return exc  # not a failure of the exchange (a bug): let it surface as it is

    def _create(self, what: str, create: Callable[[], T], find: Callable[[], T | None], *, needs: str) -> T:
        """Create something once: if the create may have happened (5xx, time-out), look for it
        before sending again."""
        for _ in range(self.policy.attempts):
            try:
                return self._call(what, create, needs=needs, idempotent=False)
            except GitHubError as err:
                if not err.maybe_done:
                    raise
                log.warning("%s: outcome unknown (%s); looking before trying again", what, err.message)
                found = find()
                if found is not None:
                    return found
        return self._call(what, create, needs=needs, idempotent=False)

    def _clean(self, body: str) -> str:
        return limit_body(redact(body, self._secrets))

    def _pages(self, what: str, fetch: Callable[[int], list[Any]], *, needs: str) -> list[Any]:
        items: list[Any] = []
        page = 1
        while True:
            batch = self._call(what, lambda p=page: fetch(p), needs=needs)
            items.extend(batch)
            if len(batch) < 100:
                return items
            page += 1

    # -- reading ---------------------------------------------------------------------------------
    def default_branch(self) -> str:
        """The repository's default branch (asked once)."""
        if self._default_branch is None:
            data = self._call("read the repository", lambda: self._gh.rest.repos.get(self.owner, self.name).json(),
                              needs="metadata:read")
            self._default_branch = data["default_branch"]
        return self._default_branch

    def get_issue(self, number: int) -> IssueInfo:
        data = self._call(f"read issue #{number}",
                          lambda: self._gh.rest.issues.get(self.owner, self.name, number).parsed_data, needs="issues:read")
        return IssueInfo(number=data.number, title=data.title, body=data.body or "", state=data.state,
                         locked=bool(data.locked), labels=[lb if isinstance(lb, str) else lb.name for lb in data.labels],
                         author=data.user.login if data.user else "", is_pull=bool(data.pull_request),
                         url=data.html_url)

    @staticmethod
    def _pull_info(data: Any, created: bool = False) -> PullInfo:
        return PullInfo(number=data.number, head_ref=data.head.ref, head_sha=data.head.sha, base_ref=data.base.ref,
                        state=data.state, merged=bool(getattr(data, "merged", False) or data.merged_at),
                        author=data.user.login if data.user else "", url=data.html_url, created=created,
                        body=data.body or "")

    def get_pull(self, number: int) -> PullInfo:
        data = self._call(f"read pull request #{number}",
                          lambda: self._gh.rest.pulls.get(self.owner, self.name, number).parsed_data, needs="pulls:read")
        return self._pull_info(data)

    def permission(self, login: str) -> str:
        data = self._call(f"look up {login}'s permission",
                          lambda: self._gh.rest.repos.get_collaborator_permission_level(
                              self.owner, self.name, login).parsed_data, needs="metadata:read")
        return data.permission

    def read_config_from_default_branch(self, path: str = ".gitorch.yml") -> str | None:
        from githubkit.exception import RequestFailed

        branch = self.default_branch()

        def fetch() -> Any:
            try:
                return self._gh.rest.repos.get_content(self.owner, self.name, path, ref=branch).json()
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return None
                raise

        data = self._call(f"read {path} from {branch}", fetch, needs="contents:read")
        if data is None:
            return None
        if not isinstance(data, dict) or data.get("type") != "file":
            raise GitorchError(f"{path} on {branch} is not a file", hint=f"make {path} a regular file on {branch}")
        return base64.b64decode(data.get("content") or "").decode("utf-8")

    # -- comments --------------------------------------------------------------------------------
    def _ours(self, author_type: str | None, association: str | None) -> bool:
        """A marked comment counts as gitorch's only when a bot or a trusted person wrote it, so a
        stranger who copies the marker cannot make gitorch edit their comment."""
        return author_type == "Bot" or (association or "") in TRUSTED_AUTHORS

    def comments(self, issue: int) -> list[CommentInfo]:
        listed = self._pages(
            f"list comments on #{issue}",
            lambda p: self._gh.rest.issues.list_comments(self.owner, self.name, issue, per_page=100, page=p).parsed_data,
            needs="issues:read")
        return [CommentInfo(id=c.id, body=c.body or "", author=c.user.login if c.user else "", url=c.html_url,
                            author_type=(c.user.type if c.user else None) or "User",
                            association=str(c.author_association), created_at=c.created_at.isoformat())
                for c in listed]

    def labels_added(self, issue: int) -> list[LabelEvent]:
        events = self._pages(
            f"list the events of #{issue}",
            lambda p: self._gh.rest.issues.list_events(self.owner, self.name, issue, per_page=100, page=p).json(),
            needs="issues:read")
        out = []
        for e in events:
            if not isinstance(e, dict) or e.get("event") != "labeled" or not isinstance(e.get("label"), dict):
                continue
            actor = e.get("actor") if isinstance(e.get("actor"), dict) else {}
            out.append(LabelEvent(id=int(e.get("id") or 0), label=str(e["label"].get("name") or ""),
                                  actor=str(actor.get("login") or ""), actor_type=str(actor.get("type") or "User"),
                                  created_at=str(e.get("created_at") or "")))
        return out

    def _find_comment(self, issue: int, tag: str) -> CommentInfo | None:
        for c in self.comments(issue):
            if tag in c.body and self._ours(c.author_type, c.association):
                return c
        return None

    def find_comment(self, issue: int, key: str) -> CommentInfo | None:
        return self._find_comment(issue, marker("comment", key))

    def post_or_update_comment(self, issue: int, key: str, body: str) -> CommentInfo:
        tag = marker("comment", key)
        text = self._clean(f"{tag}\n{body}")
        existing = self._find_comment(issue, tag)
        if existing is not None:
            if existing.body != text:
                self._call(f"edit comment {existing.id} on #{issue}",
                           lambda: self._gh.rest.issues.update_comment(self.owner, self.name, existing.id, body=text),
                           needs="issues:write")
            return CommentInfo(id=existing.id, body=text, author=existing.author, url=existing.url)

        def create() -> CommentInfo:
            c = self._gh.rest.issues.create_comment(self.owner, self.name, issue, body=text).parsed_data
            return CommentInfo(id=c.id, body=c.body or "", author=c.user.login if c.user else "", url=c.html_url,
                               created=True)

        return self._create(f"comment on #{issue}", create, lambda: self._find_comment(issue, tag), needs="issues:write")

    # -- pull requests ---------------------------------------------------------------------------
    def _find_pull(self, branch: str) -> PullInfo | None:
        pulls = self._call(f"look for the pull request from {branch}",
                           lambda: self._gh.rest.pulls.list(self.owner, self.name, state="open",
                                                            head=f"{self.owner}:{branch}", per_page=100).parsed_data,
                           needs="pulls:read")
        return self._pull_info(pulls[0]) if pulls else None

    def open_or_update_pr(self, branch: str, base: str, title: str, body: str, issue: int | None) -> PullInfo:
        prefix = self.config.git.branch_prefix
        if not branch.startswith(prefix):
            raise GitorchError(f"refusing to open a pull request from '{branch}': gitorch works only on branches "
                               f"under '{prefix}'", hint="this is a gitorch bug or a wrong git.branch_prefix")
        text = body if issue is None or f"#{issue}" in body else f"{body}\n\nCloses #{issue}"
        text = self._clean(f"{marker('pr', branch)}\n{text}")
        title = redact(title, self._secrets)[:250]
        existing = self._find_pull(branch)
        if existing is not None:
            data = self._call(f"update pull request #{existing.number}",
                              lambda: self._gh.rest.pulls.update(self.owner, self.name, existing.number,
                                                                 title=title, body=text).parsed_data,
                              needs="pulls:write")
            return self._pull_info(data)

        def create() -> PullInfo:
            data = self._gh.rest.pulls.create(self.owner, self.name, title=title, head=branch, base=base,
                                              body=text, maintainer_can_modify=True).parsed_data
            return self._pull_info(data, created=True)

        return self._create(f"open a pull request from {branch}", create, lambda: self._find_pull(branch),
                            needs="pulls:write")

    # -- reviews and statuses --------------------------------------------------------------------
    def _reviews(self, pr: int) -> list[Any]:
        return self._pages(
            f"list reviews on #{pr}",
            lambda p: self._gh.rest.pulls.list_reviews(self.owner, self.name, pr, per_page=100, page=p).parsed_data,
            needs="pulls:read")

    def changes_requested(self, pr: int) -> list[CommentInfo]:
        return [CommentInfo(id=r.id, body=r.body or "", author=r.user.login if r.user else "", url=r.html_url,
                            author_type=(r.user.type if r.user else None) or "User",
                            association=str(r.author_association),
                            created_at=r.submitted_at.isoformat() if r.submitted_at else "")
                for r in self._reviews(pr) if str(r.state).upper() == "CHANGES_REQUESTED"]

    def _gitorch_reviews(self, pr: int) -> list[tuple[str, Any]]:
        out = []
        for r in self._reviews(pr):
            for kind, key in markers_in(r.body):
                if kind == "review" and self._ours(r.user.type if r.user else None, str(r.author_association)):
                    out.append((key, r))
        return out

    def last_reviewed_sha(self, pr: int) -> str | None:
        reviews = self._gitorch_reviews(pr)
        return reviews[-1][0] if reviews else None

    def find_pr(self, branch: str) -> PullInfo | None:
        pulls = self._call(f"look for the pull requests from {branch}",
                           lambda: self._gh.rest.pulls.list(self.owner, self.name, state="all",
                                                            head=f"{self.owner}:{branch}", per_page=100).parsed_data,
                           needs="pulls:read")
        return self._pull_info(max(pulls, key=lambda p: p.number)) if pulls else None

    def posted_reviews(self, pr: int) -> list[tuple[str, str]]:
        return [(key, review.body or "") for key, review in self._gitorch_reviews(pr)]

    def _diff_lines(self, pr: int) -> dict[str, set[int]]:
        files = self._pages(
            f"list the files of #{pr}",
            lambda p: self._gh.rest.pulls.list_files(self.owner, self.name, pr, per_page=100, page=p).parsed_data,
            needs="pulls:read")
        return {f.filename: commentable_lines(f.patch or None) for f in files}

    def post_review(self, pr: int, head_sha: str, verdict: str, summary: str,
                    comments: list[InlineComment]) -> ReviewPosted:
        if verdict not in ("approve", "reject"):
            raise GitorchError(f"unknown verdict {verdict!r}", hint="use 'approve' or 'reject'")
        state = "success" if verdict == "approve" else "failure"
        description = "Claude approved these changes" if verdict == "approve" else "Claude asks for changes"
        for key, review in self._gitorch_reviews(pr):
            if key == head_sha:  # one review per head commit: a re-delivered event posts nothing new
                self.set_status(head_sha, state, description)
                return ReviewPosted(review_id=review.id, event=str(review.state), commit_id=head_sha, verdict=verdict,
                                    reused=True, url=review.html_url)

        on_diff = self._diff_lines(pr)
        inline = [c for c in comments if c.side == "RIGHT" and c.line in on_diff.get(c.path, set())]
        folded = [c for c in comments if c not in inline]
        tag = marker("review", head_sha)
        body = f"{tag}\n**gitorch review: {'approved' if verdict == 'approve' else 'changes requested'}**\n\n{summary}"
        if folded:
            body += "\n\n**Notes on lines outside the diff**\n" + "\n".join(
                f"- `{c.path}:{c.line}`: {c.body}" for c in folded)
        body = self._clean(body)
        # Each inline comment carries the marker too: with a personal token its author is a trusted
        # person, and GitHub sends an event for it; the marker says it is gitorch's own, not a request.
        payload = [{"path": c.path, "line": c.line, "side": "RIGHT",
                    "body": self._clean(f"{marker('inline', head_sha)}\n{c.body}")} for c in inline]

        def send(event: str) -> Any:
            return self._gh.rest.pulls.create_review(self.owner, self.name, pr, commit_id=head_sha, body=body,
                                                     event=event, comments=payload).parsed_data

        def find() -> Any:
            return next((r for key, r in self._gitorch_reviews(pr) if key == head_sha), None)

        event = "APPROVE" if verdict == "approve" else "REQUEST_CHANGES"
        try:
            review = self._create(f"review #{pr}", lambda: send(event), find, needs="pulls:write")
        except GitHubError as err:
            if err.status != 422 or "your own pull request" not in err.message:
                raise
            # The token opened the PR, so it may only comment; the status carries the verdict.
            log.info("the token authored #%s, so the review is a COMMENT; the verdict is in %s", pr, REVIEW_CONTEXT)
            event = "COMMENT"
            review = self._create(f"review #{pr}", lambda: send(event), find, needs="pulls:write")
        self.set_status(head_sha, state, description)
        return ReviewPosted(review_id=review.id, event=event, commit_id=head_sha, verdict=verdict, inline=inline,
                            folded=folded, url=review.html_url)

    def set_status(self, sha: str, state: str, description: str, context: str = REVIEW_CONTEXT,
                   target_url: str | None = None) -> None:
        kwargs: dict[str, Any] = {"state": state, "description": redact(description, self._secrets)[:140],
                                  "context": context}
        if target_url:
            kwargs["target_url"] = target_url
        # Setting a status twice leaves the same latest state: safe to retry.
        self._call(f"set the {context} status", lambda: self._gh.rest.repos.create_commit_status(
            self.owner, self.name, sha, **kwargs), needs="statuses:write")

    # -- labels ----------------------------------------------------------------------------------
    def set_run_label(self, issue: int, stage: str) -> None:
        wanted = stage_label(stage)
        labels = self._call(f"read the labels of #{issue}", lambda: [
            lb.name for lb in self._gh.rest.issues.list_labels_on_issue(self.owner, self.name, issue,
                                                                       per_page=100).parsed_data],
            needs="issues:read")
        from githubkit.exception import RequestFailed

        for name in labels:
            if name.startswith(STAGE_LABEL_PREFIX) and name[len(STAGE_LABEL_PREFIX):] in STAGES and name != wanted:
                def remove(name: str = name) -> None:
                    try:
                        self._gh.rest.issues.remove_label(self.owner, self.name, issue, name)
                    except RequestFailed as exc:
                        if exc.response.status_code != 404:  # gone already: fine
                            raise

                self._call(f"remove the label {name} from #{issue}", remove, needs="issues:write")
        if wanted not in labels:
            # adding a label that is there already changes nothing: safe to retry
            self._call(f"add the label {wanted} to #{issue}", lambda: self._gh.rest.issues.add_labels(
                self.owner, self.name, issue, data={"labels": [wanted]}), needs="issues:write")

    # -- review threads --------------------------------------------------------------------------
    def review_comments(self, pr: int) -> list[CommentInfo]:
        listed = self._pages(
            f"list review comments on #{pr}",
            lambda p: self._gh.rest.pulls.list_review_comments(self.owner, self.name, pr, per_page=100,
                                                               page=p).parsed_data,
            needs="pulls:read")
        out = []
        for c in listed:
            line = c.line if isinstance(c.line, int) else c.original_line
            out.append(CommentInfo(id=c.id, body=c.body or "", author=c.user.login if c.user else "", url=c.html_url,
                                   author_type=(c.user.type if c.user else None) or "User",
                                   association=str(c.author_association), created_at=c.created_at.isoformat(),
                                   path=c.path, line=line if isinstance(line, int) else None))
        return out

    def _find_reply(self, comments: list[CommentInfo], tag: str) -> CommentInfo | None:
        return next((c for c in comments if tag in c.body and self._ours(c.author_type, c.association)), None)

    def reply_to_review_comment(self, pr: int, comment_id: int, key: str, body: str) -> CommentInfo | None:
        tag = marker("reply", f"{comment_id}/{key}")
        text = self._clean(f"{tag}\n{body}")
        comments = self.review_comments(pr)
        existing = self._find_reply(comments, tag)
        if existing is not None:
            return existing
        if all(c.id != comment_id for c in comments):
            log.info("review comment %s on #%s was deleted; nothing to answer", comment_id, pr)
            return None

        def create() -> CommentInfo:
            c = self._gh.rest.pulls.create_reply_for_review_comment(self.owner, self.name, pr, comment_id,
                                                                    body=text).parsed_data
            return CommentInfo(id=c.id, body=c.body, author=c.user.login if c.user else "", url=c.html_url, created=True)

        try:
            return self._create(f"answer review comment {comment_id}", create,
                                lambda: self._find_reply(self.review_comments(pr), tag), needs="pulls:write")
        except GitHubError as err:
            # Listed a moment ago and 404 now: deleted in between, not a missing permission.
            if err.status == 404 and all(c.id != comment_id for c in self.review_comments(pr)):
                log.info("review comment %s on #%s was deleted; nothing to answer", comment_id, pr)
                return None
            raise
