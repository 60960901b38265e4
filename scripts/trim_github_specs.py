"""Trim GitHub's official API descriptions to what the fake GitHub (tests/fakegithub/) serves.

Inputs are the npm packages `@octokit/openapi` (the REST description of api.github.com) and
`@octokit/webhooks-schemas` (JSON Schemas of webhook payloads). Install them outside the repo
and point this script at their node_modules:

    mkdir -p /tmp/octokit && cd /tmp/octokit && npm install @octokit/openapi @octokit/webhooks-schemas
    python scripts/trim_github_specs.py /tmp/octokit/node_modules

Writes tests/fakegithub/specs/{api.github.com.trimmed.json, webhooks.trimmed.json}: the kept
operations and event definitions with every component they reference (transitively), minus
prose and examples. Re-run it after changing OPERATIONS or EVENTS and commit the output.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "fakegithub" / "specs"

# (path, method): every REST operation the fake serves.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/user", "get"),
    ("/repos/{owner}/{repo}", "get"),
    ("/repos/{owner}/{repo}/pulls", "get"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "get"),
    ("/repos/{owner}/{repo}/issues", "get"),
    ("/repos/{owner}/{repo}/issues", "post"),
    ("/repos/{owner}/{repo}/issues/{issue_number}", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}", "patch"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "get"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "delete"),
    ("/repos/{owner}/{repo}/statuses/{sha}", "post"),
    ("/repos/{owner}/{repo}/commits/{ref}/statuses", "get"),
    ("/repos/{owner}/{repo}/commits/{ref}/status", "get"),
    ("/repos/{owner}/{repo}/check-runs", "post"),
    ("/repos/{owner}/{repo}/check-runs/{check_run_id}", "get"),
    ("/repos/{owner}/{repo}/check-runs/{check_run_id}", "patch"),
    ("/repos/{owner}/{repo}/collaborators/{username}/permission", "get"),
    ("/repos/{owner}/{repo}/contents/{path}", "get"),
    ("/repos/{owner}/{repo}/git/blobs", "post"),
    ("/repos/{owner}/{repo}/git/blobs/{file_sha}", "get"),
    ("/repos/{owner}/{repo}/git/trees", "post"),
    ("/repos/{owner}/{repo}/git/trees/{tree_sha}", "get"),
    ("/repos/{owner}/{repo}/git/commits", "post"),
    ("/repos/{owner}/{repo}/git/commits/{commit_sha}", "get"),
    ("/repos/{owner}/{repo}/git/ref/{ref}", "get"),
    ("/repos/{owner}/{repo}/git/refs", "post"),
    ("/repos/{owner}/{repo}/git/refs/{ref}", "patch"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}", "get"),
    ("/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", "get"),
    ("/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", "get"),
)

# Webhook events whose payloads tests/fixtures/events/ holds.
EVENTS: tuple[str, ...] = (
    "pull_request$opened",
    "pull_request$reopened",
    "pull_request$synchronize",
    "issue_comment$created",
    "issue_comment$edited",
    "workflow_run$completed",
    "workflow_run$requested",
)

_REF = re.compile(r"^#/(components/\w+|definitions)/(.+)$")
# Prose and examples: not needed to validate, and most of the size.
_DROP_STR_KEYS = {"description", "summary"}
_DROP_KEYS = {"examples", "example", "x-github", "externalDocs", "tags"}


_STATUS = re.compile(r"^([1-5](\d\d|XX)|default)$")


def _strip(node: Any, parent_key: str = "", *, response: bool = False) -> Any:
    if isinstance(node, dict):
        # a Response object must keep its description (required by OpenAPI 3.0)
        response = response or (bool(_STATUS.match(parent_key)) and "$ref" not in node)
        out = {}
        for key, value in node.items():
            # under "properties" the keys are field names (a field may be called "description")
            if parent_key != "properties":
                if key in _DROP_KEYS or (key in _DROP_STR_KEYS and isinstance(value, str) and not response):
                    continue
            out[key] = _strip(value, key)
        return out
    if isinstance(node, list):
        return [_strip(v, parent_key) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _resolve(doc: dict[str, Any], ref: str) -> tuple[tuple[str, ...], Any]:
    m = _REF.match(ref)
    if m is None:
        raise SystemExit(f"unsupported $ref {ref!r}")
    keys = (*m.group(1).split("/"), m.group(2))
    node: Any = doc
    for key in keys:
        node = node[key]
    return keys, node


def _closure(doc: dict[str, Any], roots: Any) -> dict[tuple[str, ...], Any]:
    """Every referenced component, transitively: {key path: stripped node}."""
    kept: dict[tuple[str, ...], Any] = {}
    todo = list(_refs(roots))
    while todo:
        ref = todo.pop()
        keys, node = _resolve(doc, ref)
        if keys in kept:
            continue
        kept[keys] = node = _strip(node, response=keys[:2] == ("components", "responses"))
        todo.extend(_refs(node))
    return kept


def trim_openapi(doc: dict[str, Any], version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, method in OPERATIONS:
        item = doc["paths"][path]
        kept = paths.setdefault(
            path, {k: v for k, v in item.items() if k not in {"get", "post", "put", "patch", "delete"}}
        )
        kept[method] = _strip(item[method])
    out: dict[str, Any] = {
        "openapi": doc["openapi"],
        "info": {
            "title": doc["info"]["title"],
            "version": doc["info"]["version"],
            "x-trimmed-from": f"@octokit/openapi@{version} generated/api.github.com.json by scripts/trim_github_specs.py",
        },
        "servers": doc.get("servers", []),
        "paths": paths,
        "components": {},
    }
    for keys, node in sorted(_closure(doc, paths).items()):
        out["components"].setdefault(keys[1], {})[keys[2]] = node
    return out


def trim_webhooks(doc: dict[str, Any], version: str) -> dict[str, Any]:
    roots = {"oneOf": [{"$ref": f"#/definitions/{name}"} for name in EVENTS]}
    definitions = {keys[1]: node for keys, node in sorted(_closure(doc, roots).items())}
    return {
        "$schema": doc["$schema"],
        "$comment": f"@octokit/webhooks-schemas@{version} schema.json trimmed by scripts/trim_github_specs.py",
        "definitions": definitions,
        **roots,
    }


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "node_modules", type=Path, help="directory holding @octokit/openapi and @octokit/webhooks-schemas"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    octokit = args.node_modules / "@octokit"

    def version(pkg: str) -> str:
        return str(json.loads((octokit / pkg / "package.json").read_text())["version"])

    api = json.loads((octokit / "openapi" / "generated" / "api.github.com.json").read_text(encoding="utf-8"))
    _write(args.out / "api.github.com.trimmed.json", trim_openapi(api, version("openapi")))
    hooks = json.loads((octokit / "webhooks-schemas" / "schema.json").read_text(encoding="utf-8"))
    _write(args.out / "webhooks.trimmed.json", trim_webhooks(hooks, version("webhooks-schemas")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
