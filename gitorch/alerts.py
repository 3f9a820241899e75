"""Budget alerts that reach people, not only the run's own output.

A budget event (spending that reaches ``budget.alert_threshold_pct`` of a limit, or a call that would
pass a limit and pauses the run) is recorded once per period and threshold. The first time, and only
then, ``deliver`` says it where people look:

- inside a GitHub Actions job: a warning annotation (a workflow command on stderr, which the runner
  reads like stdout, so `--json` output stays clean) and a line in the job summary;
- to ``budget.webhook_url``, when set: Slack-compatible JSON (``{"text": ...}``), each attempt bounded
  by ``budget.webhook_timeout_s``, retried under the one retry policy (``gitorch.retry``). A webhook
  that is down or refuses costs a warning in the log and never fails the run;
- the dashboard shows the period's events from the store (``notices``).

The webhook's address is a secret (a Slack webhook URL is its own credential): it is never printed,
logged or stored, and no message names it. What is sent is the alert line, redacted like everything
else that leaves gitorch.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from .errors import ServiceError
from .redact import redact
from .retry import RetryPolicy

log = logging.getLogger("gitorch.alerts")

ATTEMPTS = 3
MAX_RETRY_AFTER_S = 10.0  # a webhook that asks for a longer wait is given up on (the alert is on the dashboard)
TITLE = "gitorch budget"


@dataclass(frozen=True)
class BudgetAlert:
    """One budget event, as recorded: ``kind`` alert or paused, ``scope`` month, day or run."""

    kind: str
    scope: str
    message: str
    period: str
    run_id: str | None = None

    @property
    def headline(self) -> str:
        return "Budget paused" if self.kind == "paused" else "Budget alert"


def deliver(config: Any, alert: BudgetAlert, *, stream: IO[str] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Say ``alert`` to people: the annotation and job summary line inside GitHub Actions, the webhook
    when configured. Returns where it went ("annotation", "summary", "webhook"); never raises."""
    said: list[str] = []
    secrets = config.secrets.values()
    text = redact(f"{alert.headline}: {alert.message}", secrets)
    actions = config.actions
    if actions.running:
        try:
            print(annotation(text), file=stream or sys.stderr, flush=True)
            said.append("annotation")
        except OSError as exc:
            log.warning("budget alert: the annotation could not be written (%s)", exc.strerror or exc)
    if actions.step_summary:
        try:
            with open(actions.step_summary, "a", encoding="utf-8") as fh:
                fh.write(summary_line(text))
            said.append("summary")
        except OSError as exc:
            log.warning("budget alert: the job summary could not be written (%s)", exc.strerror or exc)
    url = config.budget.webhook_url
    if url is not None:
        where = actions.repository or (config.repo_root.name if config.repo_root else "")
        if post(url.get_secret_value(), payload(text, where), timeout_s=config.budget.webhook_timeout_s,
                sleep=sleep):
            said.append("webhook")
    return said


# -- GitHub Actions ---------------------------------------------------------------------------------


def annotation(text: str) -> str:
    """A ``::warning`` workflow command: its data escaped as the runner expects (``%``, CR, LF)."""
    data = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::warning title={TITLE}::{data}"


def summary_line(text: str) -> str:
    """A line of the job summary (Markdown): the alert as a quote, on its own."""
    return f"\n> **{TITLE}:** {' '.join(text.split())}\n\n"


# -- the webhook ------------------------------------------------------------------------------------


def payload(text: str, repository: str = "") -> dict[str, Any]:
    """Slack-compatible: ``text`` is what Slack, Mattermost, Rocket.Chat and most chat webhooks show."""
    where = f" ({repository})" if repository else ""
    return {"text": f"{TITLE}{where}: {text}"}


class _Refused(ServiceError):
    """What the webhook answered, said without its address."""


def post(url: str, body: dict[str, Any], *, timeout_s: float, sleep: Callable[[float], None] = time.sleep,
         attempts: int = ATTEMPTS) -> bool:
    """POST ``body`` as JSON to ``url``: retried on connection errors, timeouts, 408, 429 and 5xx
    (honouring a short ``retry-after``); True when the webhook took it. Never raises, never logs ``url``."""
    data = json.dumps(body).encode("utf-8")

    def attempt() -> None:
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "gitorch"})
        try:
            with _OPENER.open(request, timeout=timeout_s) as answer:
                answer.read(1024)
        except urllib.error.HTTPError as exc:
            status = exc.code
            after = _retry_after(exc.headers.get("retry-after") if exc.headers else None)
            exc.close()
            raise _Refused(f"the webhook answered HTTP {status}", retryable=status in (408, 409, 429) or status >= 500,
                           retry_after_s=after) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            what = "did not answer in time" if isinstance(reason, TimeoutError) or "timed out" in str(reason) \
                else f"could not be reached ({_reason(reason)})"
            raise _Refused(f"the webhook {what}", retryable=True) from None

    policy = RetryPolicy(attempts=attempts, max_retry_after_s=MAX_RETRY_AFTER_S, sleep=sleep)
    try:
        policy.call(attempt)
        return True
    except _Refused as exc:
        log.warning("budget alert: %s%s; the alert stays on the dashboard and in 'gitorch stats'", exc.message,
                    f" after {attempts} attempts" if exc.retryable else "")
    except Exception as exc:  # a webhook must never stop a run, whatever goes wrong on the way
        log.warning("budget alert: the webhook could not be told (%s)", type(exc).__name__)
    return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: a POST turned into a GET elsewhere is not delivery."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _reason(reason: Any) -> str:
    """The cause of a connection failure without any address in it."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return type(reason).__name__


# -- the dashboard ----------------------------------------------------------------------------------


def notices(events: list[dict[str, Any]], secrets: list[str] | tuple[str, ...] = (), limit: int = 5) -> list[dict[str, str]]:
    """The budget events of the period as the dashboard's notices, newest first (at most ``limit``)."""
    shown = []
    for event in reversed(events):
        if event.get("kind") not in ("alert", "paused"):
            continue
        alert = BudgetAlert(event["kind"], event.get("scope") or "", event.get("message") or "",
                            event.get("period") or "", event.get("run_id"))
        shown.append({"level": "error" if alert.kind == "paused" else "warn", "kind": f"budget-{alert.kind}",
                      "scope": alert.scope,
                      "title": alert.headline + ".", "text": redact(alert.message, secrets),
                      "when": str(event.get("created_at") or "")})
        if len(shown) == limit:
            break
    return shown
