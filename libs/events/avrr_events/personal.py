"""Personal data encrypted per person (AES-256-GCM), and crypto-shredding.

Names, dates of birth, contacts, document numbers and health details never
rest or travel in plaintext: each person (data subject) has their own data
key, and every personal field is stored as an ``Encrypted`` value bound to that
person. Deleting the key erases the person from every event store, read model,
Kafka topic and backup at once, while the non-personal history (dates,
countries, counts) stays for statistics. Readers then get ``ERASED``, never an
exception.

Keys rest wrapped (AES-KW style, with AES-GCM) by a master key that comes from
the environment or, in production, from a KMS/Vault behind the same
``KeyStore`` protocol.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String, any_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import tables
from avrr_events.adapters.database import Database
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.env_settings import secret_of

NONCE_BYTES: Final = 12
# Special categories of data (health) are encrypted under a key of their own purpose,
# derived from the person's key (so erasing the person shreds it too), and bound to
# their case, person and field. The alg is the version tag: "A256GCM" values (the
# subject key, bound to the subject only) stay readable.
HEALTH: Final = "health"
PurposeAlg = Literal["A256GCM-health-v1"]
PURPOSE_ALGS: Final[dict[str, PurposeAlg]] = {HEALTH: "A256GCM-health-v1"}
RESTRICTED_MARKER: Final = "restricted"  # what reveal() shows for a purpose-bound value
# Files (attachments of a case) are sealed under a key of their own purpose, derived from
# the person's key like the health key: erasing the person shreds their files too.
FILES: Final = "files"


class Encrypted(BaseModel):
    """A personal-data value as it is stored and published: ciphertext bound to its subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alg: Literal["A256GCM", "A256GCM-health-v1"] = Field(
        default="A256GCM",
        description="A256GCM: the subject's key, bound to the subject; A256GCM-health-v1: the "
        "subject's health key, bound to case, subject and field",
    )
    subject: str = Field(min_length=1, max_length=200, description="the data subject (person) id")
    nonce: str = Field(description="base64 96-bit nonce")
    ct: str = Field(description="base64 ciphertext + tag of the JSON value")


class Erased:
    """What a reader gets for personal data whose subject was erased."""

    _instance: Erased | None = None

    def __new__(cls) -> Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ERASED"

    def __bool__(self) -> bool:
        return False


ERASED: Final = Erased()
ERASED_MARKER: Final = "erased"  # how APIs render ERASED in JSON


class KeyStore(Protocol):
    """Where per-person data keys live; deleting one is the erasure of that person."""

    async def get(self, subject: str) -> bytes | None: ...

    async def get_or_create(self, subject: str) -> bytes: ...

    async def delete(self, subject: str) -> bool: ...

    async def get_many(self, subjects: Iterable[str]) -> dict[str, bytes]: ...

    async def create_many(self, keys: Mapping[str, bytes]) -> dict[str, bytes]: ...


