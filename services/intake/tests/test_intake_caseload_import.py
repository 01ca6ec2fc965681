"""``avrr import cases FILE``: a caseload spreadsheet becomes cases through intake's commands.

On real PostgreSQL and Kafka (the import beside a running intake, whose relay
and consumer carry the events on), and on the embedded default (the command
line in a directory of its own, intake's SQLite file).
"""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
from intake_fixtures import CASEWORKER, Intake
from sqlalchemy import text
from typer.testing import CliRunner

from avrr_events.batch import HeldAppends
from avrr_events.caseload import RowOutcome, read_rows, rejects_path
from avrr_events.cli import app
from avrr_events.cli.base import Config
from avrr_events.cli.caseload import import_file
from avrr_events.commands import CommandContext, Principal
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually, serving
from avrr_events.web.embedded import embedded_settings
from avrr_events.web.service import ServiceRuntime
from avrr_intake.caseload import COLUMNS, case_id_of, household, households
from avrr_intake.commands import ReferralIn
from avrr_intake.main import service

SAMPLE = Path(__file__).resolve().parents[1] / "caseload-sample.csv"
OPERATOR = Principal("import-operator", frozenset({"caseworker"}), frozenset({"*"}))
FAMILY = {
    "case_reference": "GUA-T-1",
    "office": "GT-GUA",
    "source": "ngo",
    "referrer_name": "Ana Referente",
    "host_country": "GT",
    "nationality": "HN",
    "languages": "es",
    "contact_sharing_consented": "yes",
    "phone": "+502 5555 0101",
    "destination_country": "HN",
    "destination_region": "HN-AT",
    "relationship": "principal",
    "given_names": "Plantedgiven Rosa",
    "family_name": "Plantedfamily",
    "date_of_birth": "1988-03-14",
    "sex": "female",
    "document_type": "passport",
    "document_number": "PLANTEDDOC1",
    "consent_purposes": "return_assistance_processing;contact_by_programme",
    "consent_given_on": "2025-11-03",
}
CHILD = {
    "case_reference": "GUA-T-1",
    "office": "GT-GUA",
    "relationship": "child",
    "given_names": "Kevin",
    "family_name": "Plantedfamily",
    "date_of_birth": "2014-07-22",
    "sex": "male",
    "consent_purposes": "return_assistance_processing",
    "consent_given_on": "2025-11-03",
    "consent_given_by": "guardian",
}


def single(reference: str, **cells: str) -> dict[str, str]:
    """A one-adult household with a return request, every cell valid unless overridden."""
    return {**FAMILY, "case_reference": reference, "given_names": f"Adult {reference}", **cells}


