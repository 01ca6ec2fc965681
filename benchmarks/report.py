"""The table, printed and written into docs/benchmarks.md (between markers, the rest kept)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchmarks.common import Figure

BEGIN = "<!-- bench:latest:begin (written by python -m benchmarks) -->"
END = "<!-- bench:latest:end -->"


@dataclass(frozen=True)
class Machine:
    nproc: int
    postgres: str
    kafka: str
    python: str
    load: str = ""  # load average (1 min) at the start and the end of the run


def markdown_table(figures: list[Figure]) -> str:
    lines = [
        "| figure | ours | baseline | ratio | target | met |",
        "|---|---:|---|---:|---|:-:|",
    ]
    for f in figures:
        met = {True: "yes", False: "**no**", None: "-"}[f.met]
        lines.append(
            f"| {f.name} | {f.ours:,.0f} {f.unit} | {f.baseline_name}: {f.baseline:,.0f} "
            f"| {f.ratio:.2f}x | {f.target} | {met} |"
        )
    return "\n".join(lines)


def latest_block(table: str, host: Machine, command: str, when: datetime) -> str:
    return "\n".join(
        [
            BEGIN,
            f"Run {when:%Y-%m-%d %H:%M} UTC: `{command}` (what `make bench` runs), "
            f"{host.nproc} cores, PostgreSQL {host.postgres}, Kafka {host.kafka}, "
            f"Python {host.python}; load average {host.load}.",
            "",
            table,
            END,
        ]
    )


_HEADER = """# Benchmarks

`make bench` measures each figure of libs/events and its baseline side by side
in one run and prints the ratio (see /work/shared/PERFORMANCE.md for why).

## Latest run

"""


def write_doc(path: Path, table: str, host: Machine, command: str, when: datetime) -> None:
    block = latest_block(table, host, command, when)
    text = path.read_text() if path.exists() else _HEADER + BEGIN + "\n" + END + "\n"
    head, sep, rest = text.partition(BEGIN)
    if not sep:
        text = text.rstrip("\n") + "\n\n## Latest run\n\n" + block + "\n"
    else:
        _, _, tail = rest.partition(END)
        text = head + block + tail
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
