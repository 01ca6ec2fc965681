"""Every first-party package declares, in its pyproject.toml, each third-party package it imports.

The image installs only what the pyprojects declare (scripts/runtime_requirements.py
follows the lock from them), so an import that works here because another package
pulled its distribution in would fail there. The test reads each module's imports
from its syntax tree (lazy and TYPE_CHECKING imports included) and maps each
top-level name to its distributions with importlib.metadata, as pip would install
them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from avrr_events.testing import parsed

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "libs/events",
    "services/intake",
    "services/eligibility",
    "services/travel",
    "services/reintegration",
)


def canonical(name: str) -> str:
    """PEP 503 normalised name, so ``PyJWT`` and ``pyjwt`` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: Path) -> set[str]:
    """The distributions a pyproject declares: its dependencies and every extra's."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    return {canonical(re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0]) for r in requirements}


def imported(package_dir: Path) -> dict[str, Path]:
    """Each absolute top-level import name of a package's modules, with one module importing it."""
    names: dict[str, Path] = {}
    for module in sorted(package_dir.rglob("*.py")):
        for node in ast.walk(parsed(module)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names.setdefault(alias.name.partition(".")[0], module)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.setdefault(node.module.partition(".")[0], module)
    return names


def undeclared(package: str) -> list[str]:
    """The imports of a package whose distribution its pyproject does not declare."""
    root = REPO / package
    pyproject = root / "pyproject.toml"
    own = canonical(tomllib.loads(pyproject.read_text())["project"]["name"])
    allowed = declared(pyproject) | {own}
    distributions = importlib.metadata.packages_distributions()
    source = next(p for p in root.iterdir() if p.is_dir() and p.name.startswith("avrr_"))
    missing = []
    for name, module in sorted(imported(source).items()):
        if name in sys.stdlib_module_names or name == "__future__":
            continue
        candidates = {canonical(d) for d in distributions.get(name, [])}
        if not candidates & allowed:
            wanted = ", ".join(sorted(candidates)) or "no distribution"
            missing.append(f"{name} ({wanted}) in {module.relative_to(REPO)}")
    return missing


@pytest.mark.parametrize("package", PACKAGES)
def test_every_third_party_import_is_declared_in_the_pyproject(package: str) -> None:
    assert undeclared(package) == []


def test_an_undeclared_import_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    (package / "avrr_pkg").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[project]\nname = "avrr-pkg"\ndependencies = ["pydantic>=2.7"]\n'
    )
    # a lazy import inside a function counts as much as one at the top
    (package / "avrr_pkg" / "m.py").write_text(
        "import json\nimport pydantic\n\n\ndef f():\n    import yaml\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert undeclared("pkg") == ["yaml (pyyaml) in pkg/avrr_pkg/m.py"]
