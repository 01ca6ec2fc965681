"""reintegration's schema revisions (Alembic, run by ``avrr_events.migrations``)."""
