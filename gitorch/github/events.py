"""A GitHub event (``GITHUB_EVENT_NAME`` plus the payload at ``GITHUB_EVENT_PATH``) as a gitorch request.

What starts or steers gitorch:

- ``issues`` labeled with the trigger label, or opened with it: a task from the title and body;
- ``issue_comment`` created with a ``/gitorch`` command, on an issue or a gitorch PR;
- ``pull_request_review_comment`` created, and ``pull_request_review`` submitted with changes
  requested, on a gitorch PR: rework of the commented code, answered in the same thread;
- ``pull_request`` closed (merged or not) on a gitorch PR: the outcome that teaches the router;
- ``push`` that changes ``TASK.md``: the new or edited items;
- ``workflow_dispatch`` with a ``task`` input.

Everything else becomes ``Ignored`` with a reason (the Action logs it in one line). Parsing is pure:
no API calls, no config reads; who may trigger is decided afterwards (``permissions.py``). Text that
reaches a request is cleaned (``untrusted.clean_text``); whether a comment was gitorch's own is
read from the raw body first (``from_gitorch``).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import GitorchError
from ..git.command import TASK_FILE, ZERO_SHA
from .provider import is_gitorch_text
from .untrusted import clean_text

Kind = Literal["task", "command", "rework", "outcome", "task_md", "dispatch", "resume"]

EVENTS: tuple[str, ...] = ("issues", "issue_comment", "pull_request_review_comment", "pull_request_review",
                           "pull_request", "push", "workflow_dispatch")
COMMAND_PREFIX = "/gitorch"


@dataclass
class Actor:
    login: str
    type: str = "User"  # "User", "Bot", "Organization"
    association: str | None = None  # only where the payload gives it for this person


@dataclass
class Event:
    """What one GitHub event asks of gitorch (which command that is, the table decides)."""

    kind: Kind
    event: str
    action: str | None
    repo: str
    actor: Actor
    key: str  # stable per delivery target: a re-delivered event has the same key
    title: str = ""
    text: str = ""
    issue: int | None = None  # the issue or PR number the conversation is on
    pr: int | None = None
    on_pull: bool = False
    gitorch_pr: bool | None = None  # None: the payload does not say (a comment on some PR)
    issue_state: str | None = None
    issue_locked: bool = False
    command: str | None = None  # the word after /gitorch, lower case ("" for /gitorch alone)
    args: list[str] = field(default_factory=list)
    comment_id: int | None = None
    path: str | None = None
    line: int | None = None
    head_ref: str | None = None
    head_sha: str | None = None
    merged: bool | None = None
    ref: str | None = None
    before: str | None = None
    after: str | None = None
    task_files: list[str] = field(default_factory=list)
    from_gitorch: bool = False  # the text carries gitorch's own marker



@dataclass
class Ignored:
    event: str
    action: str | None
    reason: str

    def __str__(self) -> str:
        what = f"{self.event}.{self.action}" if self.action else self.event
        return f"ignored {what}: {self.reason}"


def read_payload(path: str | Path | None) -> dict[str, Any]:
    """The event payload at ``path`` (``GITHUB_EVENT_PATH``), with errors that say what to fix."""
    if not path:
        raise GitorchError("GITHUB_EVENT_PATH is not set, so there is no event to read",
                           hint="`gitorch action` runs inside GitHub Actions; locally set GITHUB_EVENT_NAME and "
                                "GITHUB_EVENT_PATH to a saved payload")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GitorchError(f"the event payload {path} does not exist",
                           hint="point GITHUB_EVENT_PATH at the JSON file of the event") from None
    except UnicodeDecodeError as exc:
        raise GitorchError(f"the event payload {path} is not UTF-8: byte {exc.start} cannot be read",
                           hint="GITHUB_EVENT_PATH must name the JSON file GitHub wrote") from None
    except ValueError as exc:
        raise GitorchError(f"the event payload {path} is not valid JSON: {exc}",
                           hint="GITHUB_EVENT_PATH must name the JSON file GitHub wrote") from None
    except RecursionError:
        raise GitorchError(f"the event payload {path} is nested too deeply to be a GitHub event",
                           hint="GITHUB_EVENT_PATH must name the JSON file GitHub wrote") from None
    if not isinstance(data, dict):
        raise GitorchError(f"the event payload {path} is a {type(data).__name__}, not a JSON object",
                           hint="GITHUB_EVENT_PATH must name the JSON file GitHub wrote")
    return data


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _actor(user: Any, association: str | None = None) -> Actor:
    user = _dict(user)
    return Actor(login=str(user.get("login") or ""), type=str(user.get("type") or "User"), association=association)


def _labels(issue: dict[str, Any]) -> list[str]:
    return [str(lb.get("name")) if isinstance(lb, dict) else str(lb) for lb in issue.get("labels") or []]


def parse_command(text: str) -> tuple[str, list[str]] | None:
    """The first ``/gitorch ...`` line of ``text`` as (word, args), the word in lower case ("" for
    ``/gitorch`` alone); None when there is none."""
    for line in clean_text(text).splitlines():
        line = line.strip()
        if not (line == COMMAND_PREFIX or line.startswith(COMMAND_PREFIX + " ")):
            continue
        try:
            words = shlex.split(line[len(COMMAND_PREFIX):])
        except ValueError:
            words = line[len(COMMAND_PREFIX):].split()
        return (words[0].lower(), words[1:]) if words else ("", [])
    return None


def parse_event(name: str, payload: dict[str, Any], *, trigger_label: str = "gitorch",
                branch_prefix: str = "gitorch/") -> Event | Ignored:
    """``payload`` of event ``name`` as an ``Event``, or ``Ignored`` with the reason."""
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    repo = str(_dict(payload.get("repository")).get("full_name") or "")
    sender = payload.get("sender")
    if name == "schedule":  # the workflow's cron (an Actions event, not a webhook): continue paused runs
        return Event(kind="resume", event=name, action=None, repo=repo, actor=Actor("schedule", "Schedule"),
                       key=f"schedule-{payload.get('schedule') or 'cron'}")
    if name not in EVENTS:
        return Ignored(name, action, "not an event gitorch acts on")
    if name == "issues":
        return _issues(payload, action, repo, sender, trigger_label)
    if name == "issue_comment":
        return _issue_comment(payload, action, repo, sender)
    if name in ("pull_request_review_comment", "pull_request_review", "pull_request"):
        return _pull_request(name, payload, action, repo, sender, branch_prefix)
    if name == "push":
        return _push(payload, repo, sender, branch_prefix)
    return _dispatch(payload, repo, sender)


def _issues(payload: dict[str, Any], action: str | None, repo: str, sender: Any, trigger: str) -> Event | Ignored:
    issue = _dict(payload.get("issue"))
    number = issue.get("number")
    if action == "labeled":
        label = str(_dict(payload.get("label")).get("name") or "")
        if label != trigger:
            return Ignored("issues", action, f"label '{label}' is not the trigger label '{trigger}'")
        actor = _actor(sender)  # who added the label: the payload does not say how they relate to the repo
    elif action == "opened":
        if trigger not in _labels(issue):
            return Ignored("issues", action, f"opened without the trigger label '{trigger}'")
        opener = _dict(issue.get("user")).get("login")
        same = opener and opener == _dict(sender).get("login")
        actor = _actor(sender, issue.get("author_association") if same else None)
    else:
        return Ignored("issues", action, "only 'labeled' and 'opened' start a run")
    if not isinstance(number, int):
        return Ignored("issues", action, "the payload names no issue")
    raw_body = str(issue.get("body") or "")
    title = clean_text(str(issue.get("title") or ""), limit=300)
    body = clean_text(raw_body)
    return Event(kind="task", event="issues", action=action, repo=repo, actor=actor, key=f"issue-{number}",
                   title=title, text=f"{title}\n\n{body}".strip(), issue=number,
                   issue_state=str(issue.get("state") or "open"), issue_locked=bool(issue.get("locked")),
                   from_gitorch=is_gitorch_text(raw_body))


def _issue_comment(payload: dict[str, Any], action: str | None, repo: str, sender: Any) -> Event | Ignored:
    if action != "created":
        return Ignored("issue_comment", action, "only new comments are read")
    comment = _dict(payload.get("comment"))
    issue = _dict(payload.get("issue"))
    raw = str(comment.get("body") or "")
    parsed = parse_command(raw)
    if parsed is None:
        return Ignored("issue_comment", action, "no /gitorch command in the comment")
    command, args = parsed
    number = issue.get("number")
    if not isinstance(number, int):
        return Ignored("issue_comment", action, "the payload names no issue")
    on_pull = bool(issue.get("pull_request"))
    commenter = comment.get("user") or sender
    return Event(kind="command", event="issue_comment", action=action, repo=repo,
                   actor=_actor(commenter, comment.get("author_association")), key=f"comment-{comment.get('id')}",
                   title=clean_text(str(issue.get("title") or ""), limit=300), text=clean_text(raw), issue=number,
                   pr=number if on_pull else None, on_pull=on_pull, gitorch_pr=None if on_pull else False,
                   issue_state=str(issue.get("state") or "open"), issue_locked=bool(issue.get("locked")),
                   command=command, args=args, comment_id=comment.get("id"),
                   from_gitorch=is_gitorch_text(raw))


def _pull_request(name: str, payload: dict[str, Any], action: str | None, repo: str, sender: Any,
                  prefix: str) -> Event | Ignored:
    pull = _dict(payload.get("pull_request"))
    head = _dict(pull.get("head"))
    head_ref = str(head.get("ref") or "")
    number = pull.get("number")
    ours = head_ref.startswith(prefix)
    common: dict[str, Any] = dict(event=name, action=action, repo=repo, issue=number, pr=number, on_pull=True,
                                  gitorch_pr=ours, head_ref=head_ref, head_sha=head.get("sha"),
                                  issue_state=str(pull.get("state") or "open"), issue_locked=bool(pull.get("locked")),
                                  title=clean_text(str(pull.get("title") or ""), limit=300))
    if not ours:
        return Ignored(name, action, f"not a gitorch pull request (head '{head_ref}' is outside '{prefix}')")
    if not isinstance(number, int):
        return Ignored(name, action, "the payload names no pull request")
    if name == "pull_request":
        if action != "closed":
            return Ignored(name, action, "only a closed gitorch pull request teaches the router")
        return Event(kind="outcome", actor=_actor(sender), key=f"pr-{number}-closed", merged=bool(pull.get("merged")),
                       **common)
    if name == "pull_request_review_comment":
        if action != "created":
            return Ignored(name, action, "only new review comments ask for rework")
        comment = _dict(payload.get("comment"))
        raw = str(comment.get("body") or "")
        line = comment.get("line") if isinstance(comment.get("line"), int) else comment.get("original_line")
        return Event(kind="rework", actor=_actor(comment.get("user") or sender, comment.get("author_association")),
                       key=f"review-comment-{comment.get('id')}", text=clean_text(raw), comment_id=comment.get("id"),
                       path=comment.get("path"), line=line if isinstance(line, int) else None,
                       from_gitorch=is_gitorch_text(raw), **common)
    review = _dict(payload.get("review"))
    if action != "submitted" or str(review.get("state") or "").lower() != "changes_requested":
        return Ignored(name, action, "only a submitted review that requests changes asks for rework")
    raw = str(review.get("body") or "")
    return Event(kind="rework", actor=_actor(review.get("user") or sender, review.get("author_association")),
                   key=f"review-{review.get('id')}", text=clean_text(raw), from_gitorch=is_gitorch_text(raw), **common)


def _push(payload: dict[str, Any], repo: str, sender: Any, prefix: str) -> Event | Ignored:
    ref = str(payload.get("ref") or "")
    if not ref.startswith("refs/heads/"):
        return Ignored("push", None, f"{ref or 'the ref'} is not a branch")
    branch = ref[len("refs/heads/"):]
    if payload.get("deleted") or payload.get("after") == ZERO_SHA:
        return Ignored("push", None, f"branch {branch} was deleted")
    if branch.startswith(prefix):
        return Ignored("push", None, f"{branch} is gitorch's own branch")
    changed: list[str] = []
    for commit in payload.get("commits") or []:
        commit = _dict(commit)
        for kind in ("added", "modified"):
            for path in commit.get(kind) or []:
                if Path(str(path)).name == TASK_FILE and path not in changed:
                    changed.append(str(path))
    if not changed:
        return Ignored("push", None, f"no {TASK_FILE} changed")
    return Event(kind="task_md", event="push", action=None, repo=repo, actor=_actor(sender),
                   key=f"push-{payload.get('after')}", ref=ref, before=payload.get("before"), after=payload.get("after"),
                   task_files=changed, head_sha=payload.get("after"))


def _dispatch(payload: dict[str, Any], repo: str, sender: Any) -> Event | Ignored:
    inputs = _dict(payload.get("inputs"))
    task = clean_text(str(inputs.get("task") or ""))
    if not task:
        return Ignored("workflow_dispatch", None, "no 'task' input")
    return Event(kind="dispatch", event="workflow_dispatch", action=None, repo=repo, actor=_actor(sender),
                   key="dispatch-" + hashlib.sha1(task.encode()).hexdigest()[:12], title=task.splitlines()[0][:120], text=task,
                   ref=str(payload.get("ref") or ""))
