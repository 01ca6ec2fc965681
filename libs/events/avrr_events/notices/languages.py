"""Which language a notice is given in.

The person's recorded languages come first when the notice is the person's
own (they read it, or it is read to them); otherwise the reader's
Accept-Language. A language no catalog has falls back along a chain:
a regional variant to its language (pt-BR -> pt, es-419 -> es), Haitian
Creole to French (the other official language of Haiti), and everything to
English, the catalogs' source language.

Tags are parsed by Babel (``Locale.parse``, ``negotiate_locale``), not by
hand, so "pt_BR", "pt-BR" and "PT-br" agree; the person's languages are
recorded as ISO 639-1 or 639-3 codes (intake), and a 639-3 code with a
639-1 equivalent ("spa", "por", "hat") counts as it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pycountry
from babel import Locale, UnknownLocaleError, negotiate_locale

SUPPORTED: tuple[str, ...] = ("en", "es", "pt", "fr", "ht")
DEFAULT = "en"

# A supported language whose catalog may miss a message reads it in the next
# one before English. Haitian Creole speakers read French far more often than
# English.
_FALLBACK: dict[str, tuple[str, ...]] = {"ht": ("fr",)}


def fallback_chain(language: str) -> tuple[str, ...]:
    """The languages to look a message up in, in order, ending with English.

    >>> fallback_chain("ht")
    ('ht', 'fr', 'en')
    """
    chain = [language, *_FALLBACK.get(language, ())]
    if DEFAULT not in chain:
        chain.append(DEFAULT)
    return tuple(chain)


def _tag(code: str) -> str | None:
    """A language tag Babel reads, or None: ISO 639-3 codes become 639-1 where one exists."""
    code = code.strip()
    if not code or code == "*":
        return None
    primary, _, rest = code.replace("_", "-").partition("-")
    if len(primary) == 3:
        language = pycountry.languages.get(alpha_3=primary.lower())
        alpha_2 = getattr(language, "alpha_2", None) if language is not None else None
        if alpha_2 is None:
            return None
        primary = alpha_2
    tag = f"{primary}-{rest}" if rest else primary
    try:
        Locale.parse(tag, sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        # Babel may not know a regional variant; its language still counts.
        try:
            Locale.parse(primary, sep="-")
        except (ValueError, TypeError, UnknownLocaleError):
            return None
        return primary
    return tag


def supported(code: str) -> str | None:
    """The supported language a tag or code stands for (pt-BR -> pt), or None."""
    tag = _tag(code)
    if tag is None:
        return None
    return negotiate_locale([tag], SUPPORTED, sep="-")


def weighted(header: str) -> list[tuple[float, int, str]]:
    """The items of an Accept-style header (Accept, Accept-Language) as (quality, position,
    item), in the header's order; items with q=0 ("not this") or without a name left out."""
    items: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")):
        item, *params = (part.strip() for part in entry.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if item and quality > 0:
            items.append((quality, position, item))
    return items


def _accepted(accept_language: str) -> list[str]:
    """The tags of an Accept-Language header, most preferred first."""
    ordered = sorted(weighted(accept_language), key=lambda entry: (-entry[0], entry[1]))
    return [tag for _, _, tag in ordered]


def choose(accept_language: str | None, person_languages: Sequence[str] = ()) -> str:
    """The language to give a notice in: the person's first readable one, else the reader's.

    ``person_languages`` are the person's recorded languages, in their order
    (pass none for a notice that is not the person's own); ``accept_language``
    is the request's header. Anything unsupported is skipped; English when
    nothing is left.
    """
    for code in person_languages:
        language = supported(code)
        if language is not None:
            return language
    for tag in _accepted(accept_language or ""):
        language = supported(tag)
        if language is not None:
            return language
    return DEFAULT
