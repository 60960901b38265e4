"""GitHub's own descriptions, trimmed (scripts/trim_github_specs.py): validation and complete payloads.

- `validate_exchange` checks one request and the fake's response against the REST description
  (`@octokit/openapi`) with openapi-core and returns the violations as text.
- `conform` completes a payload the fake builds with every field the schema requires that the
  fake does not care about (type-correct placeholders), so responses have GitHub's full shape
  while the fake only spells out what matters (ids, logins, bodies, SHAs, URLs).
- `validate_webhook` checks an event payload against `@octokit/webhooks-schemas`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPECS = Path(__file__).parent / "specs"
REST_SPEC = SPECS / "api.github.com.trimmed.json"
WEBHOOK_SPEC = SPECS / "webhooks.trimmed.json"
PLACEHOLDER_TIME = "2024-01-01T00:00:00Z"


@cache
def rest_description() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(REST_SPEC.read_text(encoding="utf-8"))
    return doc


def _null_in_nullable_enums(node: Any) -> None:
    """`nullable: true` admits null, also next to an `enum` (how GitHub writes its description and
    what its API sends, e.g. a check run's `conclusion` while in progress); openapi-core reads
    OpenAPI 3.0 strictly and would reject null unless the enum lists it."""
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
        for value in node.values():
            _null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _null_in_nullable_enums(value)


@cache
def openapi() -> OpenAPI:
    doc = copy.deepcopy(rest_description())
    doc["servers"] = [{"url": "/"}]  # the fake listens on a random local port
    _null_in_nullable_enums(doc)
    return OpenAPI.from_dict(doc)


@cache
def webhook_schemas() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(WEBHOOK_SPEC.read_text(encoding="utf-8"))
    return doc


def validate_webhook(payload: Mapping[str, Any], event: str) -> list[str]:
    """Errors of `payload` against the webhook definition `event` (e.g. "issue_comment$edited")."""
    doc = webhook_schemas()
    if event not in doc["definitions"]:
        return [f"no webhook definition {event!r} in {WEBHOOK_SPEC.name}"]
    schema = {"$ref": f"#/definitions/{event}", "definitions": doc["definitions"]}
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(payload)]


# ---------------------------------------------------------------- request/response validation


@dataclass
class _Request:
    """openapi-core's request protocol for one recorded request."""

    host_url: str
    path: str
    method: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query), header=Headers(self.headers), cookie=ImmutableMultiDict()
        )


@dataclass
class _Response:
    status_code: int
    data: bytes
    content_type: str
    headers: Headers


def _request(
    host_url: str,
    spec_path: str,
    method: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
) -> _Request:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "application/json")
    return _Request(
        host_url=host_url,
        path=spec_path,
        method=method.lower(),
        query=query,
        headers=headers,
        body=body or None,
        content_type=content_type,
    )


def validate_request(
    *,
    host_url: str,
    spec_path: str,
    method: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
) -> list[str]:
    """Violations of the description by this request ([] when valid).

    `spec_path` is the request path with slashes inside a parameter percent-encoded (a git
    ref such as `heads/feature/x` is one parameter): the description's templates match one
    segment per parameter.
    """
    result = openapi().unmarshal_request(_request(host_url, spec_path, method, query, headers, body))
    return [f"request {method} {spec_path}: {_describe(e)}" for e in result.errors]


def validate_response(
    *, host_url: str, spec_path: str, method: str, status: int, body: bytes, headers: list[tuple[str, str]]
) -> list[str]:
    """Violations of the description by the response to a (valid) request."""
    request = _request(host_url, spec_path, method, [], [], b"")
    response_headers = Headers(headers)
    response = _Response(status, body, response_headers.get("Content-Type", "application/json"), response_headers)
    result = openapi().unmarshal_response(request, response)
    return [f"response {status} to {method} {spec_path}: {_describe(e)}" for e in result.errors]


