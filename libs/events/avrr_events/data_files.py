"""Configuration data as reviewed YAML files: the office registry, programmes, directories.

Such data is not code: a new office or a changed programme rule is a reviewed
edit of a YAML file shipped in a package (or at a path the environment names).
A file that must be right before anyone is served is validated strictly when
the service starts, and a malformed one stops the start with a message that
names the file and the field (``programmes[1](arvore).host_countries[0]:
...``), because a silently ignored typo would hand cases to the wrong office
or refuse real people.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_text(package: str, default: str, path: Path | str | None) -> tuple[str, str]:
    """The name and text of the file at ``path``, else of ``default`` shipped in ``package``.

    An unreadable path raises OSError; the name is the path as given, or ``default``.
    """
    if path is None:
        return default, resources.files(package).joinpath(default).read_text(encoding="utf-8")
    return str(path), Path(path).read_text(encoding="utf-8")


def read_yaml(package: str, default: str, path: Path | str | None) -> Any:
    """The YAML document at ``path``, else the one of ``default`` shipped in ``package``."""
    return yaml.safe_load(read_text(package, default, path)[1])


class DataFile:
    """How one kind of data file is read: which model validates it, how its errors read.

    ``what`` starts every message (``"office file"``), ``error`` is the ValueError
    subclass raised, ``key`` the mapping's required entry (named when the file is
    not a mapping), and ``tag`` the field of a discriminated union whose value
    pydantic puts in an error's path (left out: it is not a field of the file).
    """

    def __init__(
        self, what: str, error: type[ValueError], key: str, tag: str | None = None
    ) -> None:
        self.what, self.error, self.key, self.tag = what, error, key, tag

    def load(self, model: type[M], package: str, default: str, path: Path | str | None) -> M:
        """Read and validate the file at ``path`` (``default`` of ``package`` when None)."""
        try:
            name, text = read_text(package, default, path)
        except OSError as exc:
            where = default if path is None else path
            raise self.error(f"{self.what} {where}: cannot be read: {exc}") from exc
        return self.parse(model, text, name=name)

    def parse(self, model: type[M], text: str, *, name: str) -> M:
        """Validate the YAML ``text`` of a file called ``name``."""
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise self.error(f"{self.what} {name}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise self.error(f"{self.what} {name}: must be a mapping with '{self.key}'")
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            problems = [
                f"{self.field_path(err['loc'], raw)}: {err['msg']}" for err in exc.errors()[:10]
            ]
            raise self.error(f"{self.what} {name} is invalid: " + "; ".join(problems)) from exc

    def field_path(self, loc: Sequence[int | str], raw: dict[str, Any]) -> str:
        """``offices[2](HN-TGU).country``: the field, and whose it is (an entry's ``id``)."""
        out = ""
        node: Any = raw
        for part in loc:
            if isinstance(part, int):
                out += f"[{part}]"
                node = node[part] if isinstance(node, list) and part < len(node) else None
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    out += f"({node['id']})"
            else:
                tagged = isinstance(node, dict) and part not in node
                if tagged and self.tag is not None and node.get(self.tag) == part:
                    continue
                out += f".{part}" if out else part
                node = node.get(part) if isinstance(node, dict) else None
        return out or "file"
