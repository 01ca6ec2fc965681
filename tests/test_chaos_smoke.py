"""``make chaos`` in small, on real servers: each kind of fault happens, every check runs, and
what the consumers, outbox relays and dead-lettering guarantee holds (nothing lost, nothing
healthy dead-lettered, every poison record dead-lettered with its reason, lag back to zero).

Every lifecycle completes: a process killed between a command's commit and its
answer leaves the answer stored with the effect (docs/reliability.md), so the retry
gets it replayed, never a 409 idempotency-key-applied.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from avrr_events.testing import _free_port

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("AVRR_PG_BIN", "/usr/lib/postgresql/15/bin"))


@pytest.mark.infra
def test_a_few_lifecycles_survive_sigkills_restarts_and_poison_with_every_check_passing() -> None:
    if shutil.which("java") is None or not (PG_BIN / "initdb").exists():
        pytest.skip("make chaos needs Java 17 and PostgreSQL 15 binaries (scripts/infra.sh)")
    # A directory of this run's own: two runs of the suite at once (two checkouts on one
    # machine) shared the fixed one, and the later run's servers took over the earlier's.
    state_dir = Path(tempfile.mkdtemp(prefix="avrr-chaos-smoke-", dir="/var/tmp"))
    state_dir.chmod(0o755)  # PostgreSQL runs as the postgres user, inside it
    command = [
        sys.executable,
        "-m",
        "chaos",
        "--cases=6",
        "--concurrency=6",
        "--kill-every=4",
        "--max-minutes=3",
        "--step-timeout=120",
        "--settle-minutes=3",
        f"--state-dir={state_dir}",
        f"--pg-port={_free_port()}",
        f"--kafka-port={_free_port()}",
        f"--controller-port={_free_port()}",
    ]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    report = run.stdout
    assert run.returncode in (0, 1) and "| chaos figure |" in report, run.stderr[-4000:]
    # Each fault happened and each check ran.
    assert "| broker / database restarts | 1 / 1 |" in report
    assert "| poison records injected | 16 |" in report
    assert "consumer lag back to zero, outboxes empty, after" in report
    for check in ("inbox rows checked", "intake timeline rows checked", "dead letters (all"):
        assert check in report
    for broken in (
        "events lost on the way to a consumer group",
        "inbox rows without a stored event",
        "twice in inbox",
        "timeline differs from the event stores",
        "injected poison not dead-lettered",
        "dead letters that were not injected poison",
        "lag or outbox not zero",
        "faults that could not be injected",
    ):
        assert broken not in report, report
    # No command took effect without its answer stored (http.IdempotencyKeys).
    assert "(409 key applied; each fails its lifecycle) | 0 |" in report, report
    kills = re.search(r"\| SIGKILLs \(per service\) \| (\d+)", report)
    assert kills is not None and int(kills.group(1)) >= 1, report
    # Kept when a check fails above, for its servers' and services' logs.
    shutil.rmtree(state_dir, ignore_errors=True)
