"""The demo's workload: the original design's email-notification example.

A small shop repository, the issue a person files, the plan Claude writes (five generation tasks for
the builder), the builder's answers (two of them left unfinished, so the review rejects them), and
the answers to the fix round. The stand-ins play these; gitorch itself runs for real.
"""

from __future__ import annotations

import re

ISSUE_TITLE = "Email customers when their order ships"
ISSUE_BODY = """When an order is marked as shipped, the customer should get an email with the
tracking number. Customers who opted out of emails must not get one. Add tests."""

REPO_FILES: dict[str, str] = {
    "README.md": "# shop\n\nA very small shop: users, orders, shipping.\n",
    "shop/__init__.py": "",
    "shop/users.py": '''from dataclasses import dataclass


@dataclass
class User:
    id: int
    name: str
    email: str
    wants_email: bool = True
''',
    "shop/orders.py": '''from dataclasses import dataclass, field


@dataclass
class Order:
    id: int
    user_id: int
    items: list[str] = field(default_factory=list)
    status: str = "new"
    tracking_number: str | None = None


def ship(order: Order, tracking_number: str) -> Order:
    """Mark ``order`` as shipped with its tracking number."""
    if order.status == "cancelled":
        raise ValueError(f"order {order.id} is cancelled")
    order.status = "shipped"
    order.tracking_number = tracking_number
    return order
''',
    "tests/__init__.py": "",
    "tests/test_orders.py": '''import pytest

from shop.orders import Order, ship


def test_ship_sets_status_and_tracking():
    order = ship(Order(id=1, user_id=7), "TRACK-1")
    assert order.status == "shipped" and order.tracking_number == "TRACK-1"


def test_cancelled_orders_do_not_ship():
    with pytest.raises(ValueError):
        ship(Order(id=2, user_id=7, status="cancelled"), "TRACK-2")
''',
}

PLAN: dict = {
    "summary": "Send a shipping email through a small notifications package: a template, a mailer "
               "interface with an in-memory mailer, an opt-out check, a service that ties them to "
               "shipping, and tests. The builder writes all five; Claude reviews the whole.",
    "tasks": [
        {"id": "t1", "description": "Write shop/notifications/templates.py: shipped_email(order, user) "
         "returns (subject, body) naming the order and its tracking number.",
         "files": ["shop/notifications/templates.py"], "assigned_to": "chatgpt-pro", "depends_on": [],
         "estimated_lines": 20, "task_type": "code_generation"},
        {"id": "t2", "description": "Write shop/notifications/mailer.py: a Mailer protocol with "
         "send(to, subject, body) and an InMemoryMailer that keeps sent messages.",
         "files": ["shop/notifications/mailer.py"], "assigned_to": "chatgpt-pro", "depends_on": [],
         "estimated_lines": 25, "task_type": "code_generation"},
        {"id": "t3", "description": "Write shop/notifications/preferences.py: should_email(user) is "
         "false for users who opted out or have no email address.",
         "files": ["shop/notifications/preferences.py"], "assigned_to": "chatgpt-pro", "depends_on": [],
         "estimated_lines": 10, "task_type": "code_generation"},
        {"id": "t4", "description": "Write shop/notifications/__init__.py with notify_shipped(order, user, "
         "mailer) that sends the shipped email when should_email(user).",
         "files": ["shop/notifications/__init__.py"], "assigned_to": "chatgpt-pro",
         "depends_on": ["t1", "t2", "t3"], "estimated_lines": 20, "task_type": "code_generation"},
        {"id": "t5", "description": "Write tests/test_notifications.py covering the email, the opt-out "
         "and a user without an email address.",
         "files": ["tests/test_notifications.py"], "assigned_to": "chatgpt-pro", "depends_on": ["t4"],
         "estimated_lines": 40, "task_type": "code_generation"},
    ],
}

