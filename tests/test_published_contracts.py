"""What subscribers build against: each service's AsyncAPI document and event schemas."""

from __future__ import annotations

import json
from pathlib import Path

from avrr_events.settings import ServiceSettings
from avrr_events.testing import asyncapi_parser
from avrr_events.web.embedded import discover
from avrr_events.web.service import ServiceRuntime


def test_every_services_asyncapi_document_passes_the_official_parser(tmp_path: Path) -> None:
    files = []
    publishers: dict[str, str] = {}
    for service in discover():
        runtime = ServiceRuntime(
            service, ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db", dev=True)
        )
        document = runtime.asyncapi()
        own = document["channels"][f"{service.name}.events"]
        assert own["address"] == f"avrr.{service.name}.events"
        assert own["messages"], f"{service.name} publishes no message types?"
        for observed in service.observes:
            assert document["channels"][f"{observed}.events"]["messages"]
        assert document["channels"]["dead-letters"]["address"] == f"avrr.dlq.{service.name}"
        assert document["channels"]["audit"]["address"] == f"avrr.audit.{service.name}"
        for channel in service.public.channels if service.public else ():
            public = document["channels"][f"public.{channel.id}"]
            assert public["address"] == f"avrr.public.{channel.address}"
            assert public["messages"], f"{service.name}: public channel {channel.id} is empty"
            publishers[channel.id] = service.name
        path = tmp_path / f"{service.name}.asyncapi.json"
        path.write_text(json.dumps(document))
        files.append(path)
    assert publishers == {"cases": "intake", "returns": "travel"}, "public integration topics"
    result = asyncapi_parser(files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("valid AsyncAPI 3.0.0") == len(files)


def test_every_event_type_has_a_published_json_schema() -> None:
    for service in discover():
        schemas = service.registry.json_schemas()
        for event_type, cls in service.registry.types.items():
            uri = f"urn:avrr:schema:{event_type}:v{cls.event_version}"
            assert uri in schemas, uri
            assert schemas[uri]["title"] == event_type
