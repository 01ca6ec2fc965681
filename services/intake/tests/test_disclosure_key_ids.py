"""Disclosure key ids (no database): new ids are sealed under an HKDF key of intake's secret,
and the ids already published on the public topics under the first derivation (one
HMAC-SHA256 of the secret) keep naming their holders, forever."""

from __future__ import annotations

from typing import Any, cast

from avrr_intake.authorities import DisclosureKeys, KeyHolder

SECRET = b"avrr-development-duplicate-secret"
HOLDER = KeyHolder("case-1", "person-1", "BO")
# Issued by intake before the HKDF derivation, for HOLDER under SECRET: as a
# subscriber still holds it from a record the public topic keeps.
ISSUED_BEFORE_HKDF = "8iaSf_M2_GKP3ln2ZF6HcyAZaUIv6MtUoIBUD_MJkXx1oQ"


def keys(secret: bytes = SECRET) -> DisclosureKeys:
    return DisclosureKeys(secret, cast(Any, None))


def test_a_new_key_id_names_its_holder_and_is_stable() -> None:
    key_id = keys().key_id(HOLDER)
    assert key_id == keys().key_id(HOLDER)  # the departure and the arrival name one key
    assert keys().holder(key_id) == HOLDER


def test_new_key_ids_use_the_hkdf_derivation() -> None:
    assert keys().key_id(HOLDER) != ISSUED_BEFORE_HKDF


def test_a_key_id_issued_under_the_first_derivation_still_names_its_holder() -> None:
    assert keys().holder(ISSUED_BEFORE_HKDF) == HOLDER


def test_a_key_id_of_another_secret_or_a_forged_one_names_nobody() -> None:
    other = keys(b"another intake's secret, 32 bytes").key_id(HOLDER)
    assert keys().holder(other) is None
    assert keys().holder(ISSUED_BEFORE_HKDF[:-2] + "AA") is None
    assert keys().holder("not base64 !") is None
    assert keys().holder("") is None
