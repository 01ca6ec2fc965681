"""Caseload import throughput: ``avrr import cases FILE``, in cases per second.

``python -m benchmarks.caseload`` (and ``python -m benchmarks --only import``)
writes a caseload file of N households in the documented columns
(docs/import.md: every case a referral, each person's consent and a return
request, so four to five commands; a third of them a parent with a child) and
imports it twice with the CLI's own function (``import_file``: the same
reading, validation, commands and rejects file as the command line), into:

- the embedded default (no DATABASE_URL: intake's SQLite file, in a temporary
  directory), and
- PostgreSQL (a fresh database on DATABASE_URL, migrated first as
  ``avrr setup intake`` would).

Timed from the first row read to the rejects file written (the services'
modules already loaded, as after a first command); the rerun of the same file
(which must create nothing) is reported beside it. Target: >= 200
cases/s into both (issue 18).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from avrr_events import migrations
from avrr_events.cli.base import Config, find_service
from avrr_events.cli.caseload import import_file, installed_importer
from avrr_events.commands import Principal
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import ServiceRuntime
from benchmarks.common import database_url, fresh_database

TARGET = 200.0  # cases/s
ACTOR = Principal("bench-import", frozenset({"caseworker"}), frozenset({"*"}))
GIVEN = ("Rosa", "Ana", "José", "Luis", "María", "Kevin", "Wendy", "Carlos", "Elena", "Jorge")
FAMILY = ("Martínez", "López", "Hernández", "Castro", "Quispe", "Mamani", "Pérez", "Díaz")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def write_caseload(path: Path, cases: int) -> None:
    """``cases`` households, all valid: one adult, or (every third) an adult and a child."""
    columns = list(installed_importer("cases").columns)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        for i in range(cases):
            case = {
                "case_reference": f"BENCH-{i:06d}",
                "office": "GT-GUA",
                "source": "ngo",
                "referrer_name": "Ana Referente",
                "referrer_organisation": "Casa del Migrante",
                "host_country": "GT",
                "current_city": "Ciudad de Guatemala",
                "nationality": "HN",
                "languages": "es",
                "contact_sharing_consented": "yes",
                "phone": f"+502 5555 {i % 10_000:04d}",
                "destination_country": "HN",
                "programme": "AVRR-CA",
            }
            principal = {
                "relationship": "principal",
                "given_names": f"{GIVEN[i % len(GIVEN)]} {i}",
                "family_name": FAMILY[i % len(FAMILY)],
                "date_of_birth": f"{1960 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "sex": "female" if i % 2 else "male",
                "document_type": "passport",
                "document_number": f"HN{i:07d}",
                "consent_purposes": "return_assistance_processing;contact_by_programme",
                "consent_given_on": "2025-11-03",
                "consent_language": "es",
            }
            writer.writerow({**case, **principal})
            if i % 3 == 0:
                writer.writerow(
                    {
                        "case_reference": case["case_reference"],
                        "office": case["office"],
                        "relationship": "child",
                        "given_names": f"Niño {i}",
                        "family_name": principal["family_name"],
                        "date_of_birth": f"{2012 + i % 10}-05-17",
                        "sex": "male",
                        "consent_purposes": "return_assistance_processing",
                        "consent_given_on": "2025-11-03",
                        "consent_given_by": "guardian",
                    }
                )


@dataclass(frozen=True)
class Rate:
    deployment: str
    cases: int
    first: float  # cases/s of the first run
    rerun: float  # cases/s of the rerun (nothing created)
    created: int  # cases the rerun created (must be 0)

    @property
    def met(self) -> bool:
        return self.first >= TARGET and self.created == 0


async def _timed(config: Config, file: Path, cases: int) -> tuple[float, int]:
    started = time.perf_counter()
    outcomes = await import_file(config, file, ACTOR, file.with_suffix(".rejects.csv"))
    elapsed = time.perf_counter() - started
    rejected = [o for o in outcomes if o.status == "rejected"]
    if rejected:
        raise SystemExit(f"the bench caseload had rejected rows: {rejected[:3]}")
    created = len({o.case_id for o in outcomes if o.status == "created"})
    return cases / elapsed, created


async def _twice(name: str, config: Config, file: Path, cases: int) -> Rate:
    say(f"import: {cases:,} cases into {name}")
    first, created = await _timed(config, file, cases)
    if created != cases:
        raise SystemExit(f"import into {name} created {created} of {cases} cases")
    say(f"import: the same file again into {name} (must create nothing)")
    rerun, again = await _timed(config, file, cases)
    return Rate(name, cases, first, rerun, again)


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """The embedded default's SQLite file is ``.avrr-data/intake.db`` of the working directory."""
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


async def run(*, quick: bool = False, cases: int | None = None) -> str:
    """Both deployments; the markdown table of the figures."""
    os.environ.setdefault("AVRR_DEV", "1")  # the development master key and duplicate secret
    cases = cases or (300 if quick else 2000)
    # The command's start-up (loading every installed service to find intake's: 1-2 s,
    # once a process) is not the import's throughput: done before the clock starts.
    find_service(installed_importer("cases").service)
    rates = []
    with tempfile.TemporaryDirectory(prefix="avrr-import-bench-") as tmp:
        file = Path(tmp) / "caseload.csv"
        write_caseload(file, cases)
        with _inside(Path(tmp)):
            # No Kafka and no DATABASE_URL: the embedded default's adapters.
            embedded = Config((("database_url", None), ("kafka_bootstrap_servers", None)))
            rates.append(await _twice("the embedded default (SQLite)", embedded, file, cases))
        async with fresh_database(database_url()) as db:
            service = find_service("intake")
            runtime = ServiceRuntime(service, ServiceSettings(database_url=db.url, dev=True))
            try:
                await migrations.apply(service, runtime.db, runtime.keys_db)
            finally:
                await runtime.db.dispose()
            postgres = Config((("database_url", db.url), ("kafka_bootstrap_servers", None)))
            rates.append(await _twice("PostgreSQL", postgres, file, cases))
    return markdown(rates)


def markdown(rates: list[Rate]) -> str:
    rows = [
        "| caseload import (`avrr import cases`) | cases | first run | rerun (creates nothing) "
        "| target | met |",
        "|---|---:|---:|---:|---|:-:|",
    ]
    for r in rates:
        rows.append(
            f"| into {r.deployment} | {r.cases:,} | {r.first:,.0f} cases/s "
            f"| {r.rerun:,.0f} cases/s, {r.created} created | >= {TARGET:.0f} cases/s "
            f"| {'yes' if r.met else '**no**'} |"
        )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.caseload", description=__doc__)
    p.add_argument("--quick", action="store_true", help="300 cases instead of 2,000")
    p.add_argument("--cases", type=int, default=int(os.environ.get("BENCH_IMPORT_CASES", 0)))
    args = p.parse_args(argv)
    print(asyncio.run(run(quick=args.quick, cases=args.cases or None)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
