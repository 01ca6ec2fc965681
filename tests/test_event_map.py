"""The event map (avrr_events.event_map) tells the truth about the four services' wiring,
and docs/event-map.md is the map of the code as it is."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avrr_events import cli, event_map
from avrr_events.event_map import EventMap
from avrr_events.registry import ObservedEvent, dataschema_uri
from avrr_events.web.embedded import discover
from avrr_events.web.service import Service

DOC = Path(__file__).parents[1] / "docs" / "event-map.md"


@pytest.fixture(scope="module")
def services() -> list[Service]:
    return discover()


@pytest.fixture(scope="module")
def the_map(services: list[Service]) -> EventMap:
    return event_map.build(services)


def test_the_event_map_document_is_the_map_of_the_code(the_map: EventMap) -> None:
    text = event_map.to_markdown(the_map)
    assert DOC.exists(), f"docs/event-map.md is missing: run `{event_map.REGENERATE}`"
    assert DOC.read_text(encoding="utf-8") == text, (
        f"docs/event-map.md is stale (the code's events, reactions or read models changed): "
        f"run `{event_map.REGENERATE}` and commit it with the change"
    )


def test_arrival_is_produced_by_travel_and_taken_over_by_intake_and_reintegration(
    the_map: EventMap,
) -> None:
    arrival = the_map.event("ArrivalConfirmed")
    assert arrival.event_type == "avrr.travel.ArrivalConfirmed"
    assert arrival.schema == dataschema_uri("avrr.travel.ArrivalConfirmed", arrival.version)
    [producer] = arrival.producers
    assert producer.service == "travel"
    assert producer.event_class == "avrr_travel.movement:ArrivalConfirmed"
    assert producer.aggregates == ("avrr_travel.movement:Movement",)
    reactions = {(c.service, c.reaction) for c in arrival.consumers}
    assert ("reintegration", "avrr_reintegration.reactions:decide_on_arrival") in reactions
    assert ("intake", "avrr_intake.reactions:queue_arrival") in reactions
    fed = {(u.service, u.projection) for u in arrival.projections}
    assert ("intake", "intake_case_timeline") in fed
    assert ("travel", "travel_movement_views") in fed
    assert {r.service for r in arrival.readers} == {"intake", "reintegration"}


def test_every_registered_type_is_on_the_map_with_one_producer_and_its_aggregate(
    services: list[Service], the_map: EventMap
) -> None:
    on_map = {e.event_type: e for e in the_map.events}
    for service in services:
        for event_type, cls in service.registry.types.items():
            assert event_type in on_map, f"{service.name}'s {event_type} is not on the map"
            if not issubclass(cls, ObservedEvent):
                entry = on_map[event_type]
                assert [p.service for p in entry.producers] == [service.name]
                assert entry.producers[0].aggregates, f"no aggregate records {event_type}"
                assert entry.version == cls.event_version


def test_every_type_a_service_consumes_or_projects_has_a_producer(the_map: EventMap) -> None:
    orphans = [
        e.event_type for e in the_map.events if (e.consumers or e.projections) and not e.producers
    ]
    assert orphans == []


def test_every_reaction_of_every_service_is_on_the_map(
    services: list[Service], the_map: EventMap
) -> None:
    declared = sorted(
        (s.name, event_type, f"{fn.__module__}:{fn.__qualname__}")
        for s in services
        for event_type, fns in s.reactions.items()
        for fn in fns
    )
    mapped = sorted(
        (c.service, e.event_type, c.reaction) for e in the_map.events for c in e.consumers
    )
    assert mapped == declared


def test_a_projection_with_a_handlers_table_is_mapped_to_its_handlers(
    services: list[Service], the_map: EventMap
) -> None:
    # Whichever projections have a table so far (the others are matched in ``apply``).
    for service in services:
        for projection in event_map.projections_of(service):
            table = getattr(type(projection), "handlers", None) or {}
            for cls, handler in table.items():
                uses = the_map.event(cls.event_type).projections
                assert (
                    event_map.ProjectionUse(
                        service.name,
                        projection.name,
                        f"{handler.__module__}:{handler.__qualname__}",
                        "table",
                    )
                    in uses
                )


def test_avrr_events_map_prints_the_map_as_json(the_map: EventMap) -> None:
    result = CliRunner().invoke(cli.app, ["events", "map", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(
        json.dumps(dataclasses.asdict(the_map), sort_keys=True)
    )
