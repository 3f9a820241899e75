"""A local GitHub REST double: issues, comments, labels, pull requests, reviews, statuses, contents.

It keeps one repository in memory and checks every request against GitHub's published OpenAPI
description (the subset gitorch uses, ``github_openapi.json``): a path parameter, query parameter
or body that does not conform gets GitHub's 422 with the validation error. Answers are built from
the description's documented examples with the double's own state laid over them, plus the fields
githubkit's models need that the npm description lacks (``archived_at`` on labels). It also
reproduces what GitHub does and a naive double would not (ARCHITECTURE.md):

- the author of a pull request cannot approve it or request changes on it (422);
- inline review comments must fall on the pull request's diff (422 "Line could not be resolved");
- labels to add may come as a bare JSON array (PyGithub sends that);
- ``GET /repos/{o}/{r}/statuses/{sha}`` still answers although the description dropped it.

Fault switches (``fail``): any status (403, 404, 5xx) on matching requests, a 502 *after* the
create happened, and rate limits with ``retry-after`` or ``x-ratelimit-reset``.

Used by the tests and ``gitorch demo``; binds 127.0.0.1 on an ephemeral port::

    with GitHubDouble() as gh:
        gh.add_issue(title="Add a CLI flag", labels=["gitorch"])
        config.github.api_url = gh.base_url
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .github_openapi import operations
from .loopback import LoopbackServer

DOCS = "https://docs.github.com/rest"


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _not_found() -> HttpError:
    return HttpError(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})


def _unprocessable(message: str, errors: list[Any] | None = None) -> HttpError:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": "422"}
    if errors is not None:
        body["errors"] = errors
    return HttpError(422, body)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Identity:
    login: str
    type: str = "User"  # "User" or "Bot"


@dataclass
class Fault:
    """Answer ``status`` to requests matching ``method`` and the regex ``path``, ``times`` times.
    ``after_create``: carry the request out first, then answer the error (a 502 after a create)."""

    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    times: int = 1
    after_create: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in (method, "*") and re.search(self.path, path) is not None


@dataclass
class Operation:
    id: str
    method: str
    template: str
    regex: re.Pattern[str]
    spec: dict[str, Any]


def _compile(template: str, spec: dict[str, Any]) -> re.Pattern[str]:
    multi = {p["name"] for p in spec["parameters"] if p.get("in") == "path" and p.get("x-multi-segment")}
    multi.add("path")  # contents paths hold slashes

    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"(?P<{name}>.+)" if name in multi else f"(?P<{name}>[^/]+)"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$")


def _validator(schema: dict[str, Any]):
    from openapi_schema_validator import OAS30Validator

    return OAS30Validator(schema)


def parse_patch_lines(patch: str) -> tuple[set[int], set[int], dict[int, tuple[str, int]]]:
    """Lines of one file's patch that a review comment may point at: (RIGHT lines, LEFT lines,
    position -> (side, line)). Positions count from the line below the first ``@@``."""
    right: set[int] = set()
    left: set[int] = set()
    positions: dict[int, tuple[str, int]] = {}
    old = new = 0
    position = 0
    started = False
    for raw in patch.splitlines():
        hunk = re.match(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", raw)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
            if started:
                position += 1  # later hunk headers count as positions
            started = True
            continue
        if not started or raw.startswith("\\"):
            continue
        position += 1
        if raw.startswith("+"):
            right.add(new)
            positions[position] = ("RIGHT", new)
            new += 1
        elif raw.startswith("-"):
            left.add(old)
            positions[position] = ("LEFT", old)
            old += 1
        else:
            right.add(new)
            left.add(old)
            positions[position] = ("RIGHT", new)
            old += 1
            new += 1
    return right, left, positions


def split_diff(diff: str) -> list[dict[str, Any]]:
    """A unified ``git diff`` as the pulls/list-files entries GitHub gives (filename, status, patch)."""
    files: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            patch = "\n".join(body)
            current["patch"] = patch
            current["additions"] = sum(1 for line in body if line.startswith("+"))
            current["deletions"] = sum(1 for line in body if line.startswith("-"))
            current["changes"] = current["additions"] + current["deletions"]
            files.append(current)

    for line in diff.splitlines():
        if line.startswith("diff --git "):
            close()
            m = re.match(r"diff --git a/(.*) b/(.*)", line)
            current = {"filename": m.group(2) if m else line.split()[-1], "status": "modified"}
            body = []
        elif current is None:
            continue
        elif line.startswith("new file mode"):
            current["status"] = "added"
        elif line.startswith("deleted file mode"):
            current["status"] = "removed"
        elif line.startswith("rename from "):
            current["status"] = "renamed"
            current["previous_filename"] = line[len("rename from "):]
        elif line.startswith(("index ", "--- ", "+++ ", "similarity index", "rename to ", "old mode", "new mode")):
            continue
        elif line.startswith("@@") or body:
            body.append(line)
    close()
    return files


class GitHubDouble(LoopbackServer):
    """The REST double. Use as a context manager; ``base_url`` is the API address."""

    def __init__(self, owner: str = "octo-org", repo: str = "sample", *, default_branch: str = "main",
                 git_dir: str | None = None):
        super().__init__()
        self.owner = owner
        self.repo = repo
        self.default_branch = default_branch
        self.git_dir = git_dir  # a bare repository the run pushes to; branches and diffs come from it
        self.identities: dict[str, Identity] = {}  # token -> who it is
        self.default_identity = Identity("github-actions[bot]", "Bot")
        self.collaborators: dict[str, str] = {}  # login -> admin | write | read
        self.contents: dict[tuple[str, str], str] = {}  # (ref, path) -> text
        self.branches: dict[str, dict[str, Any]] = {}  # name -> {"sha", "files"}
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.review_comments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.issue_events: dict[int, list[dict[str, Any]]] = {}  # issue -> its labeled events, oldest first
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) as answered
        self.latency_s = 0.0  # added to every answer, so a test can stop a client between two calls
        self._ids = 1000
        self._numbers = 0
        self._lock = threading.RLock()
        self._ops = [Operation(op_id, spec["method"], spec["path"], _compile(spec["path"], spec), spec)
                     for op_id, spec in operations().items()]
        self._validators: dict[str, Any] = {}
        self._connections: set[socket.socket] = set()
        self._handlers: dict[str, Callable[..., Any]] = {
            "repos/get": self._get_repo,
            "repos/get-content": self._get_content,
            "repos/get-collaborator-permission-level": self._get_permission,
            "repos/create-commit-status": self._create_status,
            "repos/list-commit-statuses-for-ref": self._list_statuses,
            "issues/get": self._get_issue,
            "issues/list-comments": self._list_comments,
            "issues/create-comment": self._create_comment,
            "issues/update-comment": self._update_comment,
            "issues/add-labels": self._add_labels,
            "issues/remove-label": self._remove_label,
            "issues/list-labels-on-issue": self._list_labels,
            "issues/list-events": self._list_events,
            "pulls/list": self._list_pulls,
            "pulls/create": self._create_pull,
            "pulls/get": self._get_pull,
            "pulls/update": self._update_pull,
            "pulls/list-files": self._list_files,
            "pulls/create-review": self._create_review,
            "pulls/list-reviews": self._list_reviews,
            "pulls/list-review-comments": self._list_review_comments,
            "pulls/create-reply-for-review-comment": self._create_reply,
        }

    # -- lifecycle -------------------------------------------------------------------------------
    thread_name = "github-double"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body leave in separate writes: without this, Nagle holds the body ~40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with double._lock:
                    double._connections.add(self.connection)

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = double.handle(self.command, self.path, dict(self.headers.items()), raw)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        return Handler

    def stop(self) -> None:
        super().stop()
        with self._lock:  # kept-alive connections too: a stopped GitHub answers nobody
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()

    @property
    def base_url(self) -> str:
        return self.address

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    # -- arranging the world (tests and the demo) --------------------------------------------------
    def add_token(self, token: str, login: str, type: str = "User") -> None:
        self.identities[token] = Identity(login, type)

    def add_collaborator(self, login: str, permission: str = "write") -> None:
        self.collaborators[login] = permission

    def set_file(self, path: str, text: str, ref: str | None = None) -> None:
        self.contents[(ref or self.default_branch, path)] = text

    def push_branch(self, name: str, sha: str | None = None, diff: str = "") -> str:
        """A branch at ``sha`` whose changes against the default branch are ``diff`` (unified)."""
        sha = sha or hashlib.sha1(f"{name}{diff}{self._next_id()}".encode()).hexdigest()
        with self._lock:
            self.branches[name] = {"sha": sha, "files": split_diff(diff)}
            for pull in self.pulls.values():
                if pull["head"]["ref"] == name and pull["state"] == "open":
                    pull["head"]["sha"] = sha
        return sha

    def add_issue(self, title: str = "An issue", body: str = "", *, user: str = "octocat",
                  association: str = "OWNER", labels: list[str] | None = None, state: str = "open",
                  locked: bool = False) -> int:
        with self._lock:
            number = self._next_number()
            self.issues[number] = {
                "number": number, "title": title, "body": body, "user": Identity(user),
                "author_association": association, "labels": list(labels or []), "state": state,
                "locked": locked, "created_at": _now(), "updated_at": _now(), "pull": None,
            }
            for name in labels or []:
                self._label(name)
                self._labeled(number, name, Identity(user))
            return number

    def label_issue(self, issue: int, name: str, *, user: str = "octocat", type: str = "User") -> None:
        """What a person does on GitHub: add a label to an issue."""
        with self._lock:
            self._add_labels(Identity(user, type), {"labels": [name]}, issue)

    def add_comment(self, issue: int, body: str, *, user: str = "octocat", type: str = "User",
                    association: str = "OWNER") -> int:
        with self._lock:
            return self._store_comment(issue, body, Identity(user, type), association)["id"]

    def fail(self, method: str, path: str, status: int, *, headers: dict[str, str] | None = None,
             message: str = "", times: int = 1, after_create: bool = False) -> Fault:
        """Answer ``status`` to the next ``times`` requests matching ``method`` and ``path`` (regex)."""
        fault = Fault(method.upper(), path, status, dict(headers or {}), message, times, after_create)
        with self._lock:
            self.faults.append(fault)
        return fault

    def issue_comments(self, issue: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue"] == issue]

    def issue_labels(self, issue: int) -> list[str]:
        return list(self.issues[issue]["labels"])

    def pull_reviews(self, number: int) -> list[dict[str, Any]]:
        return list(self.reviews.get(number, []))

    def pull_review_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.review_comments.values() if c["pull"] == number]

    def commit_statuses(self, sha: str) -> list[dict[str, Any]]:
        return list(self.statuses.get(sha, []))

    # -- the HTTP side ---------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        if self.latency_s:
            time.sleep(self.latency_s)
        url = urlsplit(raw_path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        status, out_headers, body = self._dispatch(method, path, query, headers, raw)
        with self._lock:
            self.requests.append((method, path, status))
        out_headers.setdefault("x-ratelimit-limit", "5000")
        out_headers.setdefault("x-ratelimit-remaining", "4999")
        return status, out_headers, body

    def _dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                  raw: bytes) -> tuple[int, dict[str, str], Any]:
        lowered = {k.lower(): v for k, v in headers.items()}
        auth = lowered.get("authorization", "")
        token = auth.split(None, 1)[1] if " " in auth else ""
        if not token:
            return 401, {}, {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}
        identity = self.identities.get(token, self.default_identity if not self.identities else None)
        if identity is None:
            return 401, {}, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}

        fault = None
        with self._lock:
            for candidate in self.faults:
                if candidate.matches(method, path):
                    candidate.times -= 1
                    fault = candidate
                    break
        if fault is not None and not fault.after_create:
            return self._fault_response(fault)
        try:
            status, body = self._route(method, path, query, raw, identity)
        except HttpError as err:
            return err.status, err.headers, err.body
        except Exception as exc:  # a bug in the double: say so instead of dropping the connection
            return 500, {}, {"message": f"double failed: {type(exc).__name__}: {exc}", "status": "500"}
        if fault is not None:
            return self._fault_response(fault)
        return status, {}, body

    def _fault_response(self, fault: Fault) -> tuple[int, dict[str, str], Any]:
        default = {403: "Resource not accessible by integration", 404: "Not Found", 429: "API rate limit exceeded",
                   500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}
        message = fault.message or default.get(fault.status, "Error")
        return fault.status, dict(fault.headers), {"message": message, "documentation_url": DOCS,
                                                    "status": str(fault.status)}

    def _route(self, method: str, path: str, query: dict[str, str], raw: bytes,
               identity: Identity) -> tuple[int, Any]:
        legacy = re.match(rf"^/repos/{re.escape(self.owner)}/{re.escape(self.repo)}/statuses/([0-9a-f]{{4,40}})$", path)
        if legacy and method == "GET":  # still served by GitHub, gone from the description
            return 200, self._status_list(legacy.group(1))
        for op in self._ops:
            if op.method != method:
                continue
            m = op.regex.match(path)
            if not m:
                continue
            params = {k: unquote(v) for k, v in m.groupdict().items()}
            if params.get("owner") != self.owner or params.get("repo") != self.repo:
                raise _not_found()
            args = self._check_params(op, params, query)
            body = self._check_body(op, raw)
            with self._lock:
                result = self._handlers[op.id](identity=identity, body=body, **args)
            return op.spec["status"], result
        raise _not_found()

    def _check_params(self, op: Operation, path_params: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for param in op.spec["parameters"]:
            name, where, schema = param["name"], param["in"], param.get("schema", {})
            source = path_params if where == "path" else query if where == "query" else {}
            if name not in source:
                if param.get("required") and where != "header":
                    raise _unprocessable(f"Invalid request.\n\n\"{name}\" wasn't supplied.")
                continue
            value: Any = source[name]
            if schema.get("type") == "integer":
                if not re.fullmatch(r"-?\d+", value):
                    if where == "path":
                        raise _not_found()
                    raise _unprocessable(f"Invalid request.\n\nFor '{name}', \"{value}\" is not an integer.")
                value = int(value)
            elif schema.get("type") == "boolean":
                value = value == "true"
            errors = sorted(self._validator(f"{op.id}#{name}", schema).iter_errors(value), key=str)
            if errors:
                raise _unprocessable(f"Invalid request.\n\nFor '{name}', {errors[0].message}.")
            args[name.replace("-", "_")] = value
        return args

    def _validator(self, key: str, schema: dict[str, Any]):
        if key not in self._validators:
            self._validators[key] = _validator(schema)
        return self._validators[key]

    def _check_body(self, op: Operation, raw: bytes) -> Any:
        schema = op.spec["body_schema"]
        if not raw.strip():
            if op.spec["body_required"]:
                raise _unprocessable("Invalid request.\n\nNo request body was given.")
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise HttpError(400, {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"}) from None
        if schema is None:
            return body
        if op.id == "issues/add-labels" and isinstance(body, list):
            body = {"labels": body}  # a bare array: not in the description, accepted by GitHub
        errors = list(self._validator(op.id, schema).iter_errors(body))
        if errors:
            best = min(errors, key=lambda e: len(list(e.path)))
            where = "/".join(str(p) for p in best.path)
            detail = f"{best.message}" + (f" (at {where})" if where else "")
            raise _unprocessable(f"Invalid request.\n\n{detail}", errors=[detail])
        return body

    # -- building answers from the documented examples --------------------------------------------
    def _example(self, op_id: str) -> dict[str, Any]:
        spec = next(op.spec for op in self._ops if op.id == op_id)
        example = copy.deepcopy(spec["example"])
        if isinstance(example, list):
            example = example[0] if example else {}
        return example or {}

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def _api(self, rest: str) -> str:
        return f"https://api.github.com/repos/{self.full_name}/{rest}"

    def _html(self, rest: str) -> str:
        return f"https://github.com/{self.full_name}/{rest}"

    def _user(self, who: Identity, template: dict[str, Any] | None = None) -> dict[str, Any]:
        user = copy.deepcopy(template) if template else self._example("issues/create-comment")["user"]
        uid = int(hashlib.sha1(who.login.encode()).hexdigest()[:7], 16)
        user.update({"login": who.login, "id": uid, "node_id": f"U_{uid}", "type": who.type,
                     "url": f"https://api.github.com/users/{who.login}",
                     "html_url": f"https://github.com/{who.login}", "site_admin": False})
        return user

    def _label(self, name: str) -> dict[str, Any]:
        if name not in self.labels:
            label = self._example("issues/list-labels-on-issue")
            lid = self._next_id()
            label.update({"id": lid, "node_id": f"LA_{lid}", "name": name, "color": "ededed", "default": False,
                          "description": None, "url": self._api(f"labels/{name}")})
            label.setdefault("archived_at", None)  # githubkit's model wants it; the description lacks it
            label.setdefault("archived_by", None)
            self.labels[name] = label
        return copy.deepcopy(self.labels[name])

    def _repo_json(self) -> dict[str, Any]:
        repo = self._example("repos/get")
        owner = self._user(Identity(self.owner, "Organization"), repo.get("owner"))
        repo.update({"name": self.repo, "full_name": self.full_name, "owner": owner,
                     "default_branch": self.default_branch, "private": False, "language": "Python",
                     "url": f"https://api.github.com/repos/{self.full_name}",
                     "html_url": f"https://github.com/{self.full_name}"})
        for key in ("source", "parent", "template_repository"):
            repo.pop(key, None)
        return repo

    def _issue_json(self, number: int) -> dict[str, Any]:
        issue = self.issues[number]
        data = self._example("issues/get")
        data.update({
            "id": 10_000 + number, "node_id": f"I_{number}", "number": number, "title": issue["title"],
            "body": issue["body"], "user": self._user(issue["user"], data.get("user")),
            "labels": [self._label(n) for n in issue["labels"]], "state": issue["state"],
            "locked": issue["locked"], "author_association": issue["author_association"],
            "assignee": None, "assignees": [], "milestone": None,
            "comments": len(self.issue_comments(number)), "created_at": issue["created_at"],
            "updated_at": issue["updated_at"], "closed_at": None if issue["state"] == "open" else issue["updated_at"],
            "url": self._api(f"issues/{number}"), "html_url": self._html(f"issues/{number}"),
            "repository_url": f"https://api.github.com/repos/{self.full_name}",
        })
        if issue["pull"] is None:
            data.pop("pull_request", None)
        else:
            data["pull_request"] = {"url": self._api(f"pulls/{number}"), "html_url": self._html(f"pull/{number}"),
                                    "diff_url": self._html(f"pull/{number}.diff"),
                                    "patch_url": self._html(f"pull/{number}.patch"), "merged_at": None}
        return data

    # -- repository ------------------------------------------------------------------------------
    def _get_repo(self, identity: Identity, body: Any, **_: Any) -> dict[str, Any]:
        return self._repo_json()

    def _get_content(self, identity: Identity, body: Any, path: str, ref: str | None = None, **_: Any) -> dict[str, Any]:
        ref = ref or self.default_branch
        text = self.contents.get((ref, path))
        if text is None:
            raise _not_found()
        data = self._example("repos/get-content")
        raw = text.encode()
        sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()
        data.update({"type": "file", "encoding": "base64", "size": len(raw), "name": path.rsplit("/", 1)[-1],
                     "path": path, "content": base64.b64encode(raw).decode(), "sha": sha,
                     "url": self._api(f"contents/{path}?ref={ref}")})
        for key in ("entries", "target", "submodule_git_url"):
            data.pop(key, None)
        return data

    def _get_permission(self, identity: Identity, body: Any, username: str, **_: Any) -> dict[str, Any]:
        data = self._example("repos/get-collaborator-permission-level")
        permission = self.collaborators.get(username, "read")
        data.update({"permission": permission, "role_name": permission,
                     "user": {**self._user(Identity(username), data.get("user")), "role_name": permission}})
        if isinstance(data.get("user"), dict):
            data["user"].setdefault("permissions", {"admin": permission == "admin",
                                                     "push": permission in ("admin", "write"), "pull": True})
        return data

    # -- statuses --------------------------------------------------------------------------------
    def _create_status(self, identity: Identity, body: Any, sha: str, **_: Any) -> dict[str, Any]:
        data = self._example("repos/create-commit-status")
        sid = self._next_id()
        data.update({"id": sid, "node_id": f"SC_{sid}", "state": body["state"], "context": body.get("context", "default"),
                     "description": body.get("description"), "target_url": body.get("target_url"),
                     "creator": self._user(identity, data.get("creator")), "created_at": _now(), "updated_at": _now(),
                     "url": self._api(f"statuses/{sha}")})
        self.statuses.setdefault(sha, []).insert(0, data)
        return data

    def _status_list(self, sha: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.statuses.get(sha, []))

    def _list_statuses(self, identity: Identity, body: Any, ref: str, per_page: int = 30, page: int = 1,
                       **_: Any) -> list[dict[str, Any]]:
        branch = ref.removeprefix("heads/")
        sha = self._branch_sha(branch) or ref
        return self._page(self._status_list(sha), per_page, page)

    # -- issues, comments, labels ----------------------------------------------------------------
    def _issue(self, number: int) -> dict[str, Any]:
        if number not in self.issues:
            raise _not_found()
        return self.issues[number]

    def _get_issue(self, identity: Identity, body: Any, issue_number: int, **_: Any) -> dict[str, Any]:
        self._issue(issue_number)
        return self._issue_json(issue_number)

    @staticmethod
    def _page(items: list[Any], per_page: int, page: int) -> list[Any]:
        start = (page - 1) * per_page
        return items[start:start + per_page]

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        data = self._example("issues/create-comment")
        cid = comment["id"]
        data.update({"id": cid, "node_id": f"IC_{cid}", "body": comment["body"],
                     "user": self._user(comment["user"], data.get("user")),
                     "author_association": comment["author_association"], "created_at": comment["created_at"],
                     "updated_at": comment["updated_at"], "url": self._api(f"issues/comments/{cid}"),
                     "html_url": self._html(f"issues/{comment['issue']}#issuecomment-{cid}"),
                     "issue_url": self._api(f"issues/{comment['issue']}")})
        return data

    def _store_comment(self, issue: int, body: str, who: Identity, association: str) -> dict[str, Any]:
        comment = {"id": self._next_id(), "issue": issue, "body": body, "user": who,
                   "author_association": association, "created_at": _now(), "updated_at": _now()}
        self.comments[comment["id"]] = comment
        return comment

    def _list_comments(self, identity: Identity, body: Any, issue_number: int, per_page: int = 30, page: int = 1,
                       **_: Any) -> list[dict[str, Any]]:
        self._issue(issue_number)
        items = [self._comment_json(c) for c in self.issue_comments(issue_number)]
        return self._page(items, per_page, page)

    def _create_comment(self, identity: Identity, body: Any, issue_number: int, **_: Any) -> dict[str, Any]:
        issue = self._issue(issue_number)
        if issue["locked"]:
            raise HttpError(403, {"message": "Unable to create comment because issue is locked.",
                                  "documentation_url": DOCS, "status": "403"})
        association = "NONE" if identity.type == "Bot" else ("OWNER" if identity.login == self.owner else "COLLABORATOR")
        return self._comment_json(self._store_comment(issue_number, body["body"], identity, association))

    def _update_comment(self, identity: Identity, body: Any, comment_id: int, **_: Any) -> dict[str, Any]:
        comment = self.comments.get(comment_id)
        if comment is None:
            raise _not_found()
        comment["body"] = body["body"]
        comment["updated_at"] = _now()
        return self._comment_json(comment)

    def _add_labels(self, identity: Identity, body: Any, issue_number: int, **_: Any) -> list[dict[str, Any]]:
        issue = self._issue(issue_number)
        for item in body.get("labels", []):
            name = item if isinstance(item, str) else item["name"]
            self._label(name)
            if name not in issue["labels"]:
                issue["labels"].append(name)
                self._labeled(issue_number, name, identity)
        return [self._label(n) for n in issue["labels"]]

    def _labeled(self, issue: int, name: str, who: Identity) -> None:
        eid = self._next_id()
        self.issue_events.setdefault(issue, []).append(
            {"id": eid, "event": "labeled", "label": name, "actor": who, "created_at": _now()})

    def _list_events(self, identity: Identity, body: Any, issue_number: int, per_page: int = 30, page: int = 1,
                     **_: Any) -> list[dict[str, Any]]:
        self._issue(issue_number)
        items = []
        for event in self.issue_events.get(issue_number, []):
            data = self._example("issues/list-events")
            eid = event["id"]
            data.update({"id": eid, "node_id": f"LE_{eid}", "url": self._api(f"issues/events/{eid}"),
                         "actor": self._user(event["actor"], data.get("actor")), "event": event["event"],
                         "commit_id": None, "commit_url": None, "created_at": event["created_at"],
                         "label": {"name": event["label"], "color": "ededed"}})
            items.append(data)
        return self._page(items, per_page, page)

    def _remove_label(self, identity: Identity, body: Any, issue_number: int, name: str, **_: Any) -> list[dict[str, Any]]:
        issue = self._issue(issue_number)
        if name not in issue["labels"]:
            raise HttpError(404, {"message": "Label does not exist", "documentation_url": DOCS, "status": "404"})
        issue["labels"].remove(name)
        return [self._label(n) for n in issue["labels"]]

    def _list_labels(self, identity: Identity, body: Any, issue_number: int, per_page: int = 30, page: int = 1,
                     **_: Any) -> list[dict[str, Any]]:
        issue = self._issue(issue_number)
        return self._page([self._label(n) for n in issue["labels"]], per_page, page)

    # -- branches --------------------------------------------------------------------------------
    def _git(self, *args: str) -> str | None:
        if not self.git_dir:
            return None
        proc = subprocess.run(["git", "--git-dir", self.git_dir, *args], capture_output=True, text=True)
        return proc.stdout if proc.returncode == 0 else None

    def _branch_sha(self, name: str) -> str | None:
        if name in self.branches:
            return self.branches[name]["sha"]
        out = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}")
        return out.strip() if out else None

    def _branch_files(self, base: str, head: str) -> list[dict[str, Any]]:
        if head in self.branches:
            return copy.deepcopy(self.branches[head]["files"])
        out = self._git("diff", "--find-renames", f"refs/heads/{base}...refs/heads/{head}")
        return split_diff(out or "")

    # -- pull requests ---------------------------------------------------------------------------
    def _pull(self, number: int) -> dict[str, Any]:
        if number not in self.pulls:
            raise _not_found()
        pull = self.pulls[number]
        if pull["state"] == "open":
            sha = self._branch_sha(pull["head"]["ref"])
            if sha:
                pull["head"]["sha"] = sha
        return pull

    def _pull_json(self, number: int) -> dict[str, Any]:
        pull = self._pull(number)
        issue = self.issues[number]
        data = self._example("pulls/get")
        repo = self._repo_json()
        head = copy.deepcopy(data.get("head", {}))
        head.update({"ref": pull["head"]["ref"], "sha": pull["head"]["sha"], "label": f"{self.owner}:{pull['head']['ref']}",
                     "repo": repo, "user": repo["owner"]})
        base = copy.deepcopy(data.get("base", {}))
        base.update({"ref": pull["base"]["ref"], "sha": pull["base"]["sha"], "label": f"{self.owner}:{pull['base']['ref']}",
                     "repo": repo, "user": repo["owner"]})
        files = self._branch_files(pull["base"]["ref"], pull["head"]["ref"])
        data.update({
            "id": 20_000 + number, "node_id": f"PR_{number}", "number": number, "title": issue["title"],
            "body": issue["body"], "state": pull["state"], "locked": issue["locked"], "draft": pull["draft"],
            "user": self._user(issue["user"], data.get("user")), "head": head, "base": base,
            "merged": pull["merged"], "merged_at": pull.get("merged_at"), "mergeable": True,
            "labels": [self._label(n) for n in issue["labels"]], "assignee": None, "assignees": [],
            "requested_reviewers": [], "requested_teams": [], "milestone": None, "auto_merge": None,
            "author_association": issue["author_association"], "created_at": issue["created_at"],
            "updated_at": issue["updated_at"], "closed_at": None if pull["state"] == "open" else issue["updated_at"],
            "commits": 1, "additions": sum(f.get("additions", 0) for f in files),
            "deletions": sum(f.get("deletions", 0) for f in files), "changed_files": len(files),
            "comments": len(self.issue_comments(number)), "review_comments": len(self.pull_review_comments(number)),
            "url": self._api(f"pulls/{number}"), "html_url": self._html(f"pull/{number}"),
            "issue_url": self._api(f"issues/{number}"),
        })
        return data

    def _list_pulls(self, identity: Identity, body: Any, state: str = "open", head: str | None = None,
                    base: str | None = None, per_page: int = 30, page: int = 1, **_: Any) -> list[dict[str, Any]]:
        out = []
        for number in sorted(self.pulls, reverse=True):
            pull = self._pull(number)
            if state != "all" and pull["state"] != state:
                continue
            if head and f"{self.owner}:{pull['head']['ref']}" != head and pull["head"]["ref"] != head:
                continue
            if base and pull["base"]["ref"] != base:
                continue
            out.append(self._pull_json(number))
        return self._page(out, per_page, page)

    def _create_pull(self, identity: Identity, body: Any, **_: Any) -> dict[str, Any]:
        head = body["head"].split(":", 1)[-1]
        base = body["base"]
        if self._branch_sha(head) is None:
            raise _unprocessable("Validation Failed", [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if base != self.default_branch and self._branch_sha(base) is None:
            raise _unprocessable("Validation Failed", [{"resource": "PullRequest", "field": "base", "code": "invalid"}])
        for pull in self.pulls.values():
            if pull["head"]["ref"] == head and pull["base"]["ref"] == base and pull["state"] == "open":
                raise _unprocessable("Validation Failed", [{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {self.owner}:{head}."}])
        if "issue" in body:
            raise _unprocessable("Validation Failed", [{"resource": "PullRequest", "field": "issue", "code": "invalid"}])
        number = self._next_number()
        self.issues[number] = {
            "number": number, "title": body.get("title", head), "body": body.get("body") or "", "user": identity,
            "author_association": "NONE" if identity.type == "Bot" else "COLLABORATOR", "labels": [],
            "state": "open", "locked": False, "created_at": _now(), "updated_at": _now(), "pull": number,
        }
        base_sha = self._branch_sha(base) or hashlib.sha1(base.encode()).hexdigest()
        self.pulls[number] = {"head": {"ref": head, "sha": self._branch_sha(head)}, "base": {"ref": base, "sha": base_sha},
                              "state": "open", "draft": bool(body.get("draft")), "merged": False}
        return self._pull_json(number)

    def _get_pull(self, identity: Identity, body: Any, pull_number: int, **_: Any) -> dict[str, Any]:
        return self._pull_json(pull_number)

    def _update_pull(self, identity: Identity, body: Any, pull_number: int, **_: Any) -> dict[str, Any]:
        pull = self._pull(pull_number)
        issue = self.issues[pull_number]
        for key in ("title", "body", "state"):
            if key in body:
                issue[key] = body[key]
        if "state" in body:
            pull["state"] = body["state"]
        if "base" in body:
            pull["base"]["ref"] = body["base"]
        issue["updated_at"] = _now()
        return self._pull_json(pull_number)

    def close_pull(self, number: int, merged: bool = False) -> None:
        """What a person does on GitHub: close (or merge) a pull request."""
        with self._lock:
            pull = self._pull(number)
            pull["state"] = "closed"
            pull["merged"] = merged
            pull["merged_at"] = _now() if merged else None
            self.issues[number]["state"] = "closed"

    def _list_files(self, identity: Identity, body: Any, pull_number: int, per_page: int = 30, page: int = 1,
                    **_: Any) -> list[dict[str, Any]]:
        pull = self._pull(pull_number)
        template = self._example("pulls/list-files")
        out = []
        for entry in self._branch_files(pull["base"]["ref"], pull["head"]["ref"]):
            item = copy.deepcopy(template)
            item.update(entry)
            item["sha"] = hashlib.sha1(entry["filename"].encode()).hexdigest()
            item["blob_url"] = self._html(f"blob/{pull['head']['sha']}/{entry['filename']}")
            item["raw_url"] = self._html(f"raw/{pull['head']['sha']}/{entry['filename']}")
            item["contents_url"] = self._api(f"contents/{entry['filename']}?ref={pull['head']['sha']}")
            if "previous_filename" not in entry:
                item.pop("previous_filename", None)
            out.append(item)
        return self._page(out, per_page, page)

    # -- reviews ---------------------------------------------------------------------------------
    def _resolve_comment(self, files: dict[str, str], comment: dict[str, Any]) -> tuple[str, int]:
        patch = files.get(comment["path"])
        if patch is None:
            raise _unprocessable("Unprocessable Entity", ["Path could not be resolved"])
        right, left, positions = parse_patch_lines(patch)
        if "line" in comment:
            side = comment.get("side", "RIGHT")
            lines = right if side == "RIGHT" else left
            if comment["line"] not in lines:
                raise _unprocessable("Unprocessable Entity", ["Line could not be resolved"])
            if "start_line" in comment:
                start_lines = right if comment.get("start_side", side) == "RIGHT" else left
                if comment["start_line"] not in start_lines or comment["start_line"] > comment["line"]:
                    raise _unprocessable("Unprocessable Entity", ["Start line could not be resolved"])
            return side, comment["line"]
        if "position" in comment:
            if comment["position"] not in positions:
                raise _unprocessable("Unprocessable Entity", ["Position could not be resolved"])
            return positions[comment["position"]]
        raise _unprocessable("Unprocessable Entity", ["Line could not be resolved"])

    def _review_comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        data = self._example("pulls/list-review-comments")
        cid = comment["id"]
        data.update({
            "id": cid, "node_id": f"PRRC_{cid}", "pull_request_review_id": comment["review"],
            "path": comment["path"], "line": comment["line"], "original_line": comment["line"],
            "side": comment["side"], "body": comment["body"], "commit_id": comment["commit_id"],
            "original_commit_id": comment["commit_id"], "user": self._user(comment["user"], data.get("user")),
            "in_reply_to_id": comment.get("in_reply_to"), "created_at": comment["created_at"],
            "updated_at": comment["created_at"], "author_association": comment["association"],
            "url": self._api(f"pulls/comments/{cid}"),
            "html_url": self._html(f"pull/{comment['pull']}#discussion_r{cid}"),
            "pull_request_url": self._api(f"pulls/{comment['pull']}"),
            "start_line": None, "original_start_line": None, "start_side": None, "subject_type": "line",
        })
        if data.get("in_reply_to_id") is None:
            data.pop("in_reply_to_id", None)
        return data

    def add_review_comment(self, pull: int, path: str, line: int, body: str, *, user: str = "octocat",
                           association: str = "OWNER", side: str = "RIGHT") -> int:
        """What a person does on GitHub: comment on a line of a pull request."""
        with self._lock:
            p = self._pull(pull)
            cid = self._next_id()
            self.review_comments[cid] = {"id": cid, "pull": pull, "review": None, "path": path, "line": line,
                                         "side": side, "body": body, "commit_id": p["head"]["sha"],
                                         "user": Identity(user), "association": association, "created_at": _now()}
            return cid

    def add_review(self, pull: int, body: str, *, state: str = "CHANGES_REQUESTED", user: str = "octocat",
                   association: str = "OWNER") -> int:
        """What a person does on GitHub: submit a review of a pull request."""
        with self._lock:
            p = self._pull(pull)
            rid = self._next_id()
            self.reviews.setdefault(pull, []).append({"id": rid, "user": Identity(user), "body": body, "state": state,
                                                      "commit_id": p["head"]["sha"], "submitted_at": _now(),
                                                      "association": association})
            return rid

    def _create_review(self, identity: Identity, body: Any, pull_number: int, **_: Any) -> dict[str, Any]:
        pull = self._pull(pull_number)
        issue = self.issues[pull_number]
        event = body.get("event")
        if event in ("APPROVE", "REQUEST_CHANGES") and issue["user"].login == identity.login:
            what = "approve" if event == "APPROVE" else "request changes on"
            raise _unprocessable("Unprocessable Entity", [f"Can not {what} your own pull request"])
        if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body") and not body.get("comments"):
            raise _unprocessable("Unprocessable Entity", [f"Review body is required when using {event}"])
        commit_id = body.get("commit_id") or pull["head"]["sha"]
        files = {f["filename"]: f.get("patch", "") for f in self._branch_files(pull["base"]["ref"], pull["head"]["ref"])}
        resolved = [self._resolve_comment(files, c) for c in body.get("comments", [])]
        rid = self._next_id()
        state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}.get(event, "PENDING")
        association = "NONE" if identity.type == "Bot" else "COLLABORATOR"
        review = {"id": rid, "user": identity, "body": body.get("body", ""), "state": state, "commit_id": commit_id,
                  "submitted_at": _now(), "association": association}
        self.reviews.setdefault(pull_number, []).append(review)
        for comment, (side, line) in zip(body.get("comments", []), resolved, strict=True):
            cid = self._next_id()
            self.review_comments[cid] = {"id": cid, "pull": pull_number, "review": rid, "path": comment["path"],
                                         "line": line, "side": side, "body": comment["body"], "commit_id": commit_id,
                                         "user": identity, "association": association, "created_at": _now()}
        return self._review_json(pull_number, review)

    def _review_json(self, number: int, review: dict[str, Any]) -> dict[str, Any]:
        data = self._example("pulls/create-review")
        rid = review["id"]
        data.update({"id": rid, "node_id": f"PRR_{rid}", "user": self._user(review["user"], data.get("user")),
                     "body": review["body"], "state": review["state"], "commit_id": review["commit_id"],
                     "submitted_at": review["submitted_at"], "author_association": review["association"],
                     "html_url": self._html(f"pull/{number}#pullrequestreview-{rid}"),
                     "pull_request_url": self._api(f"pulls/{number}")})
        return data

    def _list_reviews(self, identity: Identity, body: Any, pull_number: int, per_page: int = 30, page: int = 1,
                      **_: Any) -> list[dict[str, Any]]:
        self._pull(pull_number)
        return self._page([self._review_json(pull_number, r) for r in self.reviews.get(pull_number, [])], per_page, page)

    def _list_review_comments(self, identity: Identity, body: Any, pull_number: int, per_page: int = 30,
                              page: int = 1, **_: Any) -> list[dict[str, Any]]:
        self._pull(pull_number)
        items = sorted(self.pull_review_comments(pull_number), key=lambda c: c["id"])
        return self._page([self._review_comment_json(c) for c in items], per_page, page)

    def _create_reply(self, identity: Identity, body: Any, pull_number: int, comment_id: int, **_: Any) -> dict[str, Any]:
        self._pull(pull_number)
        parent = self.review_comments.get(comment_id)
        if parent is None or parent["pull"] != pull_number:
            raise _not_found()
        cid = self._next_id()
        reply = {**parent, "id": cid, "body": body["body"], "user": identity, "review": None, "in_reply_to": comment_id,
                 "association": "NONE" if identity.type == "Bot" else "COLLABORATOR", "created_at": _now()}
        self.review_comments[cid] = reply
        return self._review_comment_json(reply)
