"""Checks recorded HTTP exchanges against OpenAI's published OpenAPI description (vendored beside this file).

OpenAPI 3.1 schemas are JSON Schema 2020-12, so jsonschema validates them directly; the whole document is
registered as one resource so every ``#/components/...`` reference resolves.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "openai-openapi" / "openapi.yaml"
SPEC_URI = "urn:openai-openapi"


@functools.cache
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as handle:
        document = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    _nullable_to_type(document)
    return document


def _nullable_to_type(node: Any) -> None:
    """Reads the few OpenAPI 3.0 idioms left in the file as 3.1 (JSON Schema 2020-12) means them.

    ``nullable: true`` becomes ``null`` among the types (or beside a ``$ref``); a boolean
    ``exclusiveMinimum``/``Maximum`` becomes the numeric bound (as a boolean, 2020-12 would read ``true``
    as the number 1).
    """
    if isinstance(node, dict):
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(node.get(bound), bool):
                if node[bound] and limit in node:
                    node[bound] = node.pop(limit)
                else:
                    del node[bound]
        if node.get("nullable") is True and "$ref" in node and "type" not in node:
            # A nullable reference: the referenced schema, or null.
            node["anyOf"] = [{"$ref": node.pop("$ref")}, {"type": "null"}]
        if node.get("nullable") is True and "type" in node:
            kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
            node["type"] = [*kinds, "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        for value in node.values():
            _nullable_to_type(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_to_type(value)


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource(contents=spec(), specification=DRAFT202012))


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\{[^/]+\}", "[^/]+", template)
        routes.append((re.compile(f"^{pattern}$"), template))
    # Literal routes before templated ones, so /files/{id}/content never loses to /files/{id}.
    return sorted(routes, key=lambda r: r[1].count("{"))


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]]:
    relative = path.removeprefix("/v1")
    for pattern, template in _routes():
        if pattern.match(relative):
            operation = spec()["paths"][template].get(method.lower())
            if operation is not None:
                return template, operation
    raise LookupError(f"{method} {path} is not in OpenAI's OpenAPI description")


def _errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    wrapped = {"$id": "urn:check", "$defs": {}, "allOf": [_rebase(schema)]}
    validator = Draft202012Validator(wrapped, registry=_registry())
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message[:300]}"
        for error in validator.iter_errors(instance)
    ]


def _rebase(schema: Any) -> Any:
    """Point local references at the registered document."""
    if isinstance(schema, dict):
        return {
            key: (SPEC_URI + value if key == "$ref" and value.startswith("#") else _rebase(value))
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(value) for value in schema]
    return schema


def request_problems(exchange: dict[str, Any]) -> list[str]:
    template, operation = operation_for(exchange["method"], exchange["path"])
    problems = []
    declared = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
    for key in exchange.get("query") or {}:
        if key.split("[", 1)[0] not in declared:
            problems.append(f"query parameter {key!r} is not declared for {template}")
    body = exchange.get("body")
    content = (operation.get("requestBody") or {}).get("content") or {}
    if body is not None:
        media = content.get("application/json") or content.get("multipart/form-data")
        if media is None:
            problems.append(f"{template} takes no body")
        else:
            problems += _errors(body, media["schema"])
    elif (operation.get("requestBody") or {}).get("required"):
        problems.append(f"{template} requires a body")
    return problems


def response_problems(exchange: dict[str, Any]) -> list[str]:
    template, operation = operation_for(exchange["method"], exchange["path"])
    status = str(exchange["status"])
    body = exchange.get("response")
    if body is None:
        return []  # raw bytes (file content): the spec gives no JSON schema to check
    if not status.startswith("2"):
        return _errors(body, {"$ref": "#/components/schemas/ErrorResponse"})
    response = operation["responses"].get(status) or operation["responses"].get("default")
    if response is None:
        return [f"{template} declares no {status} response"]
    media = (response.get("content") or {}).get("application/json")
    if media is None:
        return [f"{template} declares no JSON body for {status}"]
    return _errors(body, media["schema"])


def stream_problems(exchange: dict[str, Any]) -> list[str]:
    """Each chunk of a streamed chat completion against OpenAI's chunk schema."""
    schema = {"$ref": "#/components/schemas/CreateChatCompletionStreamResponse"}
    return [
        f"chunk {index}: {problem}"
        for index, chunk in enumerate(exchange.get("stream") or [])
        for problem in _errors(chunk, schema)
    ]
