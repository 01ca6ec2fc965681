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

from avrr_events.problems import Problem
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


def worded_in_english_only(package: Path, problems: set[str]) -> list[str]:
    """``file:line`` of each ``raise SomeProblem("text" | detail=...)`` under ``package``."""
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(parsed(path)):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in problems:
                continue
            if node.exc.args or any(k.arg == "detail" for k in node.exc.keywords):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


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