class MasterKey:
    """Wraps and unwraps data keys (the key-encryption key)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes (base64 in AVRR_MASTER_KEY)")
        self._aead = AESGCM(key)

    @classmethod
    def from_env(cls, variable: str = "AVRR_MASTER_KEY", *, allow_dev: bool = False) -> MasterKey:
        """Read the base64 master key; a fixed development key only when explicitly allowed."""
        value = secret_of(variable)
        if value is not None and value.get_secret_value():
            return cls(base64.b64decode(value.get_secret_value()))
        if allow_dev:
            return cls(b"avrr-development-master-key-32b!")
        raise RuntimeError(f"{variable} is not set: generate one with `openssl rand -base64 32`")

    def wrap(self, subject: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, subject.encode())

    def unwrap(self, subject: str, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], subject.encode())


# The keys of a case file's people, read on every decrypted read: a prepared read
# (``= ANY`` of an array on PostgreSQL, one statement whatever the number of people).
_KEYS_OF = PreparedRead(
    select(tables.subject_keys.c.subject, tables.subject_keys.c.wrapped_key).where(
        tables.subject_keys.c.subject == any_(bindparam("subjects", type_=postgresql.ARRAY(String)))
    ),
    portable=select(tables.subject_keys.c.subject, tables.subject_keys.c.wrapped_key).where(
        tables.subject_keys.c.subject.in_(bindparam("subjects", expanding=True))
    ),
)


class SqlKeyStore:
    """Keys in a table of a PostgreSQL or SQLite database (development and small installs).

    Point every service at the same key database (``AVRR_KEYSTORE_URL``) so
    that one erasure shreds the person's data in all of them.
    """

    def __init__(self, db: Database, master: MasterKey) -> None:
        self.db = db
        self.master = master

    async def get(self, subject: str) -> bytes | None:
        t = tables.subject_keys
        async with self.db.autocommit() as conn:
            wrapped = await conn.scalar(select(t.c.wrapped_key).where(t.c.subject == subject))
        return None if wrapped is None else self.master.unwrap(subject, bytes(wrapped))

    async def get_many(self, subjects: Iterable[str]) -> dict[str, bytes]:
        """The keys of several subjects in one query (erased ones are absent)."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        rows = await _KEYS_OF.rows(self.db, subjects=wanted)
        return {r.subject: self.master.unwrap(r.subject, bytes(r.wrapped_key)) for r in rows}

    async def get_or_create(self, subject: str) -> bytes:
        existing = await self.get(subject)
        if existing is not None:
            return existing
        t = tables.subject_keys
        candidate = AESGCM.generate_key(bit_length=256)
        insert = postgresql.insert if self.db.is_postgres else sqlite.insert
        async with self.db.transaction() as conn:
            await conn.execute(
                insert(t)
                .values(subject=subject, wrapped_key=self.master.wrap(subject, candidate))
                .on_conflict_do_nothing(index_elements=["subject"])
            )
        # A concurrent creator may have won: use whatever key is stored.
        stored = await self.get(subject)
        if stored is None:
            raise RuntimeError(f"key of subject {subject} vanished while being created")
        return stored

    async def create_many(self, keys: Mapping[str, bytes]) -> dict[str, bytes]:
        """Store new data keys (subject -> key) of subjects that have none, in one statement;
        the key stored for each subject (another one where the subject had a key already).

        For a run that makes many people at once (``caseload.HeldKeys``): a key
        each through ``get_or_create`` is a transaction each."""
        if not keys:
            return {}
        t = tables.subject_keys
        insert = postgresql.insert if self.db.is_postgres else sqlite.insert
        async with self.db.transaction() as conn:
            await conn.execute(
                insert(t).on_conflict_do_nothing(index_elements=["subject"]),
                [{"subject": s, "wrapped_key": self.master.wrap(s, k)} for s, k in keys.items()],
            )
        return await self.get_many(keys)

    async def delete(self, subject: str) -> bool:
        t = tables.subject_keys
        async with self.db.transaction() as conn:
            result = await conn.execute(delete(t).where(t.c.subject == subject))
        return bool(result.rowcount)


async def rewrap_keys(db: Database, previous: MasterKey, current: MasterKey) -> tuple[int, int]:
    """Re-wrap every data key of the key store from ``previous`` to ``current``, in one transaction.

    Returns (re-wrapped, already under ``current``): a key that ``current``
    unwraps is left alone, so a run that was interrupted, or a second run,
    finishes the rotation. A key that neither unwraps stops everything
    (nothing is written): the previous key given is not the one in use.
    The data keys themselves do not change, so nothing encrypted under them
    (events, tables, topics, backups) needs touching.
    """
    t = tables.subject_keys
    rewrapped = already = 0
    async with db.transaction() as conn:
        stmt = select(t.c.subject, t.c.wrapped_key).order_by(t.c.subject)
        if db.is_postgres:
            stmt = stmt.with_for_update()  # no key created or shredded half-way
        for row in (await conn.execute(stmt)).all():
            wrapped = bytes(row.wrapped_key)
            try:
                current.unwrap(row.subject, wrapped)
                already += 1
                continue
            except InvalidTag:
                pass
            try:
                data_key = previous.unwrap(row.subject, wrapped)
            except InvalidTag:
                raise ValueError(
                    f"the key of subject {row.subject} unwraps with neither master key"
                ) from None
            await conn.execute(
                update(t)
                .where(t.c.subject == row.subject)
                .values(wrapped_key=current.wrap(row.subject, data_key))
            )
            rewrapped += 1
    return rewrapped, already


