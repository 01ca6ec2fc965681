"""Tests never write under the platform's ``avrr.`` topic prefix, and name what they create.

Listing a shared broker's topics after a session cannot say which test left
one behind; the fixtures that name topics refuse the platform's prefix
instead, and a ``ServiceSettings`` a test builds without naming a broker is the
embedded default's (in-process bus), whatever the environment says.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from avrr_events.settings import ServiceSettings
from avrr_events.testing import PLATFORM_TOPIC_PREFIX, own_topic_prefix


@pytest.mark.parametrize("prefix", ["avrr", "avrr.", "avrr.sample", "avrr.dlq.t.1"])
def test_the_fixture_layer_refuses_a_prefix_in_the_platforms_namespace(prefix: str) -> None:
    with pytest.raises(AssertionError, match="platform's namespace"):
        own_topic_prefix(prefix)


@pytest.mark.parametrize("prefix", ["t.0a1b2c", "t0a1b2c", "avrrx", "ts0a1b2c3d4e"])
def test_a_test_prefix_of_its_own_is_accepted(prefix: str) -> None:
    assert own_topic_prefix(prefix) == prefix


def test_settings_a_test_builds_without_naming_a_broker_use_the_in_process_bus(
    sqlite_url: str,
) -> None:
    """With ``scripts/infra.sh env`` evaluated they used to reach the development broker
    under the platform's prefix (``avrr.<service>.events``) and leave their topics there."""
    settings = ServiceSettings(database_url=sqlite_url, dev=True)
    assert settings.kafka_bootstrap_servers is None
    assert "KAFKA_BOOTSTRAP_SERVERS" not in os.environ


def test_topic_names_and_service_settings_fixtures_are_the_tests_own(
    topic_name: Callable[[str], str], service_settings: ServiceSettings
) -> None:
    assert not topic_name("avrr").startswith(f"{PLATFORM_TOPIC_PREFIX}.")
    assert not service_settings.topic("sample").startswith(f"{PLATFORM_TOPIC_PREFIX}.")
