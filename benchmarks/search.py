"""People search (intake, issue 18): latency over 100,000 people, and how often it is wrong.

``python -m benchmarks.search`` (and ``python -m benchmarks --only search``)
generates a population of Spanish- and Portuguese-named people (given names
and family names drawn with the skewed frequencies real names have, so
homonyms occur as they do: many Marías, many Garcías; compound family names,
particles, accents, documents, phones, in households of one to five),
writes their tokens with intake's own code (``Terms.of_person``,
``SearchKey``) into intake's search table on a fresh PostgreSQL database,
then searches for people picked at random, each time under another spelling
of their name (accents dropped, b/v, ll/y, z/s, silent h, hyphens, particles,
case ...; ``misspelt``), with intake's own query (``find_people``, the SQL the
route runs, as a headquarters user: every office, the worst case).

Per kind of search it reports:

- found: the person searched for is on the first page (20);
- first: nobody is ranked above them (ties with another person count as
  not first);
- false matches: the share of searches in which someone else is ranked at or
  above them, and how many other people a search returns on average (a
  name alone finds the person's homonyms too: the figure says how much a
  birth date or a document narrows it);
- p50 / p99 latency of the query (target: p99 < 50 ms over 100,000 people).

Sizes: BENCH_PEOPLE (default 100,000; 10,000 with --quick) and
BENCH_SEARCHES per kind (default 300; 100 with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from avrr_events import Database
from avrr_intake import handover, read_models, search, spelling
from avrr_intake.search import SearchKey, Terms
from benchmarks import lifecycle
from benchmarks.common import database_url, fresh_database
from benchmarks.lifecycle import Line, p50_p99, quantile

TARGET_P99 = 0.050  # seconds (issue 18)
PAGE = 20
OFFICES = ("GT-GUA", "MX-TAP", "HN-TGU", "SV-SAL", "ES-MAD", "PT-LIS")

# Most common first (``zipf``).
GIVEN = [
    "María",
    "José",
    "Juan",
    "Luis",
    "Carlos",
    "Ana",
    "Jorge",
    "Rosa",
    "Pedro",
    "Carmen",
    "Miguel",
    "Sofía",
    "Javier",
    "Lucía",
    "Guillermo",
    "Isabel",
    "Héctor",
    "Yolanda",
    "Víctor",
    "Cecilia",
    "Gerardo",
    "Ximena",
    "Raúl",
    "Beatriz",
    "Joaquín",
    "Thiago",
    "João",
    "Conceição",
    "Gonçalo",
    "Inês",
    "Sebastião",
    "Luíz",
    "Rafael",
    "Helena",
    "Valentina",
    "Wilmer",
    "Mohammed",
    "Youssef",
    "Fátima",
    "Jesús",
    "Ángel",
    "Verónica",
    "Esteban",
    "Graciela",
    "Hugo",
    "Vicente",
    "Xavier",
    "Elena",
    "Rocío",
    "Mateus",
    "Lourdes",
    "Ignacio",
    "Yésica",
    "Hilda",
    "Giovanni",
    "Zoila",
    "Celia",
    "Ezequiel",
]
FAMILY = [
    "García",
    "Rodríguez",
    "González",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Hernández",
    "Jiménez",
    "Ruiz",
    "Díaz",
    "Álvarez",
    "Moreno",
    "Muñoz",
    "Romero",
    "Alonso",
    "Gutiérrez",
    "Navarro",
    "Vásquez",
    "Castillo",
    "Villalobos",
    "Quispe",
    "Mamani",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Carvalho",
    "Gonçalves",
    "Almeida",
    "Peña",
    "Zelaya",
    "Cevallos",
    "Guzmán",
    "Yáñez",
    "Chávez",
    "Herrera",
    "Quintero",
    "Valle",
    "Llanos",
    "Bravo",
    "Benítez",
    "Hidalgo",
    "Zúñiga",
    "Orellana",
    "Xicará",
    "Ajú",
    "Tzul",
    "Batz",
    "Coj",
]
PARTICLES = ("de", "del", "de la", "da", "dos", "das", "do")


def zipf(items: Sequence[str], rng: random.Random) -> str:
    """A name drawn with weight 1 / (rank + 10): the first of a list is drawn about 5% of the
    time, the last about 0.7%, as the commonest given and family names are in Spain (María,
    García: 3 to 7% of people) and the rarer ones in these lists are."""
    weights = [1 / (rank + 10) for rank in range(len(items))]
    return rng.choices(items, weights)[0]


@dataclass(frozen=True)
class Person:
    case_id: str
    person_id: str
    office: str
    given_names: str
    family_name: str
    born: date
    document: str | None
    phone: str | None

    def personal(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "given_names": self.given_names,
            "family_name": self.family_name,
            "date_of_birth": self.born.isoformat(),
        }
        if self.document:
            values["document"] = {"type": "passport", "number": self.document}
        return values


def family_name(rng: random.Random) -> str:
    first, second = zipf(FAMILY, rng), zipf(FAMILY, rng)
    shape = rng.random()
    if shape < 0.35:
        return first
    if shape < 0.55:
        return f"{first}-{second}"  # compound
    if shape < 0.7:
        return f"{first} {rng.choice(PARTICLES)} {second}"  # with a particle
    return f"{first} {second}"  # Spanish: father's and mother's


def population(size: int, rng: random.Random) -> list[Person]:
    """``size`` people in households of one to five, each household a case of one office."""
    people: list[Person] = []
    while len(people) < size:
        case_id, office = str(uuid.uuid4()), rng.choice(OFFICES)
        family = family_name(rng)
        phone = f"+502 {rng.randrange(10**7, 10**8)}" if rng.random() < 0.6 else None
        for member in range(min(rng.randint(1, 5), size - len(people))):
            given = zipf(GIVEN, rng) + (f" {zipf(GIVEN, rng)}" if rng.random() < 0.4 else "")
            born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 70))
            document = (
                f"{rng.choice('ABCDGHMP')}{rng.randrange(10**6, 10**8)}"
                if rng.random() < 0.7
                else None
            )
            people.append(
                Person(
                    case_id,
                    str(uuid.uuid4()),
                    office,
                    given,
                    family,
                    born,
                    document,
                    phone if member == 0 else None,
                )
            )
    return people


# One spelling variation each; a search applies one to three of them.
VARIATIONS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("accents", spelling.unaccented),
    ("upper case", str.upper),
    ("b/v", lambda s: s.replace("v", "b").replace("V", "B")),
    ("ll/y", lambda s: s.replace("ll", "y").replace("Ll", "Y")),
    ("z/s", lambda s: s.replace("z", "s")),
    ("soft c/s", lambda s: s.replace("ce", "se").replace("ci", "si").replace("Ce", "Se")),
    ("silent h", lambda s: re.sub(r"\b[Hh](?=[AEIOUÁÉÍÓÚaeiouáéíóú])", "", s)),
    ("hyphen/space", lambda s: s.replace("-", " ")),
    ("particles", lambda s: " ".join(w for w in s.split() if w.lower() not in PARTICLES)),
    ("g/j", lambda s: s.replace("Gi", "Ji").replace("ge", "je").replace("gi", "ji")),
    ("ç/c", lambda s: s.replace("ç", "c")),
    ("ñ/n", lambda s: s.replace("ñ", "n").replace("Ñ", "N")),
)


def misspelt(name: str, rng: random.Random) -> str:
    for _, vary in rng.sample(VARIATIONS, rng.randint(1, 3)):
        name = vary(name)
    return name


@dataclass
class Kind:
    """One kind of search and what it found."""

    name: str
    searches: int = 0
    found: int = 0
    first: int = 0
    outranked: int = 0  # someone else ranked at or above the person
    others: int = 0  # other people returned, summed
    latencies: list[float] = field(default_factory=list)


def query(kind: str, p: Person, rng: random.Random) -> search.Terms | None:
    """The terms of one search for ``p``, misspelt; None when p has no such field."""
    full = f"{p.given_names} {p.family_name}"
    if kind == "name":
        return search.PeopleSearchIn(name=misspelt(full, rng)).terms()
    if kind == "given name + first family name":
        short = f"{p.given_names.split()[0]} {p.family_name.split()[0].split('-')[0]}"
        return search.PeopleSearchIn(name=misspelt(short, rng)).terms()
    if kind == "name + date of birth":
        return search.PeopleSearchIn(name=misspelt(full, rng), date_of_birth=p.born).terms()
    if kind == "document":
        if p.document is None:
            return None
        spaced = f"{p.document[:1]}-{p.document[1:4]} {p.document[4:]}".lower()
        return search.PeopleSearchIn(document_number=spaced).terms()
    if kind == "phone":
        if p.phone is None:
            return None
        return search.PeopleSearchIn(phone=p.phone[-8:-4] + "-" + p.phone[-4:]).terms()
    raise ValueError(kind)


KINDS = (
    "name",
    "given name + first family name",
    "name + date of birth",
    "document",
    "phone",
)


async def fill(db: Database, dsn: str, people: list[Person], key: SearchKey) -> None:
    """The cases, people and tokens of ``people``, COPied in (what the projection writes)."""
    await db.create_schema(read_models.metadata, handover.metadata, search.metadata)
    now = datetime.now(UTC)
    cases: dict[str, tuple[Any, ...]] = {}
    indexed: list[tuple[str, str, int]] = []
    tokens: list[tuple[int, str, str, str | None, str | None]] = []
    for p in people:
        cases.setdefault(
            p.case_id,
            (p.case_id, 1, "open", p.office, "GT", "MX", "ngo", 1, False, False, False, now, now,
             None, "{}"),
        )  # fmt: skip
        number = search.person_number(p.person_id)
        indexed.append((p.case_id, p.person_id, number))
        for row in Terms.of_person(p.personal(), p.phone).rows(key):
            tokens.append((number, row.kind, row.token, row.exact, row.sound))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "intake_cases",
            records=list(cases.values()),
            columns=[
                "case_id", "version", "status", "office", "nationality", "host_country",
                "source", "household_size", "unaccompanied_minor", "personal_data_erased",
                "possible_duplicate", "referred_at", "updated_at", "principal", "detail",
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "intake_search_people", records=indexed, columns=["case_id", "person_id", "number"]
        )
        await conn.copy_records_to_table(
            "intake_search_tokens",
            records=tokens,
            columns=["number", "kind", "token", "exact", "sound"],
        )
        # As autovacuum leaves tables that have settled: statistics, and the visibility map.
        for table in ("intake_cases", "intake_search_people", "intake_search_tokens"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


async def measure(db: Database, people: list[Person], key: SearchKey, per_kind: int) -> list[Kind]:
    rng = random.Random(18)
    kinds = {name: Kind(name) for name in KINDS}
    # Untimed first: the pool's connections, their prepared statements, the table's pages.
    warm = random.Random(1)
    async with db.autocommit() as conn:
        for name in KINDS:
            for _ in range(5):
                terms = query(name, warm.choice(people), warm)
                if terms is not None:
                    await search.find_people(conn, key, terms, visible=None)
    for name, kind in kinds.items():
        while kind.searches < per_kind:
            person = rng.choice(people)
            terms = query(name, person, rng)
            if terms is None:
                continue
            started = time.perf_counter()
            async with db.autocommit() as conn:
                matches, total = await search.find_people(
                    conn, key, terms, visible=None, limit=PAGE
                )
            kind.latencies.append(time.perf_counter() - started)
            kind.searches += 1
            mine = next((m for m in matches if m.person_id == person.person_id), None)
            kind.others += total - (mine is not None)
            if mine is None:
                kind.outranked += 1
                continue
            kind.found += 1
            rivals = [m for m in matches if m.person_id != person.person_id]
            if any(m.score >= mine.score for m in rivals):
                kind.outranked += 1
            else:
                kind.first += 1
    return list(kinds.values())


def markdown(lines: list[Line]) -> str:
    """The lifecycle's table of lines, headed as this figure's."""
    return lifecycle.markdown(lines).replace("lifecycle figure", "people search figure", 1)


def lines(kinds: list[Kind], size: int) -> list[Line]:
    out = []
    for k in kinds:
        n = k.searches
        out.append(
            Line(
                f"people search by {k.name}, {size:,} people: found / first / false-match rate",
                f"{k.found / n:.1%} / {k.first / n:.1%} / {k.outranked / n:.1%} "
                f"({k.others / n:,.1f} others returned per search)",
            )
        )
    for k in kinds:
        out.append(Line(f"people search by {k.name}: p50 / p99", p50_p99(k.latencies)))
    every = [s for k in kinds for s in k.latencies]
    worst = quantile(every, 0.99)
    out.append(
        Line(
            f"people search, every kind, {size:,} people: p99",
            f"{worst * 1000:,.1f} ms",
            f"< {TARGET_P99 * 1000:.0f} ms",
            worst < TARGET_P99,
        )
    )
    return out


async def run(*, quick: bool = False) -> str:
    """The people-search lines as a markdown table, for ``python -m benchmarks``."""
    size = int(os.environ.get("BENCH_PEOPLE", 10_000 if quick else 100_000))
    per_kind = int(os.environ.get("BENCH_SEARCHES", 100 if quick else 300))
    return markdown(lines(await measured(size, per_kind), size))


async def measured(size: int, per_kind: int) -> list[Kind]:
    """Generate ``size`` people, index them, search ``per_kind`` times per kind of search."""
    rng = random.Random(2026)
    key = SearchKey(os.urandom(32))
    people = population(size, rng)
    async with fresh_database(database_url()) as bench:
        db = Database(bench.url)
        try:
            print(f"search: {size:,} people, their tokens COPied in", file=sys.stderr)
            await fill(db, bench.dsn, people, key)
            print(f"search: {per_kind} searches of each kind", file=sys.stderr)
            return await measure(db, people, key, per_kind)
        finally:
            await db.dispose()


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__)
    p.add_argument("--people", type=int, default=int(os.environ.get("BENCH_PEOPLE", 100_000)))
    p.add_argument("--searches", type=int, default=int(os.environ.get("BENCH_SEARCHES", 300)))
    args = p.parse_args(argv)
    print(markdown(lines(await measured(args.people, args.searches), args.people)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