def validate_schema(name: str, data: Any) -> list[str]:
    """Errors of `data` against one component schema (OpenAPI 3.0 semantics, nullable enums as above)."""
    doc = copy.deepcopy(rest_description())
    _null_in_nullable_enums(doc)
    validator = OAS30Validator(
        {**doc["components"]["schemas"][name], "components": doc["components"]},
        format_checker=OAS30Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[-300:]}" for e in validator.iter_errors(data)
    ]


def _describe(error: BaseException) -> str:
    """The schema errors behind an openapi-core error (paths and messages, not the whole payload)."""
    details: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        for e in getattr(cause, "schema_errors", None) or ():
            where = "/".join(map(str, e.absolute_path)) or "<root>"
            if e.context:  # oneOf/anyOf: say why each option failed, not the whole value
                reasons = sorted(
                    {f"{'/'.join(map(str, c.absolute_path)) or '<root>'}: {c.message[:160]}" for c in e.context}
                )
                details.append(f"{where}: matches no option ({'; '.join(reasons[:6])})")
            else:
                details.append(f"{where}: {e.message[-300:] if len(e.message) > 300 else e.message}")
        cause = cause.__cause__
    return f"{type(error).__name__}: " + ("; ".join(details) if details else str(error)[:400])


# ---------------------------------------------------------------- complete payloads


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    doc = rest_description()
    while "$ref" in schema:
        _, kind, name = schema["$ref"].removeprefix("#/").split("/", 2)
        schema = doc["components"][kind][name]
    return schema


def schema_of(name: str) -> Mapping[str, Any]:
    """A component schema of the REST description, e.g. `schema_of("issue-comment")`."""
    return _resolve({"$ref": f"#/components/schemas/{name}"})


def _object_parts(schema: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Properties and required names of an object schema, through allOf and the first object option."""
    schema = _resolve(schema)
    props: dict[str, Any] = dict(schema.get("properties", {}))
    required: list[str] = list(schema.get("required", []))
    for sub in schema.get("allOf", []):
        p, r = _object_parts(sub)
        props.update(p)
        required += r
    for key in ("anyOf", "oneOf"):
        options = [_resolve(o) for o in schema.get(key, [])]
        objects = [o for o in options if o.get("type") == "object" or "properties" in o]
        if objects:
            p, r = _object_parts(objects[0])
            props.update(p)
            required += r
    return props, required


_FORMATS = {
    "date-time": PLACEHOLDER_TIME,
    "uri": "https://github.invalid/placeholder",
    "email": "nobody@example.invalid",
    "uri-template": "https://github.invalid/placeholder{/x}",
    "date": "2024-01-01",
}


def sample(schema: Mapping[str, Any]) -> Any:
    """The smallest value that satisfies `schema` (nullable → null, enum → first, object → required fields)."""
    schema = _resolve(schema)
    if schema.get("nullable"):
        return None
    if "enum" in schema:
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema or "allOf" in schema:
        props, required = _object_parts(schema)
        return {name: sample(props.get(name, {})) for name in dict.fromkeys(required)}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return sample(schema[key][0])
    if kind == "array":
        return []
    if kind == "string":
        return _FORMATS.get(schema.get("format", ""), "")
    if kind in ("integer", "number"):
        return max(0, schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


def conform(schema: Mapping[str, Any] | str, data: Any) -> Any:
    """`data` with every required field it lacks filled by `sample`, recursively."""
    if isinstance(schema, str):
        schema = schema_of(schema)
    schema = _resolve(schema)
    if isinstance(data, dict):
        props, required = _object_parts(schema)
        out = dict(data)
        for name in required:
            if name not in out:
                out[name] = sample(props.get(name, {}))
        for name, value in out.items():
            if name in props and isinstance(value, dict | list):
                out[name] = conform(props[name], value)
        return out
    if isinstance(data, list) and schema.get("type") == "array":
        return [conform(schema.get("items", {}), item) for item in data]
    return data
