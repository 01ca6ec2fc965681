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
from functools import cache
from importlib import resources
from pathlib import Path

from babel.dates import format_date as _babel_format_date

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


# CLDR has almost no date data for Haitian Creole ("2026 M12 7"); its
# readers read French dates.
_DATE_LOCALE = {"ht": "fr"}


def format_date(day: datetime.date, locale: str) -> str:
    """A date written out in the language ("7 de dezembro de 2026"), not a bare ISO date."""
    return _babel_format_date(day, format="long", locale=_DATE_LOCALE.get(locale, locale))
