"""Adapters: Kafka, the in-process bus, PostgreSQL and SQLite (the drivers live here)."""
