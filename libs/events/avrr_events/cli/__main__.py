"""``python -m avrr_events.cli``: the ``avrr`` command line."""

from avrr_events.cli import main

main()
