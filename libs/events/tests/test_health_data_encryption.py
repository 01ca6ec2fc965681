"""Health data is encrypted under a purpose key of its person, bound to its case and field."""

from __future__ import annotations

import pytest

from avrr_events import ERASED, Database, MasterKey, PersonalDataCipher, SqlKeyStore
from avrr_events.personal import HEALTH, RESTRICTED_MARKER


async def test_a_health_value_opens_only_as_the_field_of_the_case_it_was_written_for(
    any_db: Database,
) -> None:
    cipher = PersonalDataCipher(SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True)))
    value = await cipher.encrypt_for_purpose(
        "p-1", "asthma, inhaler", purpose=HEALTH, case_id="case-1", field="health_details"
    )
    assert value.alg == "A256GCM-health-v1"
    opened = await cipher.decrypt_for_purpose(value, case_id="case-1", field="health_details")
    assert opened == "asthma, inhaler"
    for case_id, field in (("case-1", "declared_needs"), ("case-2", "health_details")):
        with pytest.raises(ValueError, match="failed authentication"):
            await cipher.decrypt_for_purpose(value, case_id=case_id, field=field)
    # Moved to another person it does not open either (another key, another binding).
    await cipher.encrypt("p-2", "x")
    with pytest.raises(ValueError):
        await cipher.decrypt_for_purpose(
            value.model_copy(update={"subject": "p-2"}), case_id="case-1", field="health_details"
        )
    # Not with the person's general key, and never by the context-free reveal.
    with pytest.raises(ValueError):
        await cipher.decrypt(value)
    assert await cipher.reveal({"d": value.model_dump()}) == {"d": RESTRICTED_MARKER}


async def test_older_values_stay_readable_and_erasure_shreds_the_health_key(
    any_db: Database,
) -> None:
    cipher = PersonalDataCipher(SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True)))
    old = await cipher.encrypt("p-1", ["needs insulin"])  # as written before the purpose keys
    new = await cipher.encrypt_for_purpose(
        "p-1", ["needs insulin"], purpose=HEALTH, case_id="c", field="declared_needs"
    )
    assert await cipher.decrypt_for_purpose(old, case_id="c", field="declared_needs") == [
        "needs insulin"
    ]
    await cipher.erase("p-1")
    for value in (old, new):
        assert await cipher.decrypt_for_purpose(value, case_id="c", field="declared_needs") is (
            ERASED
        )
