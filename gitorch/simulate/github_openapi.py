"""The part of GitHub's published OpenAPI description that gitorch uses, shipped with the package.

``@octokit/openapi`` (npm; ``generated/api.github.com.json``) is 13 MB and lives in node_modules,
which an installed gitorch does not have. ``extract`` keeps only the operations listed below, with
every ``$ref`` resolved: path template, parameters, request body schema and the documented example
of the success response (the REST double fills its answers from it). The result is
``github_openapi.json`` beside this module; a test checks it still matches the npm package.

Regenerate with ``python -m gitorch.simulate.github_openapi node_modules/@octokit/openapi/generated/api.github.com.json``.
"""

from __future__ import annotations

import copy
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

SUBSET_FILE = Path(__file__).with_name("github_openapi.json")

# Every REST operation gitorch calls, by operationId.
OPERATIONS: tuple[str, ...] = (
    "repos/get",
    "repos/get-content",
    "repos/get-collaborator-permission-level",
    "repos/create-commit-status",
    "repos/list-commit-statuses-for-ref",
    "issues/get",
    "issues/list-comments",
    "issues/create-comment",
    "issues/update-comment",
    "issues/add-labels",
    "issues/remove-label",
    "issues/list-labels-on-issue",
    "issues/list-events",
    "pulls/list",
    "pulls/create",
    "pulls/get",
    "pulls/update",
    "pulls/list-files",
    "pulls/create-review",
    "pulls/list-reviews",
    "pulls/list-review-comments",
    "pulls/create-reply-for-review-comment",
)


def _resolve(node: Any, root: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at (cycles cut to ``{}``)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in seen:
                return {}
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _resolve(target, root, (*seen, ref))
        return {k: _resolve(v, root, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, seen) for v in node]
    return node


def _strip_docs(schema: Any) -> Any:
    """Drop prose and examples from a schema: they weigh a lot and validate nothing."""
    if isinstance(schema, dict):
        return {k: _strip_docs(v) for k, v in schema.items()
                if k not in ("description", "example", "examples", "externalDocs", "title")}
    if isinstance(schema, list):
        return [_strip_docs(v) for v in schema]
    return schema


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``spec`` (the full description) for ``OPERATIONS``."""
    found: dict[str, Any] = {}
    for template, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or op.get("operationId") not in OPERATIONS:
                continue
            params = [_strip_docs(_resolve(p, spec)) for p in (*item.get("parameters", ()), *op.get("parameters", ()))]
            body = op.get("requestBody")
            body_schema = None
            body_required = False
            if body:
                body = _resolve(body, spec)
                body_required = bool(body.get("required"))
                body_schema = _strip_docs(body["content"]["application/json"]["schema"])
            status = next(code for code in op["responses"] if code.startswith("2"))
            response = _resolve(op["responses"][status], spec)
            example = None
            content = response.get("content", {}).get("application/json", {})
            examples = content.get("examples") or {}
            if examples:
                example = next(iter(examples.values())).get("value")
                # an example may point at a components/examples entry, itself {"value": ...}
                while isinstance(example, dict) and "value" in example and not set(example) - {
                        "value", "summary", "description", "x-github-breaking-changes"}:
                    example = example["value"]
            found[op["operationId"]] = {
                "method": method.upper(),
                "path": template,
                "parameters": params,
                "body_schema": body_schema,
                "body_required": body_required,
                "status": int(status),
                "example": example,
            }
    missing = sorted(set(OPERATIONS) - set(found))
    if missing:
        raise ValueError(f"operations missing from the description: {', '.join(missing)}")
    return {"source": spec.get("info", {}).get("version", ""), "operations": found}


@cache
def _subset_cached() -> dict[str, Any]:
    return json.loads(SUBSET_FILE.read_text(encoding="utf-8"))


def operations() -> dict[str, Any]:
    """The shipped subset, keyed by operationId (a fresh copy each call)."""
    return copy.deepcopy(_subset_cached()["operations"])


def main(argv: list[str]) -> None:
    spec_path = Path(argv[0]) if argv else Path("node_modules/@octokit/openapi/generated/api.github.com.json")
    subset = extract(json.loads(spec_path.read_text(encoding="utf-8")))
    SUBSET_FILE.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {SUBSET_FILE} ({len(subset['operations'])} operations)")


if __name__ == "__main__":
    main(sys.argv[1:])
