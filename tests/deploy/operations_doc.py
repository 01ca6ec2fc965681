"""The command blocks of docs/operations.md, by name, for the tests that run them.

Every fenced ``sh`` block of the document is preceded by a marker comment
naming it::

    <!-- block: install-render -->
    ```sh
    helm template avrr deploy/helm/avrr ...
    ```

``block(name)`` is its text; ``run_block(name, env=...)`` runs it with bash
(``-euo pipefail``) from the repository root, with the given environment
variables added to the test's own (the block's ``$VARIABLES`` are the shell's
to substitute), and returns the finished process. ``unnamed_blocks()`` and
``referenced_names()`` serve the meta-test: no block without a name, no name
that no test runs.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs/operations.md"

_FENCE = re.compile(r"^```(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*block:\s*([a-z0-9][a-z0-9-]*)\s*-->\s*$")


def _parse(text: str) -> tuple[dict[str, str], list[int]]:
    """Named sh blocks, and the line numbers (1-based) of sh blocks without a name."""
    named: dict[str, str] = {}
    unnamed: list[int] = []
    lines = text.splitlines()
    pending: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        if marker:
            pending = marker.group(1)
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            language = fence.group(1)
            end = i + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            body = "\n".join(lines[i + 1 : end]) + "\n"
            if language == "sh":
                if pending is None:
                    unnamed.append(i + 1)
                elif pending in named:
                    raise ValueError(f"{DOC.name}: block {pending!r} is named twice")
                else:
                    named[pending] = body
            pending = None
            i = end + 1
            continue
        if line.strip():
            pending = None  # a marker names only the block right below it
        i += 1
    return named, unnamed


def blocks(doc: Path = DOC) -> dict[str, str]:
    """Every named sh block of the document: name -> its text."""
    return _parse(doc.read_text())[0]


def unnamed_blocks(doc: Path = DOC) -> list[int]:
    """Line numbers of the sh blocks that have no ``<!-- block: name -->`` above them."""
    return _parse(doc.read_text())[1]


def block(name: str, doc: Path = DOC) -> str:
    """The text of one named block (KeyError naming the known ones if absent)."""
    found = blocks(doc)
    if name not in found:
        raise KeyError(f"{doc.name} has no block {name!r} (it has {sorted(found)})")
    return found[name]


class BlockOptions(TypedDict, total=False):
    """How ``run_block`` and ``check_block`` run a block; each option has a default."""

    path: Sequence[str | Path]  # PATH entries, put before the test's own (none)
    cwd: Path  # the working directory (the repository root)
    timeout: float  # seconds (300)
    doc: Path  # the document that holds the block (docs/operations.md)


def run_block(
    name: str, env: Mapping[str, str] | None = None, **options: Unpack[BlockOptions]
) -> subprocess.CompletedProcess[str]:
    """Run block ``name`` with bash; ``env`` adds variables (``BlockOptions`` for the rest).

    The block is run as written: its ``$VARIABLES`` are substituted by the
    shell from ``env`` (on top of the test's environment). Output is captured
    as text; the caller asserts on ``returncode`` (see ``check_block``).
    """
    environment = dict(os.environ)
    environment.update(env or {})
    path = options.get("path", ())
    if path:
        environment["PATH"] = os.pathsep.join([*map(str, path), environment.get("PATH", "")])
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block(name, options.get("doc", DOC))],
        cwd=options.get("cwd", REPO),
        env=environment,
        capture_output=True,
        text=True,
        timeout=options.get("timeout", 300),
        check=False,
    )


def check_block(
    name: str, env: Mapping[str, str] | None = None, **options: Unpack[BlockOptions]
) -> str:
    """Run block ``name`` (as ``run_block``) and return its stdout; fail with its stderr."""
    done = run_block(name, env, **options)
    assert done.returncode == 0, (
        f"block {name!r} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


def referenced_names(root: Path = REPO) -> set[str]:
    """Block names that appear quoted in some test file (tests/ or a service's tests)."""
    names = set(blocks())
    found: set[str] = set()
    files = [*(root / "tests").rglob("*.py"), *(root / "services").glob("*/tests/**/*.py")]
    for file in files:
        if file.name == Path(__file__).name:
            continue
        text = file.read_text()
        found |= {n for n in names if f'"{n}"' in text or f"'{n}'" in text}
    return found
