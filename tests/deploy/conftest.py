"""Fixtures shared by the deployment tests that run the built image."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

IMAGE_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "image.sh"


@pytest.fixture(scope="session")
def image() -> str:
    """``make image``'s build of this checkout, once per session (the rehearsal and the
    compose stack run the same one); ``AVRR_REHEARSAL_IMAGE`` names one built already."""
    prebuilt = os.environ.get("AVRR_REHEARSAL_IMAGE")
    if prebuilt:
        return prebuilt
    tag = os.environ.get("AVRR_IMAGE", "localhost/avrr:dev")
    done = subprocess.run(
        ["bash", str(IMAGE_SCRIPT)],
        capture_output=True,
        text=True,
        env={**os.environ, "AVRR_IMAGE": tag},
        timeout=1800,
    )
    assert done.returncode == 0, f"make image failed:\n{done.stderr[-4000:]}"
    print(f"image: {done.stdout.strip()}")
    return tag
