"""A Wording's facts: codes as they are, a catalog phrase among them worded alike.

A refusal such as "cannot %(action)s: ..." names its action with a phrase of
the same catalog; read in Spanish, the whole sentence is Spanish, and its
English is the sentence as the code always wrote it. (The library's own
catalog, ``avrr_events``, stands in for a service's.)
"""

from __future__ import annotations

from avrr_events.notices.wording import Wording

FREE = "The assistance is free of charge."  # in the library's catalog
SENTENCE = "%(said)s (case %(case)s)"  # not in it: the source text in every language


def test_a_phrase_among_the_facts_is_worded_in_the_readers_language() -> None:
    said = Wording("avrr_events", FREE)
    wording = Wording("avrr_events", SENTENCE, {"said": said, "case": "c-1"})
    assert wording.english == "The assistance is free of charge. (case c-1)"
    assert wording.in_language("es") == "La asistencia es gratuita. (case c-1)"
    assert wording.in_language("qu") == wording.english  # no catalog: English


def test_codes_and_numbers_are_facts_as_they_are() -> None:
    wording = Wording(
        "avrr_events", "at most %(count)s, %(status)s", {"count": 7, "status": "open"}
    )
    assert wording.english == wording.in_language("es") == "at most 7, open"
    assert Wording("avrr_events", FREE).in_language("es") == "La asistencia es gratuita."
