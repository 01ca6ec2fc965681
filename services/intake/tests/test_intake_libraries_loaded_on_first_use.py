"""The PDF, file-type and object-store libraries and httpx load on first use, not at start-up.

Issue 21 holds each service process under 150 MB; fpdf2 (with fontTools and Pillow),
obstore, puremagic and httpx were ~40 MB of intake's, loaded by every process whether or
not it ever drew a notice or took a file. The check runs in a fresh interpreter (this
test session has imported them all long ago): the app starts without them, and its first
PDF notice and first upload still answer as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

LOADED_ON_FIRST_USE = ("fpdf", "fontTools", "PIL", "obstore", "puremagic", "httpx")

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path

    from avrr_events.web.embedded import build_app
    from avrr_intake.main import service

    LAZY = {lazy!r}


    def loaded() -> list[str]:
        return sorted(m for m in LAZY if m in sys.modules)


    app = build_app(Path(sys.argv[1]), [service])
    assert loaded() == [], f"imported at start-up: {{loaded()}}"

    import httpx
    from intake_fixtures import CASEWORKER, referral

    SCAN = b"%PDF-1.7\\n1 0 obj\\n<< /Type /Catalog >>\\nendobj\\n%%EOF\\n"


    async def first_use() -> None:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://avrr", headers=CASEWORKER
            ) as http,
        ):
            pdf = {{"Accept": "application/pdf"}}
            notice = await http.get("/intake/notices/rights", headers=pdf)
            assert notice.status_code == 200, notice.text
            assert notice.content.startswith(b"%PDF"), notice.content[:20]
            created = await http.post("/intake/referrals", json=referral())
            assert created.status_code == 201, created.text
            case_id = created.json()["case_id"]
            person_id = created.json()["household"][0]["person_id"]
            taken = await http.post(
                f"/intake/cases/{{case_id}}/attachments",
                data={{"person_id": person_id, "kind": "signed_consent"}},
                files={{"file": ("consent.pdf", SCAN, "application/pdf")}},
            )
            assert taken.status_code == 201, taken.text
            wrong = await http.post(
                f"/intake/cases/{{case_id}}/attachments",
                data={{"person_id": person_id, "kind": "signed_consent"}},
                files={{"file": ("consent.png", SCAN, "image/png")}},
            )
            assert wrong.status_code == 422, wrong.text
            assert "fpdf" in sys.modules and "puremagic" in sys.modules, loaded()


    asyncio.run(first_use())
    print("ok")
    """
)


def test_intake_starts_without_them_and_its_first_pdf_and_upload_still_answer(
    tmp_path: Path,
) -> None:
    script = SCRIPT.format(lazy=LOADED_ON_FIRST_USE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    ran = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip().endswith("ok"), ran.stdout[-2000:]
