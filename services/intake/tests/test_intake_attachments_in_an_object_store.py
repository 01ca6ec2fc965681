"""With ``AVRR_ATTACHMENT_STORE=s3`` a file's sealed bytes rest in an S3-compatible object
store instead of PostgreSQL: sealed as in the database (the store never holds plaintext), read
back on download, deleted at erasure. Against a real local S3 server (moto's, run through
``uvx`` in an environment of its own: its botocore cannot share the platform's lock), and
real PostgreSQL and Kafka."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import obstore
import pytest
from intake_fixtures import DPO, Intake, answered, running_intake
from obstore.store import S3Store
from sqlalchemy import select

from avrr_events.settings import ServiceSettings
from avrr_events.testing import database_dump, eventually, infra_required
from avrr_intake import attachments

MOTO = "moto[server]==5.2.6"
BUCKET = "avrr-attachments-test"
SCAN = b"%PDF-1.7\n% OBJECTPLANT-BO7654321\n%%EOF\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server with an empty bucket."""
    uvx = shutil.which("uvx", path=str(Path(sys.executable).parent)) or shutil.which("uvx")
    if uvx is None:
        if infra_required():
            pytest.fail("AVRR_REQUIRE_INFRA=1: uvx (to run moto's S3 server) is not available")
        pytest.skip("uvx (to run moto's S3 server) is not available")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [uvx, "--from", MOTO, "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120  # the first run downloads moto into uv's cache
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT"))
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
async def intake_on_s3(
    s3_endpoint: str, service_settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Intake]:
    for name, value in {
        "AVRR_ATTACHMENT_STORE": "s3",
        "AVRR_ATTACHMENT_S3_ENDPOINT": s3_endpoint,
        "AVRR_ATTACHMENT_S3_BUCKET": BUCKET,
        "AVRR_ATTACHMENT_S3_ACCESS_KEY_ID": "test",
        "AVRR_ATTACHMENT_S3_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    async with running_intake(service_settings) as intake:
        yield intake


async def test_files_rest_sealed_in_the_object_store_and_go_with_their_person(
    intake_on_s3: Intake, s3_endpoint: str, database_url: str
) -> None:
    intake = intake_on_s3
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    taken = answered(
        await intake.http.post(
            f"/cases/{case_id}/attachments",
            data={"person_id": mother, "kind": "signed_consent"},
            files={"file": ("firma-OBJECTPLANT.pdf", SCAN, "application/pdf")},
        ),
        201,
    )
    async with intake.runtime.db.autocommit() as conn:
        row = (await conn.execute(select(attachments.attachments))).one()
    assert row.sealed is None and row.object_key is not None
    store = S3Store(
        BUCKET,
        endpoint=s3_endpoint,
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    stored = bytes(await (await obstore.get_async(store, row.object_key)).bytes_async())
    assert b"OBJECTPLANT" not in stored and len(stored) == len(SCAN) + 28
    assert "OBJECTPLANT" not in await database_dump(database_url)

    path = f"/cases/{case_id}/attachments/{taken['attachment_id']}"
    got = await intake.http.get(path)
    assert got.status_code == 200 and got.content == SCAN

    erased = answered(await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO))
    await intake.wait_for(case_id, version=erased["version"])

    async def deleted() -> bool:
        try:
            await obstore.get_async(store, row.object_key)
        except FileNotFoundError:
            return True
        return False

    await eventually(deleted, timeout=10)
    assert (await intake.http.get(path)).status_code == 404
