"""Every field of every request body, read from the four services' OpenAPI documents.

The size-limit test and the no-plaintext-after-erasure test both walk the
same documents, so a field added to any request model later is seen by both
without anyone listing it: a string or a list without a maximum fails the
first, a free-text string nobody plants or encrypts fails the second.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi import FastAPI

from avrr_eligibility.main import service as eligibility_service
from avrr_events.web.service import Service
from avrr_intake.main import service as intake_service
from avrr_reintegration.main import service as reintegration_service
from avrr_travel.main import service as travel_service

SERVICES: dict[str, Service] = {
    "intake": intake_service,
    "eligibility": eligibility_service,
    "travel": travel_service,
    "reintegration": reintegration_service,
}

# A pattern that bounds a string's length by itself: anchored, and every quantifier bounded.
_BOUNDED_PATTERN = re.compile(r"\^(?:[^*+{\\]|\\.|\{\d+(?:,\d+)?\})*\$")


@dataclass(frozen=True)
class RequestField:
    """One place in a request body: ``household.[].given_names`` of ``POST /referrals``."""

    service: str
    operation: str  # "POST /referrals"
    path: tuple[str, ...]
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        return ".".join(self.path) or "(body)"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.operation, self.name)

    @property
    def is_string(self) -> bool:
        return self.schema.get("type") == "string"

    @property
    def is_decimal_text(self) -> bool:
        """The string form of a Decimal (pydantic offers ``number`` or ``string``)."""
        return bool(self.schema.get("x-decimal"))

    @property
    def is_coded(self) -> bool:
        """A string whose values are fixed or formatted: an enum, a const, a date, a code."""
        s = self.schema
        if "enum" in s or "const" in s or "format" in s:
            return True
        return bool(s.get("pattern")) and _BOUNDED_PATTERN.fullmatch(s["pattern"]) is not None

    @property
    def is_free_text(self) -> bool:
        """A string a person could type anything into (a pattern like ``^[^/]+$`` included)."""
        return self.is_string and not self.is_coded and not self.is_decimal_text


def openapi_of(service: Service) -> dict[str, Any]:
    """The OpenAPI document of the service's own routes (the operations routes take no body)."""
    app = FastAPI(title=service.title or service.name)
    app.include_router(service.router)
    return app.openapi()


@cache
def documents() -> dict[str, dict[str, Any]]:
    return {name: openapi_of(service) for name, service in SERVICES.items()}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _walk(
    document: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...], depth: int = 0
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    assert depth < 20, f"request schema nested too deep at {path}"
    schema = _resolve(document, schema)
    alternatives = [_resolve(document, s) for s in schema.get("anyOf", schema.get("oneOf", []))]
    decimal = {a.get("type") for a in alternatives} - {"null"} == {"number", "string"}
    # A oneOf beside an object's own properties only states a cross-field rule (the
    # OpenAPI documents say what the validation enforces): the fields are the object's.
    if alternatives and "properties" not in schema:
        for alternative in alternatives:
            if alternative.get("type") == "string" and decimal:
                alternative = {**alternative, "x-decimal": True}
            yield from _walk(document, alternative, path, depth + 1)
        return
    for part in schema.get("allOf", []):
        yield from _walk(document, part, path, depth + 1)
    kind = schema.get("type")
    if kind == "null":
        return
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(document, sub, (*path, name), depth + 1)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(document, schema["additionalProperties"], (*path, "*"), depth + 1)
    if kind == "array":
        yield from _walk(document, schema.get("items", {}), (*path, "[]"), depth + 1)


def request_fields() -> list[RequestField]:
    """Every schema node of every request body of the four services, whatever its media type."""
    found: list[RequestField] = []
    for service, document in documents().items():
        for route, operations in document["paths"].items():
            for method, operation in operations.items():
                body = operation.get("requestBody")
                if not body:
                    continue
                name = f"{method.upper()} {route}"
                # A body may come as JSON, a form with a file, or a file itself (a caseload
                # as CSV or XLSX): every media type's fields count, each field once.
                seen: set[tuple[str, ...]] = set()
                for content in body["content"].values():
                    for path, schema in _walk(document, content["schema"], ()):
                        if path not in seen:
                            seen.add(path)
                            found.append(RequestField(service, name, path, schema))
    return found


def free_text_fields() -> list[RequestField]:
    return [f for f in request_fields() if f.is_free_text]


Key = tuple[str, str, str]


def _operation_pattern(route: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(route)) + "$")


class Planter:
    """Puts a distinct, recognisable value into every free-text field of every request body.

    ``plant`` finds the operation a request goes to, and replaces the value of
    each free-text field the body holds (every item of a list, every value of
    a map) with a value of its own, ASCII so that no encoding can hide it;
    fields in ``allowed`` keep theirs. ``values`` maps each value to the field
    it went into, ``planted`` is every field that received one.
    """

    def __init__(self, tag: str, allowed: Mapping[Key, str]) -> None:
        self.tag = tag
        self.allowed = allowed
        self.values: dict[str, str] = {}
        self.planted: set[Key] = set()
        self.fields: dict[tuple[str, str], list[RequestField]] = {}
        for f in free_text_fields():
            self.fields.setdefault((f.service, f.operation), []).append(f)
        self._routes = [
            (service, method.upper(), _operation_pattern(route), f"{method.upper()} {route}")
            for service, document in documents().items()
            for route, operations in document["paths"].items()
            for method in operations
        ]

    def operation(self, service: str, method: str, path: str) -> str:
        route = path.split("?", 1)[0]
        for s, m, pattern, name in self._routes:
            if s == service and m == method and pattern.match(route):
                return name
        raise AssertionError(f"{method} /{service}{path} is in no OpenAPI document")

    def plant(self, service: str, method: str, path: str, body: Any) -> Any:
        operation = self.operation(service, method, path)
        body = copy.deepcopy(body)
        for f in self.fields.get((service, operation), []):
            if f.key in self.allowed:
                continue

            def value(f: RequestField = f) -> str:
                text = f"Pl{self.tag}{len(self.values):03d}q"
                pattern = f.schema.get("pattern")
                if pattern and not re.search(pattern, text):
                    text += "00000000"  # a number needs digits (a phone: eight)
                self.values[text] = f"{f.service} {f.operation} {f.name}"
                return text

            if _put(body, f.path, value):
                self.planted.add(f.key)
        return body


def _put(node: Any, path: tuple[str, ...], value: Callable[[], str]) -> int:
    """Replace the strings at ``path`` inside ``node``; how many were replaced."""
    head, rest = path[0], path[1:]
    if head in ("[]", "*"):
        slots: list[Any] = (
            list(range(len(node)))
            if head == "[]" and isinstance(node, list)
            else list(node)
            if head == "*" and isinstance(node, dict)
            else []
        )
    else:
        slots = [head] if isinstance(node, dict) and head in node else []
    count = 0
    for slot in slots:
        if not rest:
            if isinstance(node[slot], str):
                node[slot] = value()
                count += 1
        else:
            count += _put(node[slot], rest, value)
    return count
