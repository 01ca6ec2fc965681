"""Notices in the person's language: choosing it, the services' catalogs, the document.

Issue 19: the decision, the consent texts, the rights notice, travel
instructions and the reintegration plan are given to a person in a language
they read (es, pt, fr, en, and Haitian Creole for the Americas). Every
service builds its notices from the same parts, so they live here once:

- ``languages``: which language a notice is given in (``choose``), with a
  fallback chain for a language a catalog lacks;
- ``catalogs``: a service's gettext catalog (``translations``), and dates,
  country names, lists and money in the chosen language (CLDR, by Babel);
- ``document``: the notice itself (``Notice``), as HTML or PDF;
- the FastAPI answer, HTML or PDF by the Accept header, is ``avrr_events.web.notices``
  (the web layer, the only one that imports FastAPI);
- ``proofs``: a rendered notice checked as a reader sees it (tests).
"""

from avrr_events.notices.catalogs import (
    N_,
    alternatives,
    country_name,
    format_date,
    format_money,
    listing,
    translations,
)
from avrr_events.notices.document import Notice, Section, to_html, to_pdf
from avrr_events.notices.languages import DEFAULT, SUPPORTED, choose, fallback_chain

__all__ = [
    "DEFAULT",
    "N_",
    "SUPPORTED",
    "Notice",
    "Section",
    "alternatives",
    "choose",
    "country_name",
    "fallback_chain",
    "format_date",
    "format_money",
    "listing",
    "to_html",
    "to_pdf",
    "translations",
]
