"""What clients and subscribers were promised stays promised through a refactor.

Each service's OpenAPI document, AsyncAPI document and published event schemas
(its own and its public ones) are compared with the snapshots committed in
tests/snapshots/. A change that is meant (a new field, a constraint now stated)
updates them on purpose: ``AVRR_UPDATE_SNAPSHOTS=1 pytest tests/test_contract_snapshots.py``,
and the diff shows up for review with the change that caused it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from avrr_events.registry import EventRegistry
from avrr_events.settings import ServiceSettings
from avrr_events.web.embedded import discover
from avrr_events.web.service import ServiceRuntime

SNAPSHOTS = Path(__file__).parent / "snapshots"
SERVICES = [s.name for s in discover()]


def _documents(name: str, tmp_path: Path) -> dict[str, Any]:
    service = next(s for s in discover() if s.name == name)
    runtime = ServiceRuntime(
        service, ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db", dev=True)
    )
    schemas = service.registry.json_schemas()
    if service.public:
        schemas.update(EventRegistry(service.public.events).json_schemas())
    return {
        "openapi": runtime.app().openapi(),
        "asyncapi": runtime.asyncapi(),
        "event-schemas": schemas,
    }


@pytest.mark.parametrize("name", SERVICES)
def test_published_documents_match_their_snapshots(name: str, tmp_path: Path) -> None:
    for kind, document in _documents(name, tmp_path).items():
        path = SNAPSHOTS / f"{name}.{kind}.json"
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        if os.environ.get("AVRR_UPDATE_SNAPSHOTS") == "1":
            path.write_text(text, encoding="utf-8")
            continue
        assert path.exists(), f"no snapshot {path.name}: run with AVRR_UPDATE_SNAPSHOTS=1"
        assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), (
            f"{name}'s {kind} differs from tests/snapshots/{path.name}; if the change is "
            "meant, update the snapshot (AVRR_UPDATE_SNAPSHOTS=1) and say why in the commit"
        )
