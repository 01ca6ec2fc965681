"""A batch's new people's keys (caseload.HeldKeys, SqlKeyStore.create_many), on PostgreSQL and
SQLite: made in memory, stored together, never a second key for a subject that has one."""

from __future__ import annotations

import uuid

import pytest

from avrr_events import Database
from avrr_events.caseload import HeldKeys, KeysTaken
from avrr_events.personal import MasterKey, PersonalDataCipher, SqlKeyStore


def subject() -> str:
    return f"person-{uuid.uuid4()}"


async def test_keys_made_for_a_batch_open_its_values_before_and_after_they_are_stored(
    any_db: Database,
) -> None:
    store = SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True))
    held = HeldKeys(store, {})
    cipher = PersonalDataCipher(held)
    person = subject()

    sealed = await cipher.encrypt(person, {"given_names": "Rosa"})

    assert await store.get(person) is None  # nothing stored yet
    assert await cipher.decrypt(sealed) == {"given_names": "Rosa"}
    assert await held.store() == 1
    assert await PersonalDataCipher(store).decrypt(sealed) == {"given_names": "Rosa"}


async def test_a_subject_that_had_a_key_fails_the_store_and_keeps_its_key(
    any_db: Database,
) -> None:
    store = SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True))
    existing, new = subject(), subject()
    kept = await store.get_or_create(existing)
    held = HeldKeys(store, {})
    await held.get_or_create(existing)  # not known to the batch: a key is made for it
    await held.get_or_create(new)

    with pytest.raises(KeysTaken):
        await held.store()

    assert await store.get(existing) == kept  # never replaced


async def test_known_keys_are_used_not_made_again(any_db: Database) -> None:
    store = SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True))
    person = subject()
    key = await store.get_or_create(person)
    held = HeldKeys(store, await store.get_many([person]))

    assert await held.get_or_create(person) == key
    assert await held.store() == 0
