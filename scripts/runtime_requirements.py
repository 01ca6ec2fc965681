"""Print the runtime part of requirements.lock: what the first-party packages need, nothing else.

The lock pins the whole development environment (test and lint tools
included) with hashes; the image must carry only what the services run on.
The runtime set starts from the ``[project].dependencies`` that every
first-party pyproject.toml declares and follows the lock's own ``# via``
annotations to a fixed point, so every pin and hash is the lock's and nothing
outside it can come in. ``pip check`` in the image build then proves the
closure complete against the packages' declared requirements.

    python scripts/runtime_requirements.py [REPO] > runtime.txt
    python scripts/runtime_requirements.py [REPO] --build-backend > build.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

BUILD_BACKEND = ("setuptools",)  # [build-system] requires of every first-party package
FIRST_PARTY = (
    "libs/events",
    "services/intake",
    "services/eligibility",
    "services/travel",
    "services/reintegration",
)
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    """PEP 503 normalised name, so ``PyJWT`` and ``pyjwt`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    name: str
    lines: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


def read_lock(text: str) -> dict[str, Pin]:
    """The lock's pins with their requirement lines and the packages they are ``# via``."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            match = _NAME.match(line)
            if match is None:
                continue
            current = Pin(canonical(match.group(1)), [line])
            pins[current.name] = current
            in_via = False
        elif current is not None and line.startswith("    --hash"):
            current.lines.append(line)
        elif current is not None and line.strip().startswith("# via"):
            in_via = True
            rest = line.strip().removeprefix("# via").strip()
            if rest:
                current.parents.add(canonical(rest.split()[0]))
        elif current is not None and in_via and line.strip().startswith("#   "):
            current.parents.add(canonical(line.strip().removeprefix("#").strip().split()[0]))
        else:
            in_via = False
    return pins


def declared(repo: Path) -> set[str]:
    """Third-party names the first-party packages declare (their own names left out)."""
    own = set()
    wanted = set()
    for folder in FIRST_PARTY:
        project = tomllib.loads((repo / folder / "pyproject.toml").read_text())["project"]
        own.add(canonical(project["name"]))
        for requirement in project.get("dependencies", []):
            match = _NAME.match(requirement)
            if match:
                wanted.add(canonical(match.group(1)))
    return wanted - own


def runtime_pins(repo: Path) -> list[Pin]:
    """The closure of the declared names over the lock's ``# via`` graph."""
    pins = read_lock((repo / "requirements.lock").read_text())
    wanted = declared(repo)
    missing = sorted(wanted - pins.keys())
    if missing:
        raise SystemExit(f"declared but not in requirements.lock (run make lock): {missing}")
    needed = set(wanted)
    changed = True
    while changed:
        changed = False
        for pin in pins.values():
            if pin.name not in needed and pin.parents & needed:
                needed.add(pin.name)
                changed = True
    return [pins[name] for name in sorted(needed)]


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    repo = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    if "--build-backend" in argv:
        pins = read_lock((repo / "requirements.lock").read_text())
        chosen = [pins[canonical(n)] for n in BUILD_BACKEND]
    else:
        chosen = runtime_pins(repo)
    print("# From requirements.lock (scripts/runtime_requirements.py).")
    for pin in chosen:
        print("\n".join(pin.lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
