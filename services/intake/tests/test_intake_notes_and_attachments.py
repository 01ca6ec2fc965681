"""Case notes and attachments: written about one person of the case, resting under that
person's key (files in PostgreSQL's bytea, sealed), read by casework of the case's offices
(a copy of an identity document by supervisors and the data protection officer only), every
download audited, in the timeline without their content, and gone with the person at erasure.
A file is taken by what its bytes are, up to its limit. Real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from intake_fixtures import DPO, Intake, answered, as_make_run_serves_it, referral
from intake_tokens import bearer
from sqlalchemy import func, select

from avrr_events.testing import database_dump, eventually
from avrr_intake import attachments

CASEWORKER = bearer("cw-gt", "caseworker", "GT-GUA")
SUPERVISOR = bearer("sup-gt", "supervisor", "GT-GUA")
ELSEWHERE = bearer("cw-mx", "caseworker", "MX-MEX")

NOTE = "Says the landlord NOTEPLANT-Quispe-7781 keeps her passport"
PASSPORT_NAME = "pasaporte-NAMEPLANT-maria.pdf"
PASSPORT = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n% FILEPLANT-BO7654321\n%%EOF\n"
SIGNED = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17 + b"SIGNPLANT-consent"
PLANTS = ("NOTEPLANT", "NAMEPLANT", "FILEPLANT", "SIGNPLANT")


def upload(
    person_id: str, kind: str, name: str, content: bytes, content_type: str = "application/pdf"
) -> dict[str, Any]:
    """The multipart parts of an upload, as httpx sends them."""
    return {
        "data": {"person_id": person_id, "kind": kind},
        "files": {"file": (name, content, content_type)},
    }


async def attach(
    intake: Intake, case_id: str, parts: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await intake.http.post(f"/cases/{case_id}/attachments", headers=headers, **parts)


async def test_notes_and_files_rest_under_the_persons_key_are_audited_and_go_with_them(
    intake: Intake, database_url: str
) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    mother, child = intake.person(created, "principal"), intake.person(created, "child")

    noted = await intake.http.post(
        f"/cases/{case_id}/notes", json={"person_id": mother, "text": NOTE}, headers=CASEWORKER
    )
    body = answered(noted, 201)
    assert body["events"] == ["avrr.intake.NoteAdded"] and NOTE not in noted.text
    passport = answered(
        await attach(
            intake,
            case_id,
            upload(mother, "identity_document", PASSPORT_NAME, PASSPORT),
            CASEWORKER,
        ),
        201,
    )
    # The declared type counts for nothing: the bytes are a PNG.
    signed = answered(
        await attach(
            intake, case_id, upload(child, "signed_consent", "firma.png", SIGNED), CASEWORKER
        ),
        201,
    )
    assert (passport["content_type"], signed["content_type"]) == ("application/pdf", "image/png")
    await intake.wait_for(case_id, version=signed["version"])

    # Casework of the case's offices reads the notes and the list of files (no bytes).
    notes = answered(await intake.http.get(f"/cases/{case_id}/notes", headers=CASEWORKER))
    assert [(n["person_id"], n["text"], n["added_by"]) for n in notes["notes"]] == [
        (mother, NOTE, "cw-gt")
    ]
    listed = answered(await intake.http.get(f"/cases/{case_id}/attachments", headers=CASEWORKER))
    assert [(a["kind"], a["file_name"], a["size_bytes"]) for a in listed["attachments"]] == [
        ("identity_document", PASSPORT_NAME, len(PASSPORT)),
        ("signed_consent", "firma.png", len(SIGNED)),
    ]
    for reader in (ELSEWHERE,):  # an unrelated office gets nothing
        for path in ("notes", "attachments", f"attachments/{signed['attachment_id']}"):
            assert (
                await intake.http.get(f"/cases/{case_id}/{path}", headers=reader)
            ).status_code == 403

    # Downloads: the consent sheet by casework; the identity document by supervisors only.
    file_path = f"/cases/{case_id}/attachments/{{}}"
    got = await intake.http.get(file_path.format(signed["attachment_id"]), headers=CASEWORKER)
    assert got.status_code == 200 and got.content == SIGNED
    assert got.headers["content-type"] == "image/png"
    assert got.headers["cache-control"] == "no-store"
    refused = await intake.http.get(file_path.format(passport["attachment_id"]), headers=CASEWORKER)
    assert (
        refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    )
    got = await intake.http.get(file_path.format(passport["attachment_id"]), headers=SUPERVISOR)
    assert got.status_code == 200 and got.content == PASSPORT
    assert got.headers["content-type"] == "application/pdf"
    assert "attachment" in got.headers["content-disposition"]
    # Each download, the refused ones too, is in the audit log: who, which case, what answer.
    route = "GET /cases/{case_id}/attachments/{attachment_id}"
    downloads = [
        (e.actor, e.outcome)
        for e in await intake.runtime.audit.entries(case_id=case_id)
        if e.route == route
    ]
    assert downloads == [("cw-mx", 403), ("cw-gt", 200), ("cw-gt", 403), ("sup-gt", 200)]

    # The timeline says what was added, never what it says or is called.
    timeline = answered(await intake.http.get(f"/cases/{case_id}/timeline", headers=CASEWORKER))
    lines = [
        i["summary"] for i in timeline["items"] if "Note" in i["type"] or "Attach" in i["type"]
    ]
    assert lines == [
        f"Note written about person {mother}",
        f"Identity document attached for person {mother} (application/pdf, {len(PASSPORT)} bytes)",
        f"Signed consent attached for person {child} (image/png, {len(SIGNED)} bytes)",
    ]
    # Nowhere in the database in plaintext: the note and the name are ciphertext, the bytes sealed.
    dump = await database_dump(database_url)
    assert not [p for p in PLANTS if p in dump]
    async with intake.runtime.db.autocommit() as conn:
        sealed = await conn.scalars(select(attachments.attachments.c.sealed))
        assert not [p for p in PLANTS for s in sealed if p.encode() in bytes(s)]

    # Erasure: the keys go, and the notes and the files' rows and bytes with them.
    erased = answered(await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO))
    await intake.wait_for(case_id, version=erased["version"])
    notes = answered(await intake.http.get(f"/cases/{case_id}/notes", headers=CASEWORKER))
    listed = answered(await intake.http.get(f"/cases/{case_id}/attachments", headers=CASEWORKER))
    assert notes["notes"] == [] and listed["attachments"] == []
    gone = await intake.http.get(file_path.format(signed["attachment_id"]), headers=CASEWORKER)
    assert gone.status_code == 404, gone.text
    async with intake.runtime.db.autocommit() as conn:
        for table in (attachments.attachments, attachments.notes):
            count = select(func.count()).select_from(table).where(table.c.case_id == case_id)
            assert await conn.scalar(count) == 0
    again = await intake.http.post(
        f"/cases/{case_id}/notes", json={"person_id": mother, "text": "later"}, headers=CASEWORKER
    )
    assert again.status_code == 422, again.text


async def test_a_file_is_taken_by_its_bytes_up_to_its_limit_and_bad_input_names_the_field(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 1536 * 1024  # over the 1 MiB of every other request body: the route lets it in
    monkeypatch.setenv("AVRR_ATTACHMENT_MAX_BYTES", str(limit))
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")

    def refused(response: httpx.Response, status: int, field: str) -> None:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        named = [e["field"] for e in problem.get("errors", [])] or [problem.get("field")]
        assert named == [field], problem

    import io
    import zipfile

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("passport.txt", "BO7654321")
    cases = [
        (upload(mother, "other_document", "scan.pdf", packed.getvalue()), 422, "file"),
        (upload(mother, "other_document", "scan.pdf", SIGNED), 422, "file"),  # a PNG named .pdf
        (upload(mother, "other_document", "notes.pdf", b"just some text"), 422, "file"),
        (upload(mother, "other_document", "empty.pdf", b""), 422, "file"),
        (upload(mother, "passport", "scan.pdf", PASSPORT), 422, "kind"),
        (upload("someone-else", "other_document", "scan.pdf", PASSPORT), 422, "person_id"),
        ({"data": {"person_id": mother, "kind": "other_document"}}, 422, "file"),
        (upload(mother, "other_document", "x" * 300 + ".pdf", PASSPORT), 422, "file"),
        # Over the file limit but within the form around it: the command names the file.
        (upload(mother, "other_document", "big.pdf", PASSPORT + b"0" * limit), 413, "file"),
    ]
    for parts, status, field in cases:
        refused(await attach(intake, case_id, parts, CASEWORKER), status, field)
    # Far over: refused by its declared length before it is read (the route's own limit).
    far = await attach(
        intake,
        case_id,
        upload(mother, "other_document", "huge.pdf", PASSPORT + b"0" * 2 * limit),
        CASEWORKER,
    )
    assert far.status_code == 413 and far.headers["content-type"] == "application/problem+json"
    assert str(limit + attachments.FORM_OVERHEAD_BYTES) in far.json()["detail"]
    # Within the limit and over 1 MiB: taken, and downloaded whole.
    large = PASSPORT + b"0" * (1200 * 1024)
    taken = answered(
        await attach(
            intake, case_id, upload(mother, "other_document", "big.pdf", large), CASEWORKER
        ),
        201,
    )
    got = await intake.http.get(
        f"/cases/{case_id}/attachments/{taken['attachment_id']}", headers=CASEWORKER
    )
    assert got.status_code == 200 and got.content == large
    note = await intake.http.post(
        f"/cases/{case_id}/notes", json={"person_id": mother, "text": " "}, headers=CASEWORKER
    )
    refused(note, 422, "text")
    assert await intake.event_types(case_id) == [
        "avrr.intake.ReferralReceived",
        "avrr.intake.AttachmentAdded",
    ]


async def test_concurrent_uploads_on_one_version_store_one_file_and_a_retry_none(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    headers = {**CASEWORKER, "If-Match": f'"{created["version"]}"'}
    answers = await asyncio.gather(
        *(
            attach(
                intake, case_id, upload(mother, "other_document", f"s{n}.pdf", PASSPORT), headers
            )
            for n in range(4)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 412, 412, 412], [a.text for a in answers]
    # A retry with the same Idempotency-Key and file is answered the first answer: no second file.
    keyed = {**CASEWORKER, "Idempotency-Key": f"upload-{case_id}"}
    parts = upload(mother, "other_document", "again.pdf", PASSPORT)
    first = answered(await attach(intake, case_id, parts, keyed), 201)
    retry = await attach(intake, case_id, parts, keyed)
    assert retry.status_code == 201 and retry.json() == first
    assert retry.headers["idempotency-replayed"] == "true"
    other = upload(mother, "other_document", "again.pdf", PASSPORT + b"% another")
    assert (await attach(intake, case_id, other, keyed)).status_code == 422
    async with intake.runtime.db.autocommit() as conn:
        table = attachments.attachments
        stored = select(func.count()).select_from(table).where(table.c.case_id == case_id)
        assert await conn.scalar(stored) == 2


async def test_the_embedded_default_keeps_files_in_sqlite_sealed_and_serves_them_under_its_prefix(
    tmp_path: Path,
) -> None:
    """``make run``'s stack: one app, every service under its prefix, SQLite files on disk."""
    async with as_make_run_serves_it(tmp_path) as http:
        created = answered(await http.post("/intake/referrals", json=referral()), 201)
        case_id, mother = created["case_id"], created["household"][0]["person_id"]
        # Over the 1 MiB of a command: the upload route's own limit lets it in under the prefix.
        scan = PASSPORT + b"0" * (1100 * 1024)
        parts = upload(mother, "signed_consent", PASSPORT_NAME, scan)
        taken = answered(await http.post(f"/intake/cases/{case_id}/attachments", **parts), 201)
        path = f"/intake/cases/{case_id}/attachments/{taken['attachment_id']}"
        got = await http.get(path)
        assert got.status_code == 200 and got.content == scan
        for name in ("intake.db", "intake.db-wal", "keys.db"):
            stored = tmp_path / name
            if stored.exists():
                assert b"FILEPLANT" not in stored.read_bytes(), name
                assert b"NAMEPLANT" not in stored.read_bytes(), name
        erased = await http.post(f"/intake/cases/{case_id}/erasure", headers=DPO)
        assert erased.status_code == 200, erased.text

        async def gone() -> bool:
            return (await http.get(path)).status_code == 404

        await eventually(gone, timeout=10)