class PersonalDataCipher:
    """Encrypts and decrypts personal values with their subject's key."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def encrypt(self, subject: str, value: Any) -> Encrypted:
        """Encrypt any JSON value for ``subject`` (creating their key on first use)."""
        key = await self.keys.get_or_create(subject)
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        ct = AESGCM(key).encrypt(nonce, plaintext, subject.encode())
        return Encrypted(subject=subject, nonce=_b64(nonce), ct=_b64(ct))

    async def decrypt(self, value: Encrypted) -> Any:
        """The plaintext value, or ERASED if the subject's key is gone."""
        key = await self.keys.get(value.subject)
        return ERASED if key is None else _open(key, value)

    async def encrypt_for_purpose(
        self, subject: str, value: Any, *, purpose: str, case_id: str, field: str
    ) -> Encrypted:
        """Encrypt ``value`` under ``subject``'s key for ``purpose`` (only ``health`` so far),
        bound to ``case_id`` and ``field``: copied into another field or case it does not open."""
        alg = PURPOSE_ALGS[purpose]
        key = _purpose_key(await self.keys.get_or_create(subject), purpose)
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        bound = _binding(alg, subject, case_id, field)
        ct = AESGCM(key).encrypt(nonce, plaintext, bound)
        return Encrypted(alg=alg, subject=subject, nonce=_b64(nonce), ct=_b64(ct))

    async def decrypt_for_purpose(self, value: Encrypted, *, case_id: str, field: str) -> Any:
        """The plaintext of a purpose-bound value read as ``field`` of ``case_id`` (ERASED if the
        subject's key is gone); an older plain ``A256GCM`` value opens as before.

        Raises ValueError when the value was not written for this case and field."""
        key = await self.keys.get(value.subject)
        if key is None:
            return ERASED
        if value.alg == "A256GCM":
            return _open(key, value)
        purpose = next(p for p, alg in PURPOSE_ALGS.items() if alg == value.alg)
        try:
            plaintext = AESGCM(_purpose_key(key, purpose)).decrypt(
                base64.b64decode(value.nonce),
                base64.b64decode(value.ct),
                _binding(value.alg, value.subject, case_id, field),
            )
        except InvalidTag as exc:
            raise ValueError(
                f"{purpose} data of {value.subject} failed authentication as {field} of this case"
            ) from exc
        return json.loads(plaintext)

    async def seal_bytes(self, subject: str, data: bytes, *, binding: str) -> bytes:
        """``data`` (a file: a signed consent sheet, a copy of an identity document) encrypted
        under ``subject``'s key for files, bound to ``binding`` (say, the case and the file's
        id): nonce + ciphertext + tag, raw, so a 10 MB file is not inflated by base64 and JSON.
        Shredded with the subject's key, as every other value of theirs."""
        key = _purpose_key(await self.keys.get_or_create(subject), FILES)
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(key).encrypt(nonce, data, _file_binding(subject, binding))

    async def open_bytes(self, subject: str, sealed: bytes, *, binding: str) -> bytes | Erased:
        """The bytes ``seal_bytes`` sealed for ``subject`` and ``binding``; ERASED once the
        subject's key is gone. Raises ValueError when ``sealed`` was not written for them."""
        key = await self.keys.get(subject)
        if key is None:
            return ERASED
        try:
            return AESGCM(_purpose_key(key, FILES)).decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _file_binding(subject, binding)
            )
        except InvalidTag as exc:
            raise ValueError(f"a file of {subject} failed authentication as {binding}") from exc

    async def reveal(self, document: Any, *, erased: Any = ERASED_MARKER) -> Any:
        """``document`` with every Encrypted value inside it decrypted (``erased`` where the
        subject's key is gone), loading the keys of all its subjects in one query.

        Purpose-bound values (health) are never opened here, where their case and
        field are unknown: they read ``restricted`` (see ``decrypt_for_purpose``)."""
        holder = [document]
        found: list[_Found] = []
        opened = _copy(holder, found)
        keys = await self.keys.get_many(e.subject for _, _, e in found)
        for container, at, value in found:
            key = keys.get(value.subject)
            if key is None:
                container[at] = erased
            else:
                container[at] = RESTRICTED_MARKER if value.alg != "A256GCM" else _open(key, value)
        return opened[0]

    async def erase(self, subject: str) -> bool:
        """Crypto-shred everything ever encrypted for ``subject``; True if a key existed."""
        return await self.keys.delete(subject)

    async def erase_within(
        self, conn: AsyncConnection, db: Database, subjects: Iterable[str]
    ) -> None:
        """Crypto-shred ``subjects`` from inside a transaction ``conn`` on ``db`` (a reaction).

        Keys kept in ``db`` itself go in that transaction: atomic with the
        reaction, and SQLite's single writer is not asked to wait for itself.
        Keys elsewhere (a key database shared by every service, a KMS) go
        through the key store; a service's own database then has no key table.
        """
        wanted = sorted(set(subjects))
        if not wanted:
            return
        if isinstance(self.keys, SqlKeyStore) and self.keys.db is db:
            t = tables.subject_keys
            await conn.execute(delete(t).where(t.c.subject.in_(wanted)))
            return
        for subject in wanted:
            await self.keys.delete(subject)


