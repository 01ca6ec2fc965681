"""A malformed programme file stops the service at start, naming the faulty field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SEED_FILE = Path(__file__).resolve().parents[1] / "avrr_eligibility" / "programmes.yaml"

START = "from avrr_eligibility.main import create_app; create_app()"


def start_with(programmes: Path, code: str = START) -> subprocess.CompletedProcess[str]:
    """Assemble the service in a fresh interpreter, as uvicorn/make run/make up do."""
    env = {**os.environ, "AVRR_ELIGIBILITY_PROGRAMMES": str(programmes), "AVRR_DEV": "1"}
    # Without DATABASE_URL the runtime would use SQLite under the working directory.
    env.setdefault("DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=programmes.parent,
    )


def test_malformed_programme_file_is_refused_at_start_naming_the_field(tmp_path: Path) -> None:
    broken = tmp_path / "programmes.yaml"
    broken.write_text(
        SEED_FILE.read_text().replace("host_countries: [PT]", "host_countries: [Portugal]")
    )
    started = start_with(broken)
    assert started.returncode != 0
    assert "ProgrammeFileError" in started.stderr
    assert f"programme file {broken} is invalid" in started.stderr
    assert "programmes[1](arvore).host_countries[0]" in started.stderr
    assert "'Portugal' is not an ISO 3166-1 alpha-2 country code" in started.stderr


def test_another_valid_programme_file_starts_with_its_version(tmp_path: Path) -> None:
    other = tmp_path / "programmes.yaml"
    other.write_text(SEED_FILE.read_text().replace('version: "2026.1"', 'version: "2027.1"'))
    started = start_with(
        other, "from avrr_eligibility.main import service; print(service.description)"
    )
    assert started.returncode == 0, started.stderr
    assert "Programmes version 2027.1" in started.stdout
