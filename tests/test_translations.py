"""Every service's notices exist in every language: catalogs complete, current and compiled.

Issue 19: a person reads the decision, their consents and their rights in
Spanish, Portuguese, French or English. Each service with a ``locale/``
folder has a gettext domain named after its package (avrr_events.notices);
this test fails when

- the committed template (``locale/<domain>.pot``) is stale against the code
  (a fresh extraction, as ``make messages-extract`` does, has other msgids);
- a language's catalog lacks a message of the template, or leaves it
  untranslated or fuzzy (es, pt, fr; English is the source language, and
  Haitian Creole may fall back to French, but what it has is checked);
- a translation's placeholders differ from the source's (Babel's checkers:
  ``%(name)s`` left out, renamed or added);
- a compiled ``.mo`` is not the compilation of its ``.po`` (they are
  committed: ``make messages-compile``).
"""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
# Each service's catalog, and the library's own (the promises every notice repeats).
LOCALES = sorted([*ROOT.glob("services/*/avrr_*/locale"), *ROOT.glob("libs/*/avrr_*/locale")])
REQUIRED = ("es", "pt", "fr")
CHECKED = ("en", *REQUIRED, "ht")
KEYWORDS = {"N_": None, "_": None, "gettext": None}


def _domain(locale: Path) -> str:
    return locale.parent.name


def _catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language)


def _ids(catalog: Catalog) -> set[str]:
    return {str(message.id) for message in catalog if message.id}


def test_every_service_with_notices_has_a_catalog() -> None:
    assert any(_domain(locale) == "avrr_intake" for locale in LOCALES)


@pytest.mark.parametrize("locale", LOCALES, ids=_domain)
def test_template_is_current_with_the_code(locale: Path) -> None:
    """``make messages-extract`` then ``messages-update`` and ``messages-compile`` fix this."""
    extracted = {
        str(message)
        for _filename, _line, message, _comments, _context in extract_from_dir(
            locale.parent, method_map=[("**.py", "python")], keywords=KEYWORDS
        )
        if isinstance(message, str)
    }
    committed = _ids(_catalog(locale / f"{_domain(locale)}.pot"))
    assert sorted(extracted - committed) == [], "in the code, not in the template"
    assert sorted(committed - extracted) == [], "in the template, no longer in the code"


@pytest.mark.parametrize("language", CHECKED)
@pytest.mark.parametrize("locale", LOCALES, ids=_domain)
def test_every_message_is_translated_with_its_placeholders(locale: Path, language: str) -> None:
    domain = _domain(locale)
    template = _ids(_catalog(locale / f"{domain}.pot"))
    po = locale / language / "LC_MESSAGES" / f"{domain}.po"
    if language not in REQUIRED and not po.exists():
        pytest.skip(f"{domain} has no {language} catalog (it falls back)")
    catalog = _catalog(po, language)
    assert sorted(template - _ids(catalog)) == [], f"{language}: messages not in its catalog"
    if language in REQUIRED:
        untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
        assert untranslated == [], f"{language}: untranslated or fuzzy"
    problems = [
        (message.id, [str(error) for error in errors])
        for message, errors in catalog.check()
        if message.string and errors
    ]
    assert problems == [], f"{language}: placeholders differ from the source"


@pytest.mark.parametrize("language", CHECKED)
@pytest.mark.parametrize("locale", LOCALES, ids=_domain)
def test_compiled_catalog_is_the_po(locale: Path, language: str) -> None:
    domain = _domain(locale)
    po = locale / language / "LC_MESSAGES" / f"{domain}.po"
    if not po.exists():
        pytest.skip(f"{domain} has no {language} catalog")
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo} missing: make messages-compile"
    with mo.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    expected = {
        str(m.id): str(m.string)
        for m in _catalog(po, language)
        if m.id and m.string and not m.fuzzy
    }
    assert {k: v for k, v in compiled._catalog.items() if k} == expected  # type: ignore[attr-defined]
