"""GitHub events benchmark: what a stranger's comment costs, and what catching up costs a job.

Run: python bench/github_events.py [--repeat N] [--comments 0,100,1000] [--missed 10]

(a) A stranger's `/gitorch proceed` and gitorch's own marked comment: requests to GitHub (target: 0)
    and the time `gitorch action` spends on them in-process (median of N).
(b) A trusted `/gitorch status` on an issue with 0, 100 and 1,000 comments before it, all answered
    already: the requests the job makes (one list call per hundred comments, plus the command's own)
    and its time, median of N.
(c) The same job when the last M commands before it were never answered (their jobs were cancelled):
    the requests and time to answer all of them, then its own.

Everything runs against the local GitHub double (loopback); no key, no network.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitorch import config as config_module  # noqa: E402
from gitorch.commands.action import run_action  # noqa: E402
from gitorch.simulate.github_api import GitHubDouble  # noqa: E402
from gitorch.store.sqlite import SqliteStore  # noqa: E402

TOKEN = "ghs_" + "b" * 36
EXAMPLES = ROOT / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"


def comment_payload(template: dict, gh: GitHubDouble, issue: int, cid: int, body: str, association: str,
                    login: str, user_type: str = "User") -> dict:
    payload = copy.deepcopy(template)
    payload["repository"]["full_name"] = gh.full_name
    payload["issue"].update(number=issue, state="open", locked=False, labels=[])
    payload["issue"].pop("pull_request", None)
    created = gh.comments[cid]["created_at"] if cid in gh.comments else payload["comment"]["created_at"]
    payload["comment"].update(id=cid, body=body, author_association=association, created_at=created)
    payload["comment"]["user"].update(login=login, type=user_type)
    payload["sender"].update(login=login, type=user_type)
    return payload


def job(gh: GitHubDouble, folder: Path, store: SqliteStore, payload: dict) -> tuple[float, int, str]:
    event = folder / "event.json"
    event.write_text(json.dumps(payload))
    cfg = config_module.load(cwd=folder, env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url,
                                              "GITORCH_HOME": str(folder / "state")})
    env = config_module.ActionEnv(event_name="issue_comment", event_path=str(event), repository=gh.full_name)
    before = len(gh.requests)
    started = time.perf_counter()
    outcome = run_action(cfg, env, store=store)
    return time.perf_counter() - started, len(gh.requests) - before, outcome.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--comments", default="0,100,1000")
    parser.add_argument("--missed", type=int, default=10)
    args = parser.parse_args()
    template = next(p for e in json.loads(EXAMPLES.read_text()) if e["name"] == "issue_comment"
                    for p in e["examples"] if p["action"] == "created")
    logging_off()
    with tempfile.TemporaryDirectory(prefix="gitorch-bench-") as tmp, GitHubDouble() as gh:
        folder = Path(tmp)
        os.chdir(folder)
        with SqliteStore(folder / "state.db") as store:
            issue = gh.add_issue("Add a flag")
            print("(a) payload-only refusals")
            for name, payload in [
                ("stranger's /gitorch proceed",
                 comment_payload(template, gh, issue, 1, "/gitorch proceed", "NONE", "mallory")),
                ("gitorch's own comment",
                 comment_payload(template, gh, issue, 2, "<!-- gitorch:comment reply-1 -->\n/gitorch status", "NONE",
                                 "github-actions[bot]", "Bot"))]:
                runs = [job(gh, folder, store, payload) for _ in range(args.repeat)]
                print(f"    {name:30} {runs[0][2]:8}  requests {max(r[1] for r in runs)}  "
                      f"median {statistics.median(r[0] for r in runs) * 1000:.1f} ms")

            print("(b) a trusted /gitorch status, everything before it answered")
            for count in [int(n) for n in args.comments.split(",")]:
                issue = gh.add_issue(f"Issue with {count} comments")
                for i in range(count):
                    gh.add_comment(issue, f"plain comment {i}", user="someone", association="NONE")
                runs = []
                for _ in range(args.repeat):
                    cid = gh.add_comment(issue, "/gitorch status", user="octocat", association="OWNER")
                    runs.append(job(gh, folder, store, comment_payload(template, gh, issue, cid, "/gitorch status",
                                                                       "OWNER", "octocat")))
                print(f"    {count:5} comments: requests {statistics.median(r[1] for r in runs):.0f}  "
                      f"median {statistics.median(r[0] for r in runs) * 1000:.1f} ms")

            print(f"(c) the same job with the {args.missed} commands before it never answered")
            runs = []
            for _ in range(args.repeat):
                issue = gh.add_issue("Issue with missed commands")
                for _ in range(args.missed):
                    gh.add_comment(issue, "/gitorch status", user="octocat", association="OWNER")
                cid = gh.add_comment(issue, "/gitorch status", user="octocat", association="OWNER")
                runs.append(job(gh, folder, store, comment_payload(template, gh, issue, cid, "/gitorch status",
                                                                   "OWNER", "octocat")))
            print(f"    requests {statistics.median(r[1] for r in runs):.0f}  "
                  f"median {statistics.median(r[0] for r in runs) * 1000:.1f} ms "
                  f"({statistics.median(r[0] for r in runs) * 1000 / (args.missed + 1):.1f} ms per command)")


def logging_off() -> None:
    import logging

    logging.disable(logging.INFO)


if __name__ == "__main__":
    main()
