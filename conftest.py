"""Root conftest: every test in the monorepo gets the shared real-infrastructure fixtures."""

pytest_plugins = ["avrr_events.testing"]
