"""What a person is told before consenting to a purpose: the texts, versioned.

A consent is only informed if we can show what the person was told. Each
purpose's text has an edition ("2026-12"); ``ConsentGiven.text_version``
records which one was shown (``return_assistance_processing@2026-12``) and
``ConsentGiven.language`` the language it was shown in. A new edition is
added here beside the old ones, never written over them: a consent given
under an old text still reads as it was given. The English texts are the
gettext source (``N_``): intake's catalogs hold their translations.
"""

from __future__ import annotations

from dataclasses import dataclass

from avrr_events.notices import N_
from avrr_intake.consent import PURPOSES, Purpose

# The edition recorded when a consent's body names none.
CURRENT_EDITION = "2026-12"


@dataclass(frozen=True)
class PurposeText:
    """One edition of one purpose's text: its title, a one-line summary, what it means."""

    purpose: Purpose
    edition: str
    title: str
    summary: str
    paragraphs: tuple[str, ...]

    @property
    def version(self) -> str:
        """The id a ConsentGiven records: ``<purpose>@<edition>``."""
        return f"{self.purpose}@{self.edition}"


_WITHDRAW_ANY_TIME = N_(
    "You may withdraw this consent at any time, by telling your caseworker. "
    "Withdrawing it costs you nothing."
)

_TEXTS_2026_12: tuple[PurposeText, ...] = (
    PurposeText(
        "return_assistance_processing",
        "2026-12",
        N_("Processing of your return request"),
        N_("Needed to apply for assisted return."),
        (
            N_(
                "We record and use the information about you and your household that is "
                "needed to assess and organise your voluntary return: identity, nationality, "
                "travel documents, destination and the needs you tell us about."
            ),
            N_(
                "Without this consent we cannot process a return request. If you withdraw "
                "it, your return is suspended until you give it again or close your case."
            ),
            _WITHDRAW_ANY_TIME,
        ),
    ),
    PurposeText(
        "contact_by_programme",
        "2026-12",
        N_("Being contacted by the programme"),
        N_("We may call or write to you about your case."),
        (
            N_(
                "We may contact you by the telephone, e-mail or address you gave us, about "
                "your application, your journey and your reintegration."
            ),
            N_("If you withdraw this consent, nobody at the programme reads your contact details."),
            _WITHDRAW_ANY_TIME,
        ),
    ),
    PurposeText(
        "share_with_authorities",
        "2026-12",
        N_("Sharing with the authorities of your country of origin"),
        N_("Only the items you choose, only to the authorities of your country of origin."),
        (
            N_(
                "Only the items you choose (for example your name, date of birth or travel "
                "document) are shared with the authorities of your country of origin, so that "
                "they can issue travel documents or receive you."
            ),
            N_("Nothing else is shared with them, and nothing at all without this consent."),
            _WITHDRAW_ANY_TIME,
        ),
    ),
    PurposeText(
        "share_with_reintegration_partners",
        "2026-12",
        N_("Sharing with reintegration partners"),
        N_("The organisations that help you after your return learn what they need."),
        (
            N_(
                "The organisations that help you after your return receive what they need to "
                "provide the assistance of your reintegration plan, and nothing more."
            ),
            _WITHDRAW_ANY_TIME,
        ),
    ),
    PurposeText(
        "medical_data_processing",
        "2026-12",
        N_("Processing of your health information"),
        N_("Health needs you tell us about, read by medical staff only."),
        (
            N_(
                "We record the health needs you tell us about, to arrange safe travel and "
                "care. Only medical staff read them."
            ),
            _WITHDRAW_ANY_TIME,
        ),
    ),
)

TEXTS: dict[str, PurposeText] = {text.version: text for text in _TEXTS_2026_12}
EDITIONS: tuple[str, ...] = tuple(dict.fromkeys(text.edition for text in TEXTS.values()))


def text_version(purpose: Purpose, edition: str | None = None) -> str:
    """The version id of ``purpose``'s text in ``edition`` (the current one by default)."""
    return f"{purpose}@{edition or CURRENT_EDITION}"


def purpose_text(purpose: Purpose, edition: str | None = None) -> PurposeText | None:
    """The text of ``purpose`` in ``edition`` (default: the current one); None if none."""
    return TEXTS.get(text_version(purpose, edition))


def current_texts() -> tuple[PurposeText, ...]:
    """Every purpose's current text, in the order of ``PURPOSES``."""
    return tuple(TEXTS[text_version(purpose)] for purpose in PURPOSES)
