"""Personal data is encrypted per person; deleting the key erases every copy (crypto-shredding)."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from sample_domain import CaseOpened, SampleCase, registry
from sample_service import SampleService

from avrr_events import ERASED, Cause, Database, MasterKey, PersonalDataCipher, SqlKeyStore
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import database_dump, read_topic

NAME = "Maria Fernanda Quispe Mamani"


async def test_after_the_key_is_deleted_no_copy_of_the_name_is_readable_anywhere(
    kafka_service: SampleService, kafka_settings: KafkaSettings, database_url: str
) -> None:
    service = kafka_service
    cipher = PersonalDataCipher(SqlKeyStore(service.db, MasterKey.from_env(allow_dev=True)))
    case = SampleCase("pd-1")
    case.open("office-pt", name=await cipher.encrypt("person-1", NAME))
    await service.repo.save(case, Cause("corr-pd"))
    await service.relay.drain()

    [record] = await service.store.load("case-pd-1")
    opened = registry.decode(record.envelope)
    assert isinstance(opened, CaseOpened) and opened.name is not None
    assert await cipher.decrypt(opened.name) == NAME  # readable while the key exists
    assert NAME not in await database_dump(database_url)
    [message] = await read_topic(kafka_settings, service.topic, 1)
    assert NAME.encode() not in message.value
    key_before = await cipher.keys.get("person-1")
    assert key_before is not None

    assert await cipher.erase("person-1")

    assert await cipher.decrypt(opened.name) is ERASED
    dump = await database_dump(database_url)
    assert NAME not in dump
    assert '"subject":"person-1","wrapped_key"' not in dump, "the key row is gone"
    [again] = await read_topic(kafka_settings, service.topic, 1)
    reread = registry.decode(type(record.envelope).from_message(again))
    assert isinstance(reread, CaseOpened) and reread.name is not None
    assert await cipher.decrypt(reread.name) is ERASED, "the copy on Kafka is unreadable too"
    assert not await cipher.erase("person-1"), "erasing twice is harmless"


async def test_each_person_has_their_own_key(any_db: Database) -> None:
    cipher = PersonalDataCipher(SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True)))
    a = await cipher.encrypt("a", {"name": "A", "dob": "1990-01-01"})
    b = await cipher.encrypt("b", "B")
    await cipher.erase("a")
    assert await cipher.decrypt(a) is ERASED
    assert await cipher.decrypt(b) == "B"
    forged = a.model_copy(update={"subject": "b"})  # ciphertext bound to its subject
    try:
        await cipher.decrypt(forged)
    except ValueError as exc:
        assert "authentication" in str(exc)
    else:
        raise AssertionError("a value moved to another person must not decrypt")


async def test_a_document_is_revealed_with_one_key_lookup_and_erased_people_marked(
    any_db: Database,
) -> None:
    keys = SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True))
    cipher = PersonalDataCipher(keys)
    document = {
        "case": "c-1",
        "people": [
            {"id": "a", "name": await cipher.encrypt("a", "Ana"), "age": 31},
            {"id": "b", "name": await cipher.encrypt("b", {"given": "Beto"})},
        ],
        "contact": await cipher.encrypt("a", "+502 5555 0000"),
    }
    await cipher.erase("b")
    lookups: list[list[str]] = []
    get_many = keys.get_many

    async def counting(subjects: Iterable[str]) -> dict[str, bytes]:
        wanted = list(subjects)
        lookups.append(wanted)
        return await get_many(wanted)

    keys.get_many = counting  # type: ignore[method-assign]
    revealed = await cipher.reveal(document)
    assert revealed == {
        "case": "c-1",
        "people": [{"id": "a", "name": "Ana", "age": 31}, {"id": "b", "name": "erased"}],
        "contact": "+502 5555 0000",
    }
    assert len(lookups) == 1 and sorted(lookups[0]) == ["a", "a", "b"]


async def test_a_stored_document_is_revealed_as_a_copy_in_every_shape_it_holds_values(
    any_db: Database,
) -> None:
    """What a read model stores: the JSON form of each value, in dicts and lists at any
    depth, next to dicts of four other keys; a purpose-bound value reads ``restricted``.
    The document itself is left as it was (reveal walks it once, into a copy)."""
    cipher = PersonalDataCipher(SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True)))
    name = (await cipher.encrypt("a", "Ana")).model_dump()
    health = await cipher.encrypt_for_purpose(
        "a", "asthma", purpose="health", case_id="c-1", field="needs"
    )
    document = {
        "people": [[name, {"alg": 1, "subject": 2, "nonce": 3, "ct": 4}], {"needs": health}],
        "four": {"a": 1, "b": [2], "c": {}, "d": None},
        "empty": [],
    }
    stored = copy.deepcopy(document)
    assert await cipher.reveal(document) == {
        "people": [["Ana", {"alg": 1, "subject": 2, "nonce": 3, "ct": 4}], {"needs": "restricted"}],
        "four": {"a": 1, "b": [2], "c": {}, "d": None},
        "empty": [],
    }
    assert document == stored
    assert await cipher.reveal(name) == "Ana"
    assert await cipher.reveal(await cipher.encrypt("a", ["x"])) == ["x"]
    assert await cipher.reveal([7, "x", None]) == [7, "x", None]
