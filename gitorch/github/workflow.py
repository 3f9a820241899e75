"""What `gitorch init` sets up for GitHub: the example workflow, and the runner label in actionlint's
settings so that the user's own actionlint accepts ``runs-on: [self-hosted, gitorch]``.

actionlint knows GitHub's hosted labels only; a custom one must be listed under
``self-hosted-runner: labels:`` in ``.github/actionlint.yaml`` (or ``.yml``), else it reports
``label "gitorch" is unknown [runner-label]``. An existing file is extended in place (its comments,
keys and other labels kept); one gitorch cannot read or extend safely is left untouched, with an error
that says what to add by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..errors import GitorchError

RUNNER_LABEL = "gitorch"
WORKFLOW_PATH = Path(".github") / "workflows" / "gitorch.yml"
LINT_NAMES = ("actionlint.yaml", "actionlint.yml")  # the names actionlint reads from .github/
MAX_LINT_BYTES = 256 * 1024  # an actionlint settings file is a few lines

NEW_LINT_CONFIG = f"""\
# actionlint settings: the label of the self-hosted runner gitorch's workflow runs on.
self-hosted-runner:
  labels:
    - {RUNNER_LABEL}
"""


def example_workflow() -> str:
    return resources.files("gitorch").joinpath("workflow.example.yml").read_text(encoding="utf-8")


@dataclass
class LintPlan:
    """What to do to actionlint's settings: ``text`` to write at ``path`` (None: already fine)."""

    path: Path
    text: str | None
    action: str  # "write", "extend", "keep"


def lint_config_plan(root: Path, label: str = RUNNER_LABEL) -> LintPlan:
    """The settings file under ``root/.github`` with ``label`` among the runner labels; nothing is
    written here, so a file that cannot be extended stops `gitorch init` before it writes anything."""
    folder = root / ".github"
    path = next((folder / name for name in LINT_NAMES if (folder / name).exists()), folder / LINT_NAMES[0])
    if not path.exists():
        return LintPlan(path, NEW_LINT_CONFIG, "write")
    by_hand = f"add '{label}' under 'self-hosted-runner: labels:' in {path} by hand, or fix the file and run init again"
    if not path.is_file():
        raise GitorchError(f"{path} is not a file", hint=by_hand)
    raw = path.read_bytes()
    if len(raw) > MAX_LINT_BYTES:
        raise GitorchError(f"{path} is {len(raw):,} bytes, more than the {MAX_LINT_BYTES:,} an actionlint settings "
                           "file needs; gitorch left it as it is", hint=by_hand)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GitorchError(f"{path} is not UTF-8 text (byte {exc.start}); gitorch left it as it is",
                           hint=by_hand) from None
    try:
        root_node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise GitorchError(f"{path} is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}; gitorch left it "
                           "as it is", hint=by_hand) from None
    if root_node is None or (isinstance(root_node, yaml.ScalarNode) and not root_node.value.strip()):
        return LintPlan(path, text.rstrip("\n") + ("\n" if text.strip() else "") + NEW_LINT_CONFIG, "extend")
    if not isinstance(root_node, yaml.MappingNode):
        raise GitorchError(f"{path} holds a {_kind(root_node)}, not the mapping actionlint reads; gitorch left it as "
                           "it is", hint=by_hand)
    runner = _value(root_node, "self-hosted-runner")
    if runner is None:
        body = NEW_LINT_CONFIG.split("\n", 1)[1]  # without the comment line
        return LintPlan(path, text.rstrip("\n") + "\n" + body, "extend")
    labels = _value(runner, "labels") if isinstance(runner, yaml.MappingNode) else None
    if not isinstance(labels, yaml.SequenceNode) or not all(isinstance(n, yaml.ScalarNode) for n in labels.value):
        raise GitorchError(f"{path}: 'self-hosted-runner' has no 'labels:' list gitorch can extend; gitorch left it "
                           "as it is", hint=by_hand)
    if any(n.value == label for n in labels.value):
        return LintPlan(path, None, "keep")
    return LintPlan(path, _append(text, labels, label), "extend")


def _kind(node: yaml.Node) -> str:
    return {yaml.ScalarNode: "single value", yaml.SequenceNode: "list"}.get(type(node), "value")


def _value(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    return next((v for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _append(text: str, labels: yaml.SequenceNode, label: str) -> str:
    """``text`` with ``label`` added to the ``labels`` sequence, as its own style writes it."""
    if labels.flow_style:  # labels: [a, b]
        close = text.rindex("]", 0, labels.end_mark.index)
        sep = ", " if labels.value else ""
        return text[:close] + sep + label + text[close:]
    lines = text.splitlines(keepends=True)
    last = labels.value[-1].end_mark.line
    if lines[last] and not lines[last].endswith("\n"):
        lines[last] += "\n"
    lines.insert(last + 1, " " * labels.start_mark.column + f"- {label}\n")
    return "".join(lines)