def _purpose_key(data_key: bytes, purpose: str) -> bytes:
    """The subject's key for one purpose: HKDF-SHA256 of their data key (shredded with it)."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"avrr/purpose/{purpose}".encode()
    )
    return hkdf.derive(data_key)


def _binding(alg: str, subject: str, case_id: str, field: str) -> bytes:
    """The associated data of a purpose-bound value: what it is, whose, of which case."""
    return json.dumps([alg, subject, case_id, field], separators=(",", ":")).encode()


def _file_binding(subject: str, binding: str) -> bytes:
    """The associated data of a sealed file: whose it is and what it was sealed as."""
    return json.dumps(["files-v1", subject, binding], separators=(",", ":")).encode()


def _open(key: bytes, value: Encrypted) -> Any:
    try:
        plaintext = AESGCM(key).decrypt(
            base64.b64decode(value.nonce), base64.b64decode(value.ct), value.subject.encode()
        )
    except InvalidTag as exc:
        raise ValueError(f"personal data of {value.subject} failed authentication") from exc
    return json.loads(plaintext)


_ENCRYPTED_FIELDS = frozenset(Encrypted.model_fields)

# An Encrypted value inside a copied document: its container in the copy, where in it, what.
_Found = tuple[Any, Any, "Encrypted"]


def _as_encrypted(value: Any) -> Encrypted | None:
    """An Encrypted value (a model, or its JSON form in a stored document), or None."""
    if isinstance(value, Encrypted):
        return value
    # Compared without building a set: most dicts of a document are not one.
    if isinstance(value, dict) and len(value) == 4 and value.keys() == _ENCRYPTED_FIELDS:
        try:
            return Encrypted.model_validate(value)
        except ValueError:
            return None
    return None


def _copy(value: dict[Any, Any] | list[Any], found: list[_Found]) -> Any:
    """``value`` with every dict and list in it copied, in one walk; each Encrypted value in
    it is left in place and listed in ``found`` with its container in the copy, so that
    ``reveal`` puts the plaintext there once the keys are read (a walk to collect them and
    another to replace them cost more than the decryption of a case file)."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    copy: Any = {} if isinstance(value, dict) else [None] * len(value)
    for at, item in items:
        if isinstance(item, dict | list):
            enc = _as_encrypted(item)
            if enc is None:
                item = _copy(item, found)
            else:
                found.append((copy, at, enc))
        elif isinstance(item, Encrypted):
            found.append((copy, at, item))
        copy[at] = item
    return copy


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
