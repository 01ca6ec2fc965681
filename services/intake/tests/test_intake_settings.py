"""Intake's settings (no infrastructure): the duplicate-check secret is a SecretStr."""

from __future__ import annotations

import pytest

from avrr_events.settings import ServiceSettings
from avrr_intake.settings import IntakeSettings


def test_the_duplicate_secret_is_never_shown_and_still_keys_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AVRR_INTAKE_DUPLICATE_SECRET", "d" * 32)
    intake = IntakeSettings()
    assert "d" * 32 not in repr(intake) and "d" * 32 not in str(intake.model_dump())
    assert intake.secret(ServiceSettings(dev=False)) == b"d" * 32
