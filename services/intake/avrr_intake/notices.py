"""Intake's notices in the person's language: the rights notice and the consent texts.

What the person is told at intake (issue 19): that the return is voluntary,
can be withdrawn at any time, is free and confidential, what each consent
means, and how to give feedback or complain; and, for each consent, the text
they were shown. Built as ``avrr_events.notices.Notice`` (rendered to HTML
or PDF by the library) from intake's gettext domain ``avrr_intake``; every
English string here is a catalog message (``N_``).

A notice names the person only when the caller may see the case's personal
data (the routes decide, notices_api.py); the blank texts name nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from avrr_events.notices import N_, Notice, Section, format_date, translations
from avrr_events.notices.wording import Wording
from avrr_intake.consent import ConsentGiven, GivenBy
from avrr_intake.consent_texts import CURRENT_EDITION, PurposeText, current_texts

DOMAIN = "avrr_intake"

Gettext = Callable[[str], str]

_PROGRAMME = N_("Assisted voluntary return and reintegration")
_NAME = N_("Name")
_CASE = N_("Case")
_ISSUED_ON = N_("Issued on")
_ERASED = N_("erased")

_GIVEN_BY: dict[GivenBy, str] = {
    "self": N_("the person themself"),
    "guardian": N_("their guardian"),
    "legal_representative": N_("their legal representative"),
}


__all__ = ["N_", "consent_notice", "consent_purpose_notice", "rights_notice", "worded"]


def worded(message: str, **facts: object) -> Wording:
    """An intake sentence for a person (a refusal's detail), worded in the reader's language
    when answered; ``message`` is ``N_``-marked where it is written."""
    return Wording(DOMAIN, message, facts)


def gettext_for(language: str) -> Gettext:
    """Intake's messages in ``language`` (falling back along its chain)."""
    return translations(DOMAIN, language).gettext


def _person_rows(
    _: Gettext, case_id: str | None, name: str | None, erased: bool
) -> tuple[tuple[str, str], ...]:
    rows: list[tuple[str, str]] = []
    if erased:
        rows.append((_(_NAME), _(_ERASED)))
    elif name:
        rows.append((_(_NAME), name))
    if case_id is not None:
        rows.append((_(_CASE), case_id))
    return tuple(rows)


def rights_notice(
    language: str,
    *,
    issued_on: date,
    case_id: str | None = None,
    name: str | None = None,
    erased: bool = False,
) -> Notice:
    """The rights notice: voluntary, withdraw at any time, free, confidential; each consent;
    special care; how to give feedback or complain. Blank without ``case_id`` and ``name``."""
    _ = gettext_for(language)
    consents = tuple((_(text.title), _(text.summary)) for text in current_texts())
    return Notice(
        language=language,
        title=_(N_("Your rights in the assisted voluntary return programme")),
        rows=(
            *_person_rows(_, case_id, name, erased),
            (_(_ISSUED_ON), format_date(issued_on, language)),
        ),
        sections=(
            Section(
                _(N_("Your return is voluntary")),
                (
                    _(
                        N_(
                            "You decide whether to return. Nobody may force you or put "
                            "pressure on you to apply for return."
                        )
                    ),
                ),
            ),
            Section(
                _(N_("You may withdraw at any time")),
                (
                    _(
                        N_(
                            "You may change your mind and withdraw your application at any "
                            "moment, even after your journey is booked, without losing any "
                            "other help you are entitled to."
                        )
                    ),
                ),
            ),
            Section(
                _(N_("The assistance is free")),
                (
                    _(
                        N_(
                            "The programme charges you nothing: counselling, travel documents, "
                            "the journey and reintegration assistance are free. Nobody may ask "
                            "you for money or favours in exchange for help."
                        )
                    ),
                ),
            ),
            Section(
                _(N_("Your information is confidential")),
                (
                    _(
                        N_(
                            "We share nothing about you with the authorities of any country "
                            "without your consent. Only the staff who handle your case read it."
                        )
                    ),
                ),
            ),
            Section(
                _(N_("What each consent means")),
                (
                    _(
                        N_(
                            "You are asked for your consent to each purpose separately. You may "
                            "agree to some and not to others, and withdraw any of them at any "
                            "time. Only the first is needed to apply for return."
                        )
                    ),
                ),
                rows=consents,
            ),
            Section(
                _(N_("Your safety comes first")),
                (
                    _(
                        N_(
                            "If you are a victim of trafficking, a child travelling alone, or "
                            "at risk in any way, tell us: your return is organised only when it "
                            "is safe, with the protection you need."
                        )
                    ),
                ),
            ),
            Section(
                _(N_("How to give feedback or complain")),
                (
                    _(
                        N_(
                            "You may give feedback or make a complaint about the assistance at "
                            "any time: through your caseworker, a partner, or anonymously."
                        )
                    ),
                    _(
                        N_(
                            "A complaint of sexual exploitation or abuse, or of misconduct by "
                            "staff, goes only to a designated focal point, never to the office "
                            "that handles your case."
                        )
                    ),
                ),
            ),
        ),
        footer=f"{_(_PROGRAMME)} · {CURRENT_EDITION}",
    )


def consent_purpose_notice(text: PurposeText, language: str) -> Notice:
    """The blank text of one purpose in one edition, as shown before consenting."""
    _ = gettext_for(language)
    return Notice(
        language=language,
        title=_(text.title),
        rows=((_(N_("Text version")), text.version),),
        sections=(Section(_(N_("What you agree to")), tuple(_(p) for p in text.paragraphs)),),
        footer=f"{_(_PROGRAMME)} · {text.version}",
    )


def consent_notice(
    text: PurposeText,
    consent: ConsentGiven,
    language: str,
    *,
    withdrawn: bool,
    name: str | None = None,
    erased: bool = False,
) -> Notice:
    """A person's consent to one purpose: the text of the version they were shown, when, by whom.

    A consent recorded before texts were versioned has no ``text_version``: the
    oldest edition is shown, and the notice says the version was not recorded.
    """
    _ = gettext_for(language)
    if consent.text_version is None:
        version = _(N_("not recorded (given before texts were versioned); shown: %(version)s")) % {
            "version": text.version
        }
    else:
        version = text.version
    status = _(N_("withdrawn")) if withdrawn else _(N_("given"))
    return Notice(
        language=language,
        title=_(N_("Your consent: %(purpose)s")) % {"purpose": _(text.title)},
        rows=(
            *_person_rows(_, consent.case_id, name, erased),
            (_(N_("Given on")), format_date(consent.given_on, language)),
            (_(N_("Given by")), _(_GIVEN_BY[consent.given_by])),
            (_(N_("Language of the text")), consent.language),
            (_(N_("Text version")), version),
            (_(N_("Status")), status),
        ),
        sections=(Section(_(N_("What you agreed to")), tuple(_(p) for p in text.paragraphs)),),
        footer=f"{_(_PROGRAMME)} · {text.version}",
    )
