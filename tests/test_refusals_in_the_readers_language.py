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
from collections.abc import Iterator
from pathlib import Path

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
