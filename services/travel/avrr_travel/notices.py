"""Travel instructions as the household is given them, in their language (issue 19).

What a person needs on the day of a return, on one page they can keep: the
departure date, where and when to meet the escort or staff, how they travel
and by which route, who travels with them, which document each traveller
brings, and that they may still decide not to go. Built from the movement
(the aggregate, read from the event store) with travel's catalog (domain
``avrr_travel``).

No personal data: travellers are named by their person ids and ages, as travel
knows them; the booking reference (which names the passengers at the carrier)
is left out; the meeting point is a public place (a terminal, a bus station,
the office), never an address of the person.
"""

from __future__ import annotations

from collections.abc import Callable

from avrr_events.notices import (
    N_,
    Notice,
    Section,
    country_name,
    format_date,
    listing,
    translations,
)
from avrr_events.notices.rights import rights_section
from avrr_travel.movement import Escort, Movement

DOMAIN = "avrr_travel"

_DOCUMENTS = {
    "passport": N_("passport"),
    "emergency_travel_document": N_("emergency travel document"),
    "laissez_passer": N_("laissez-passer"),
}
_MODES = {"air": N_("by air"), "land": N_("by land")}
_ESCORTS = {
    "operational": N_("an operational escort (programme staff)"),
    "medical": N_("a medical escort"),
}


def person_languages(movement: Movement) -> tuple[str, ...]:
    """The languages the household reads, as intake recorded them (through eligibility)."""
    return tuple(movement.opened.languages) if movement.opened else ()


def travel_instructions(
    movement: Movement, language: str, meeting_point: str | None = None
) -> Notice:
    """The travel instructions of a movement in ``language`` (its booking when ticketed);
    ``meeting_point`` is the booking's, decrypted."""
    t = translations(DOMAIN, language).gettext
    opened = movement.opened
    assert opened is not None, "a movement has instructions once it is opened"
    destination = country_name(opened.destination_country, language)
    if opened.destination_region:
        destination = f"{opened.destination_region} ({destination})"
    rows = [(t(N_("Case")), movement.id), (t(N_("Destination")), destination)]
    booking = movement.booking
    sections: list[Section] = []
    if movement.cancelled:
        sections.append(Section(t(N_("Your journey")), (t(N_("This journey is cancelled.")),)))
    elif booking is None:
        sections.append(
            Section(
                t(N_("Your journey")),
                (
                    t(
                        N_(
                            "Your journey is not booked yet: the travel office will give you "
                            "the date, the meeting point and the route."
                        )
                    ),
                ),
            )
        )
    else:
        rows += [
            (t(N_("Departure date")), format_date(booking.departure_date, language)),
            (
                t(N_("Meeting point")),
                meeting_point or t(N_("to be confirmed by the travel office")),
            ),
        ]
        if booking.meeting_time is not None:
            rows.append((t(N_("Meeting time")), booking.meeting_time.strftime("%H:%M")))
        rows += [
            (t(N_("Transport")), f"{t(_MODES[booking.mode])}, {booking.carrier}"),
            (t(N_("Route")), " → ".join(booking.route)),
            (t(N_("Escort")), _escort(booking.escorts, language, t)),
        ]
        sections.append(
            Section(
                t(N_("On the day")),
                (
                    t(
                        N_(
                            "Be at the meeting point on time, with every traveller and the "
                            "documents below. Staff of the programme will meet you there."
                        )
                    ),
                    t(
                        N_(
                            "If you cannot travel that day, tell the travel office as soon as "
                            "possible: another date can be booked."
                        )
                    ),
                ),
            )
        )
    sections.append(_documents(movement, language, t))
    voluntary = N_(
        "Return is voluntary: you may still decide not to travel, at any time before departure."
    )
    sections.append(rights_section(language, t(voluntary)))
    return Notice(
        language=language,
        title=t(N_("Your travel instructions")),
        rows=tuple(rows),
        sections=tuple(sections),
        footer=t(N_("Travel instructions, case %(case)s")) % {"case": movement.id},
    )


def _escort(escorts: list[Escort], language: str, t: Callable[[str], str]) -> str:
    kinds = sorted({e.kind for e in escorts})
    if not kinds:
        return t(N_("none: you travel on your own"))
    return listing([t(_ESCORTS[k]) for k in kinds], language)


def _documents(movement: Movement, language: str, t: Callable[[str], str]) -> Section:
    rows = []
    for number, traveller in enumerate(movement.travellers.values(), start=1):
        who = t(N_("Traveller %(number)d (%(person)s), %(age)d years")) % {
            "number": number,
            "person": traveller.member.person_id,
            "age": traveller.member.age_years,
        }
        document = traveller.document
        if document is None:
            what = t(N_("a travel document: the travel office will tell you which"))
        elif document.obtained_on is None:
            what = t(N_("%(document)s (requested; the travel office will give it to you)")) % {
                "document": t(_DOCUMENTS[document.document_type])
            }
        else:
            what = t(_DOCUMENTS[document.document_type])
        rows.append((who, what))
    return Section(
        t(N_("Documents to bring")),
        (
            t(
                N_(
                    "Bring this notice, each traveller's document below, and any medicines "
                    "you take, in your hand luggage."
                )
            ),
        ),
        tuple(rows),
    )