# Each bad row, and the column its reason must name.
BAD = [
    (single("GUA-T-10", date_of_birth="1899-12-31"), "date_of_birth"),
    (single("GUA-T-11", nationality="XX"), "nationality"),
    (single("GUA-T-12", host_country="Guatemala"), "host_country"),
    (single("GUA-T-13", sex="f"), "sex"),
    (single("GUA-T-14", source="ngo", referrer_name=""), "referrer_name"),
    (single("GUA-T-15", office=""), "office"),
    (single("GUA-T-16", consent_purposes="contact_by_programme"), "consent_purposes"),
    (single("GUA-T-17", consent_given_on="2099-01-01"), "consent_given_on"),
    (single("GUA-T-18", languages="klingon"), "languages"),
    (single("GUA-T-19", email="x" * 300), "email"),
    (single("GUA-T-20", destination_country="ZZ"), "destination_country"),
    (single("GUA-T-21", date_of_birth="2015-01-01", consent_given_by="self"), "consent_given_by"),
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def rejects_of(path: Path) -> dict[int, str]:
    with rejects_path(path).open(newline="", encoding="utf-8") as f:
        return {int(r["row"]): r["reason"] for r in csv.DictReader(f)}


def config_of(settings: ServiceSettings) -> Config:
    """The command line's configuration for the service under test (its database and topics)."""
    return Config(
        (
            ("database_url", settings.database_url),
            ("kafka_bootstrap_servers", settings.kafka_bootstrap_servers),
            ("topic_prefix", settings.topic_prefix),
            ("dev", True),
        )
    )


async def imported(settings: ServiceSettings, file: Path) -> list[RowOutcome]:
    return await import_file(config_of(settings), file, OPERATOR, rejects_path(file))


async def test_every_row_becomes_a_case_through_the_commands_and_bad_rows_name_their_column(
    intake: Intake, service_settings: ServiceSettings, tmp_path: Path
) -> None:
    file = write_csv(
        tmp_path / "caseload.csv",
        [FAMILY, *(row for row, _ in BAD), CHILD, single("GUA-T-2", destination_country="")],
    )
    outcomes = await imported(service_settings, file)

    by_row = {o.row: o for o in outcomes}
    family_rows, second = (2, len(BAD) + 3), len(BAD) + 4
    assert {by_row[r].status for r in (*family_rows, second)} == {"created"}
    assert by_row[2].case_id == by_row[family_rows[1]].case_id  # one household, one case
    refused = rejects_of(file)
    assert sorted(refused) == list(range(3, len(BAD) + 3))  # a bad row never stops the others
    for number, (_, column) in enumerate(BAD, start=3):
        assert refused[number].startswith(f"{column}: "), refused[number]
        assert by_row[number].status == "rejected"

    # The family's case as a caseworker reads it: its referral, both consents, the return.
    case_id = by_row[2].case_id
    assert case_id is not None
    types = await intake.event_types(case_id)
    assert types.count("avrr.intake.ReferralReceived") == 1
    assert types.count("avrr.intake.ConsentGiven") == 3
    assert types[-1] == "avrr.intake.ReturnRequested"
    case = await intake.wait_for(case_id, version=len(types))
    assert case["status"] == "return_requested"
    assert case["office"] == "GT-GUA"
    # Recorded by the operator, like a caseworker's request would be.
    events = await intake.runtime.store.load(f"case-{case_id}")
    assert events[0].envelope.data["received_by"] == "import-operator"

    # The names and document of the file are ciphertext in the database.
    async with intake.runtime.db.autocommit() as conn:
        stored = " ".join(str(r) for r in (await conn.execute(text("SELECT * FROM events"))).all())
    for planted in ("Plantedgiven", "Plantedfamily", "PLANTEDDOC1", "+502 5555 0101"):
        assert planted not in stored


async def test_a_rerun_of_the_same_file_creates_nothing(
    intake: Intake, service_settings: ServiceSettings, tmp_path: Path
) -> None:
    file = write_csv(tmp_path / "caseload.csv", [FAMILY, CHILD, single("GUA-T-3")])
    first = await imported(service_settings, file)
    events = len(await intake.event_types())

    again = await imported(service_settings, file)

    assert {o.status for o in first} == {"created"}
    assert {o.status for o in again} == {"already imported"}
    assert [o.case_id for o in again] == [o.case_id for o in first]
    assert len(await intake.event_types()) == events
    assert not rejects_path(file).exists()


async def test_the_same_caseload_as_xlsx_is_the_same_cases(
    intake: Intake, service_settings: ServiceSettings, tmp_path: Path
) -> None:
    """The identity is the office and the programme's reference, not the file: a workbook of
    the rows already imported from a CSV creates nothing; typed dates are read as dates."""
    rows = [FAMILY, CHILD]
    await imported(service_settings, write_csv(tmp_path / "caseload.csv", rows))
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([c.replace("_", " ").capitalize() for c in COLUMNS])  # headers as people type
    for row in [*rows, single("GUA-T-4")]:
        sheet.append(
            [date.fromisoformat(row[c]) if c == "date_of_birth" else row.get(c) for c in COLUMNS]
        )
    workbook = tmp_path / "caseload.xlsx"
    book.save(workbook)

    outcomes = await imported(service_settings, workbook)

    assert [o.status for o in outcomes] == ["already imported", "already imported", "created"]


async def test_a_case_left_half_imported_is_completed_not_duplicated(
    intake: Intake, service_settings: ServiceSettings, tmp_path: Path
) -> None:
    """A run stopped after the referral: the rerun gives the consents and requests the return."""
    file = write_csv(tmp_path / "caseload.csv", [FAMILY, CHILD])
    group = next(households(read_rows(file)[1]))
    case_id = case_id_of(group)
    referral = ReferralIn.model_validate(
        {
            "source": "ngo",
            "referrer": {"name": "Ana Referente"},
            "contact_sharing_consented": False,
            "current_location": {"country": "GT"},
            "nationality": "HN",
            "household": [
                {k: FAMILY[k] for k in ("given_names", "family_name", "date_of_birth", "sex")}
                | {"relationship": "principal"},
                {k: CHILD[k] for k in ("given_names", "family_name", "date_of_birth", "sex")}
                | {"relationship": "child"},
            ],
            "office": "GT-GUA",
        }
    )
    await intake.runtime.commands.receive_referral(case_id, referral, CommandContext(OPERATOR))

    outcomes = await imported(service_settings, file)

    assert {o.status for o in outcomes} == {"created"}
    types = await intake.event_types(case_id)
    assert types.count("avrr.intake.ReferralReceived") == 1
    assert types.count("avrr.intake.ConsentGiven") == 3
    assert types[-1] == "avrr.intake.ReturnRequested"


async def test_two_runs_of_the_same_file_at_once_import_each_case_once(
    intake: Intake, service_settings: ServiceSettings, tmp_path: Path
) -> None:
    rows = [single(f"GUA-T-R{i}") for i in range(12)]
    file = write_csv(tmp_path / "caseload.csv", rows)

    first, second = await asyncio.gather(
        imported(service_settings, file), imported(service_settings, file)
    )

    assert not [o for o in (*first, *second) if o.status == "rejected"]
    cases = {o.case_id for o in first} | {o.case_id for o in second}
    assert len(cases) == len(rows)
    for case_id in cases:
        types = Counter(await intake.event_types(str(case_id)))
        assert types["avrr.intake.ReferralReceived"] == 1
        assert types["avrr.intake.ConsentGiven"] == 2  # two purposes, each recorded once
        assert types["avrr.intake.ReturnRequested"] == 1


async def test_a_batch_refused_at_writing_is_imported_again_one_household_at_a_time(
    intake: Intake,
    service_settings: ServiceSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A case written by someone else between the batch's reading and its writing: the batch's
    write is refused whole, and each household is imported on its own, none lost or doubled."""
    rows = [single(f"GUA-T-B{i}") for i in range(5)]
    file = write_csv(tmp_path / "caseload.csv", rows)
    raced = list(households(read_rows(file)[1]))[2]
    write = HeldAppends.write

    async def another_run_first(held: HeldAppends) -> int:
        case_id = case_id_of(raced)
        if not await intake.runtime.store.load(f"case-{case_id}"):  # the first batch only
            referral = household(raced, datetime.now(UTC)).referral
            await intake.runtime.commands.receive_referral(
                case_id, referral, CommandContext(OPERATOR)
            )
        return await write(held)

    monkeypatch.setattr(HeldAppends, "write", another_run_first)
    outcomes = await imported(service_settings, file)

    assert [o.status for o in outcomes] == ["created"] * len(rows)
    for outcome in outcomes:
        types = Counter(await intake.event_types(str(outcome.case_id)))
        assert types["avrr.intake.ReferralReceived"] == 1
        assert types["avrr.intake.ConsentGiven"] == 2
        assert types["avrr.intake.ReturnRequested"] == 1


async def test_only_the_offices_named_are_imported(
    intake: Intake, service_settings: ServiceSettings, tmp_path: Path
) -> None:
    file = write_csv(tmp_path / "caseload.csv", [single("GUA-T-5"), single("X-1", office="MX-TAP")])
    operator = Principal("import-operator", frozenset({"caseworker"}), frozenset({"MX-TAP"}))

    outcomes = await import_file(config_of(service_settings), file, operator, rejects_path(file))

    assert [o.status for o in outcomes] == ["rejected", "created"]
    assert rejects_of(file)[2].startswith("office: GT-GUA is not one of the importer's offices")


def test_referral_fields_map_to_documented_columns() -> None:
    """Every field of a referral's household member is a column of the file."""
    person = ReferralIn.model_json_schema()["$defs"]["PersonIn"]["properties"]
    assert set(person) <= set(COLUMNS)


def sample_where_make_run_runs(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample file in ``folder``, the working directory now, with nothing in the
    environment naming a database, Kafka, a key store or a data folder: ``avrr`` there uses
    the embedded default's files in ``folder/.avrr-data``, as ``make run`` does."""
    for variable in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "AVRR_KEYSTORE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("AVRR_DATA_DIR", raising=False)
    monkeypatch.chdir(folder)
    file = folder / SAMPLE.name
    file.write_bytes(SAMPLE.read_bytes())
    return file


def test_the_command_line_imports_into_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``avrr import cases`` on the sample file, no DATABASE_URL: the files ``make run`` uses
    (intake's SQLite file and the shared key file), which then serves the cases decrypted."""
    file = sample_where_make_run_runs(tmp_path, monkeypatch)
    runner = CliRunner()

    first = runner.invoke(app, ["import", "cases", str(file), "--user", "maria.lopez"])
    again = runner.invoke(app, ["import", "cases", str(file)])

    assert first.exit_code == 0, first.output
    assert "│ 4    │ 3       │ 0                │ 1        │" in first.stdout, first.stdout
    assert "│ 4    │ 0       │ 3                │ 1        │" in again.stdout, again.stdout
    assert list(rejects_of(file).values()) == [
        "date_of_birth: Input should be a valid date or datetime, day value is outside "
        "expected range"
    ]
    data = tmp_path / ".avrr-data"
    assert (data / "intake.db").exists() and (data / "keys.db").exists()
    group = next(households(read_rows(file)[1]))
    asyncio.run(_served_decrypted(data, case_id_of(group)))


def test_rebuild_on_the_embedded_default_reads_its_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``avrr rebuild intake --all`` with no DATABASE_URL rebuilds the files ``make run`` uses,
    decrypting with the embedded default's shared key file (not a key table of its own in
    intake's SQLite file, where every person would read as erased)."""
    file = sample_where_make_run_runs(tmp_path, monkeypatch)
    runner = CliRunner()
    imported = runner.invoke(app, ["import", "cases", str(file), "--user", "maria.lopez"])
    assert imported.exit_code == 0, imported.output

    rebuilt = runner.invoke(app, ["rebuild", "intake", "--all", "--force"])

    assert rebuilt.exit_code == 0, rebuilt.output
    group = next(households(read_rows(file)[1]))
    asyncio.run(_served_decrypted(tmp_path / ".avrr-data", case_id_of(group)))


async def _served_decrypted(data: Path, case_id: str) -> None:
    """Intake on the embedded default's files (as ``make run`` runs it) relays the import's
    events, projects them, and serves the case with its people's names decrypted."""
    runtime = ServiceRuntime(service, embedded_settings("intake", data))
    async with serving(runtime, headers=CASEWORKER) as http:

        async def readable() -> bool:
            response = await http.get(f"/cases/{case_id}")
            return response.status_code == 200 and response.json()["status"] == "return_requested"

        await eventually(readable, timeout=20)
        case = (await http.get(f"/cases/{case_id}")).json()
    names = sorted(f"{p['given_names']} {p['family_name']}" for p in case["household"])
    assert names == ["Kevin Martínez", "Rosa Elena Martínez López"]


# ------------------------------------------------------------------- REST --

SUPERVISOR = {
    "X-AVRR-User": "supervisor-1",
    "X-AVRR-Roles": "supervisor",
    "X-AVRR-Offices": "GT-GUA",
}
CSV = {"Content-Type": "text/csv"}
XLSX = {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def csv_bytes(rows: list[dict[str, str]], tmp_path: Path) -> bytes:
    return write_csv(tmp_path / "upload.csv", rows).read_bytes()


async def test_a_supervisor_uploads_a_caseload_and_rows_of_other_offices_are_rejected(
    intake: Intake, tmp_path: Path
) -> None:
    body = csv_bytes(
        [single("GUA-T-U1"), single("X-U2", office="MX-TAP"), single("GUA-T-U3", sex="f")],
        tmp_path,
    )

    response = await intake.http.post(
        "/caseload-imports", content=body, headers={**SUPERVISOR, **CSV}
    )
    again = await intake.http.post("/caseload-imports", content=body, headers={**SUPERVISOR, **CSV})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["rows"], answer["created"], answer["rejected"]) == (3, 1, 2)
    by_row = {o["row"]: o for o in answer["outcomes"]}
    assert by_row[3]["reason"] == "office: MX-TAP is not one of the importer's offices"
    assert by_row[4]["reason"].startswith("sex: ")
    case = await intake.wait_for(by_row[2]["case_id"], version=4)
    assert case["received_by"] == "supervisor-1"
    assert (again.json()["created"], again.json()["already_imported"]) == (0, 1)


async def test_an_upload_that_is_no_caseload_is_a_problem_naming_the_file(
    intake: Intake, tmp_path: Path
) -> None:
    for headers, body in (
        ({"Content-Type": "application/json"}, b"{}"),
        (XLSX, b"not a workbook"),
        (CSV, b"\xff\xfe\x00bad"),
    ):
        response = await intake.http.post(
            "/caseload-imports", content=body, headers={**SUPERVISOR, **headers}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "file" in response.text


async def test_a_caseworker_may_not_upload_a_caseload(intake: Intake, tmp_path: Path) -> None:
    response = await intake.http.post(
        "/caseload-imports", content=csv_bytes([single("GUA-T-U4")], tmp_path), headers=CSV
    )
    assert response.status_code == 403, response.text


def test_a_file_that_cannot_be_read_is_one_line_and_nothing_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # where the embedded default's files would be made
    (tmp_path / "cases.txt").write_text("case_reference\nA-1\n")
    (tmp_path / "cases.xlsx").write_bytes(b"not a workbook")
    runner = CliRunner()
    for name, said in (
        ("missing.csv", "missing.csv: no such file"),
        ("cases.txt", "a .csv or .xlsx file is expected, not .txt"),
        ("cases.xlsx", "not a readable XLSX workbook"),
    ):
        result = runner.invoke(app, ["import", "cases", str(tmp_path / name)])
        assert result.exit_code == 1
        assert said in result.stderr, result.stderr
    assert not (tmp_path / ".avrr-data").exists()


async def test_an_uploads_rejected_rows_give_their_reasons_in_the_readers_language(
    intake: Intake, tmp_path: Path
) -> None:
    """Issue 19: the reasons of an upload's rejected rows follow Accept-Language (the column
    named as it is); without it they are the English ones of the rejects file."""
    body = csv_bytes(
        [
            single("X-L1", office="MX-TAP"),
            single("GUA-T-L2", date_of_birth="1899-12-31"),
            single("GUA-T-L3", sex="f"),
            single("GUA-T-L4", email="x" * 300),
            single("GUA-T-L5", date_of_birth="2015-01-01", consent_given_by="self"),
        ],
        tmp_path,
    )
    answers = {}
    for language in ("pt", "es", None):
        asked = {"Accept-Language": language} if language else {}
        response = await intake.http.post(
            "/caseload-imports", content=body, headers={**SUPERVISOR, **CSV, **asked}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-language"] == (language or "en")
        assert "accept-language" in response.headers["vary"].lower()
        answers[language or "en"] = {o["row"]: o["reason"] for o in response.json()["outcomes"]}
    en, pt, es = answers["en"], answers["pt"], answers["es"]
    assert en[2] == "office: MX-TAP is not one of the importer's offices"
    assert pt[2] == "office: MX-TAP não é um dos escritórios de quem importa"
    assert es[2] == "office: MX-TAP no es una de las oficinas de quien importa"
    assert en[3] == "date_of_birth: must not be before 1900"
    assert pt[3] == "date_of_birth: não deve ser anterior a 1900"
    assert en[4].startswith("sex: Input should be 'female', ")
    assert pt[4].startswith("sex: O valor deve ser 'female', ") and " ou '" in pt[4]
    assert en[5] == "email: String should have at most 254 characters"
    assert es[5] == "email: El texto debe tener como máximo 254 carácter(es)"
    assert en[6].startswith("consent_given_by: the person is a child: ")
    assert pt[6].startswith("consent_given_by: a pessoa é uma criança: ")


async def test_an_upload_that_cannot_be_read_says_why_in_the_readers_language(
    intake: Intake,
) -> None:
    empty = await intake.http.post(
        "/caseload-imports",
        content=b"",
        headers={**SUPERVISOR, **CSV, "Accept-Language": "pt"},
    )
    assert empty.status_code == 422, empty.text
    assert empty.json()["detail"] == (
        "file: o ficheiro está vazio (a primeira linha indica as colunas)"
    )
    english = await intake.http.post(
        "/caseload-imports", content=b"", headers={**SUPERVISOR, **CSV}
    )
    assert english.json()["detail"] == ("file: the file is empty (the first row names the columns)")
