"""Every refusal a person reads is a catalog message, answered in their language.

Issue 19: reason-bearing responses honour Accept-Language. A refusal raised
with a plain English ``detail`` can only ever be answered in English, so this
test reads each service's code and fails on any ``raise`` of a problem
(``avrr_events.problems.Problem`` or a subclass, the service's own included)
that passes its detail as text instead of ``wording=`` (a ``Wording``: a
gettext message of the service's catalog and its facts, worded for the reader
by the problem handler). ``test_translations`` then checks that every such
message is translated into every required language.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from avrr_events.problems import RESERVED_MEMBERS, Problem
from avrr_events.testing import parsed

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "eligibility", "travel", "reintegration")


def _problem_classes() -> set[str]:
    def below(cls: type) -> Iterator[type]:
        sub: type
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return {"Problem", *(c.__name__ for c in below(Problem))}


def problems_raised(package: Path, problems: set[str]) -> Iterator[tuple[str, ast.Call]]:
    """``file:line`` and the call of each ``raise SomeProblem(...)`` under ``package``."""
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(parsed(path)):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in problems:
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node.exc


def worded_in_english_only(package: Path, problems: set[str]) -> list[str]:
    """``file:line`` of each ``raise SomeProblem("text" | detail=...)`` under ``package``."""
    return [
        where
        for where, call in problems_raised(package, problems)
        if call.args or any(k.arg == "detail" for k in call.keywords)
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_every_refusal_of_the_service_is_a_catalog_message(service: str) -> None:
    importlib.import_module(f"avrr_{service}.main")  # every module, so every Problem subclass
    package = ROOT / "services" / service / f"avrr_{service}"
    english_only = worded_in_english_only(package, _problem_classes())
    assert not english_only, (
        f"{len(english_only)} refusals of {service} can only be answered in English: "
        "raise them with wording=worded(N_(...), **facts) and translate the message "
        "(make messages-update, then the .po files, then make messages-compile): "
        + ", ".join(english_only)
    )


@pytest.mark.parametrize("package", [*(f"services/{s}/avrr_{s}" for s in SERVICES), "libs/events"])
def test_no_refusal_names_an_extension_after_a_member_of_the_problem(package: str) -> None:
    """An extension called ``status`` (or type, title, detail, instance, code) would be the
    problem's own member twice: acknowledging a resolved feedback item answered 500 so
    instead of its 409. ``Problem`` refuses such a name when raised; this finds every raise
    that would, whether or not a test reaches it."""
    for service in SERVICES:
        importlib.import_module(f"avrr_{service}.main")
    found = [
        f"{where} {keyword.arg}"
        for where, call in problems_raised(ROOT / package, _problem_classes())
        for keyword in call.keywords
        if keyword.arg in RESERVED_MEMBERS
    ]
    assert not found, found


# ------------------------------------------------------ validation reasons --
# A 422's reasons are read by the same person (avrr_events.validation): a reason given to
# invalid_field as text, or a request validator's plain ValueError, could only be English.


def _text(node: ast.expr) -> bool:
    """Whether ``node`` is English text written in the code (a literal, an f-string, or
    one made of them), rather than a ``Wording`` or a third party's message."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _text(node.left) or _text(node.right)
    return False


def invalid_fields_in_english(package: Path) -> list[str]:
    """``file:line`` of each ``invalid_field(field, "text")`` under ``package``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.Call):
                continue
            name = (
                node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            )
            if name != "invalid_field":
                continue
            reasons = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "reason")]
            if any(_text(reason) for reason in reasons):
                found.append(f"{where}:{node.lineno}")
    return found


@pytest.mark.parametrize("package", [*(f"services/{s}/avrr_{s}" for s in SERVICES), "libs/events"])
def test_every_invalid_field_reason_is_a_catalog_message(package: str) -> None:
    english_only = invalid_fields_in_english(ROOT / package)
    assert not english_only, (
        "invalid_field reasons that can only be answered in English: give "
        "worded(N_(...), **facts) and translate the message: " + ", ".join(english_only)
    )


def _request_types(service: str) -> Iterator[object]:
    """The annotations of every body and query parameter of ``service``'s routes."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute, iter_route_contexts

    router = importlib.import_module(f"avrr_{service}.main").service.router

    def params(dependant: Dependant) -> Iterator[object]:
        for param in (*dependant.body_params, *dependant.query_params):
            yield param.field_info.annotation
            yield from param.field_info.metadata
        for sub in dependant.dependencies:
            yield from params(sub)

    for context in iter_route_contexts(router.routes):  # included routers flattened
        if isinstance(context.original_route, APIRoute):
            yield from params(context.original_route.dependant)


def request_validators(service: str) -> dict[str, Callable[..., Any]]:
    """Every validator a request of ``service`` runs (a model's field and model validators,
    an ``AfterValidator`` and its kin), with what it calls of the platform's own modules, by
    ``module.function``."""
    from pydantic import BaseModel

    seen: set[int] = set()
    found: dict[str, Callable[..., Any]] = {}

    def add(func: Callable[..., Any], depth: int = 0) -> None:
        func = inspect.unwrap(getattr(func, "__func__", func))
        module = getattr(func, "__module__", "") or ""
        if not module.startswith("avrr_") or not inspect.isfunction(func):
            return
        found[f"{module}.{func.__qualname__}"] = func
        if depth:
            return
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(func)))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called = func.__globals__.get(node.func.id)
                if inspect.isfunction(called):
                    add(called, depth + 1)

    def walk(kind: object) -> None:
        if id(kind) in seen:
            return
        seen.add(id(kind))
        validator = getattr(kind, "func", None)
        if callable(validator) and not isinstance(kind, type):
            add(validator)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            decorators = kind.__pydantic_decorators__
            for field_validator in decorators.field_validators.values():
                add(field_validator.func)
            for model_validator in decorators.model_validators.values():
                add(model_validator.func)
            for field in kind.model_fields.values():
                walk(field.annotation)
                for item in field.metadata:
                    walk(item)
        for argument in get_args(kind):
            walk(argument)

    for kind in _request_types(service):
        walk(kind)
    return found


def english_value_errors(func: Callable[..., Any]) -> list[int]:
    """Lines of ``func`` that raise a plain ``ValueError`` (pydantic answers its text)."""
    source, first = inspect.getsourcelines(func)
    return [
        first + node.lineno - 1
        for node in ast.walk(ast.parse(textwrap.dedent("".join(source))))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id == "ValueError"
    ]


# A validator of each service that must be found, so that the walk cannot find nothing
# (travel's requests have none: their rules are the movement's, answered as refusals).
KNOWN_VALIDATORS = {
    "intake": "avrr_intake.commands.ReferralIn._one_principal_and_a_referrer",
    "eligibility": "avrr_eligibility.commands._meaningful",
    "travel": None,
    "reintegration": "avrr_events.dates.moment_not_in_future",
}


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_validator_reason_is_a_catalog_message(service: str) -> None:
    validators = request_validators(service)
    known = KNOWN_VALIDATORS[service]
    assert known is None or known in validators, sorted(validators)
    english_only = [
        f"{inspect.getsourcefile(func)}:{line} ({name})"
        for name, func in sorted(validators.items())
        for line in english_value_errors(func)
    ]
    assert not english_only, (
        f"validators of {service}'s requests that can only be answered in English: raise "
        "InvalidValue(worded(N_(...), **facts)) (avrr_events.validation) and translate the "
        "message: " + ", ".join(english_only)
    )
