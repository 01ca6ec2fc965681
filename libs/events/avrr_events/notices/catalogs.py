"""A service's messages in a language: gettext catalogs compiled by Babel.

Each service has its own domain, named after its package (``avrr_intake``,
``avrr_eligibility``, ...), and its catalogs in the package's ``locale/``
folder (``locale/<lang>/LC_MESSAGES/<domain>.mo``), so a service's catalog
holds only its own messages and ships inside its wheel. The compiled
``.mo`` files are committed next to their ``.po`` (tests/test_translations.py
fails when one is stale): a fresh clone, ``make run`` and the image have
them without a build step.

Messages are marked in code with ``N_("...")`` (extracted by
``make messages-extract``) and looked up at rendering time, once the
notice's language is chosen.
"""

from __future__ import annotations

import datetime
import gettext
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.lists import format_list
from babel.numbers import format_currency

from avrr_events.notices.languages import fallback_chain


def N_(message: str) -> str:  # noqa: N802 -- the name pybabel extracts by default
    """Mark a message for extraction; it is translated later, in the notice's language."""
    return message


def locale_dir(domain: str) -> Path:
    """The ``locale/`` folder of the package named like the domain."""
    return Path(str(resources.files(domain) / "locale"))


@cache
def translations(domain: str, locale: str) -> gettext.NullTranslations:
    """The domain's catalog for ``locale``, falling back along its chain to the source text.

    A message missing in Haitian Creole reads in French, then English;
    a catalog missing altogether (a language not yet translated) gives the
    source text rather than an error.
    """
    return gettext.translation(
        domain, localedir=locale_dir(domain), languages=list(fallback_chain(locale)), fallback=True
    )


# CLDR has almost no data for Haitian Creole (dates read "2026 M12 7", no country
# names, no list patterns); its readers read French dates, names and lists.
_DATE_LOCALE = {"ht": "fr"}


def _cldr(locale: str) -> str:
    return _DATE_LOCALE.get(locale, locale)


def format_date(day: datetime.date, locale: str) -> str:
    """A date written out in the language ("7 de dezembro de 2026"), not a bare ISO date."""
    return _babel_format_date(day, format="long", locale=_cldr(locale))


def country_name(code: str, locale: str) -> str:
    """A country's name in the language ("Brasil", "Brésil"); the code if CLDR has none."""
    name = Locale.parse(_cldr(locale)).territories.get(code)
    return str(name) if name else code


def listing(items: Sequence[str], locale: str) -> str:
    """Items joined as the language joins them ("A, B e C")."""
    return format_list(list(items), locale=_cldr(locale))


def alternatives(items: Sequence[str], locale: str) -> str:
    """Items joined with the language's "or" ("A, B ou C")."""
    return format_list(list(items), style="or", locale=_cldr(locale))


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """An amount in its currency as the language writes it ("1.200,00 US$")."""
    return format_currency(amount, currency, locale=_cldr(locale))