_TEMPLATES = '''def shipped_email(order, user) -> tuple[str, str]:
    """The subject and body of the email sent when ``order`` ships."""
    subject = f"Your order #{order.id} has shipped"
    body = (
        f"Hello {user.name},\\n\\n"
        f"Good news: order #{order.id} is on its way.\\n"
        f"Tracking number: {order.tracking_number}\\n"
    )
    return subject, body
'''

_MAILER_UNFINISHED = '''from typing import Protocol


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class InMemoryMailer:
    """Keeps what it sends, for tests and dry runs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> None:
        # TODO: validate the address before sending
        self.sent.append((to, subject, body))
'''

_MAILER_FIXED = '''from typing import Protocol


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class InMemoryMailer:
    """Keeps what it sends, for tests and dry runs."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to: str, subject: str, body: str) -> None:
        if "@" not in to:
            raise ValueError(f"not an email address: {to!r}")
        self.sent.append((to, subject, body))
'''

_PREFERENCES_UNFINISHED = '''def should_email(user) -> bool:
    """Whether ``user`` may get notification emails."""
    raise NotImplementedError
'''

_PREFERENCES_FIXED = '''def should_email(user) -> bool:
    """Whether ``user`` may get notification emails: not when they opted out or have no address."""
    return bool(user.wants_email and user.email)
'''

_SERVICE = '''from .mailer import InMemoryMailer, Mailer
from .preferences import should_email
from .templates import shipped_email

__all__ = ["InMemoryMailer", "Mailer", "notify_shipped"]


def notify_shipped(order, user, mailer: Mailer) -> bool:
    """Email ``user`` that ``order`` shipped. Returns whether an email was sent."""
    if not should_email(user):
        return False
    subject, body = shipped_email(order, user)
    mailer.send(user.email, subject, body)
    return True
'''

_TESTS = '''from shop.notifications import InMemoryMailer, notify_shipped
from shop.orders import Order, ship
from shop.users import User


def shipped_order():
    return ship(Order(id=42, user_id=1), "TRACK-42")


def test_customer_gets_an_email_with_the_tracking_number():
    mailer = InMemoryMailer()
    assert notify_shipped(shipped_order(), User(1, "Ada", "ada@example.com"), mailer)
    (to, subject, body), = mailer.sent
    assert to == "ada@example.com" and "#42" in subject and "TRACK-42" in body


def test_no_email_for_customers_who_opted_out():
    mailer = InMemoryMailer()
    assert not notify_shipped(shipped_order(), User(2, "Bo", "bo@example.com", wants_email=False), mailer)
    assert mailer.sent == []


def test_no_email_without_an_address():
    mailer = InMemoryMailer()
    assert not notify_shipped(shipped_order(), User(3, "Cy", ""), mailer)
'''

# The builder's answers: the first time each file is asked for, and for the fix round.
ANSWERS: dict[str, str] = {
    "shop/notifications/templates.py": _TEMPLATES,
    "shop/notifications/mailer.py": _MAILER_UNFINISHED,
    "shop/notifications/preferences.py": _PREFERENCES_UNFINISHED,
    "shop/notifications/__init__.py": _SERVICE,
    "tests/test_notifications.py": _TESTS,
}
FIXES: dict[str, str] = {
    "shop/notifications/mailer.py": _MAILER_FIXED,
    "shop/notifications/preferences.py": _PREFERENCES_FIXED,
}


def _whole_file(path: str, content: str) -> str:
    return f"Here is `{path}`:\n\n{path}\n```python\n{content}```\n"


def builder_answer(prompt: str) -> str:
    """What the scripted builder answers to ``prompt``: the file its task names, finished or not."""
    task = prompt.split("## Task", 1)[-1].split("\n## ", 1)[0]
    fixing = bool(re.search(r"\b(Finish|Fix)\b", task))
    for path in sorted(ANSWERS, key=len, reverse=True):
        if path in task:
            if fixing and path in FIXES:
                return _whole_file(path, FIXES[path])
            return _whole_file(path, ANSWERS[path])
    return "I could not tell which file this task is about."
