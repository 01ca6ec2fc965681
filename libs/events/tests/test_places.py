"""The place rule: every spelling of a destination has one key, and different places differ.

The regions are those of the seed programmes' destinations: Honduras, El
Salvador and Guatemala (Mesoamerica AVR), Brazil and the Lusophone countries
ARVoRe returns people to (Cabo Verde, Angola), and some of the Americas
regional programme (Mexico, the Dominican Republic).
"""

from __future__ import annotations

import pytest

from avrr_events.places import canonical_text, check_region, country_code, place

# country, ISO 3166-2 code, spellings a person may type for it
SPELLINGS: list[tuple[str, str, list[str]]] = [
    ("HN", "HN-AT", ["Atlántida", "atlantida", "  ATLÁNTIDA ", "HN-AT", "hn-at", "AT"]),
    ("HN", "HN-FM", ["Francisco Morazán", "francisco  morazan", "FRANCISCO MORAZAN", "FM"]),
    ("HN", "HN-CR", ["Cortés", "cortes", "CORTÉS", "HN-CR"]),
    ("SV", "SV-UN", ["La Unión", "la union", " LA  UNIÓN", "SV-UN", "un"]),
    ("SV", "SV-SS", ["San Salvador", "san salvador", "SV-SS"]),
    ("GT", "GT-14", ["Quiché", "quiche", "QUICHÉ", "GT-14", "14"]),
    ("GT", "GT-17", ["Petén", "peten", "GT-17"]),
    ("BR", "BR-SP", ["São Paulo", "sao paulo", "SAO  PAULO", "BR-SP", "sp"]),
    ("BR", "BR-GO", ["Goiás", "goias", "BR-GO"]),
    ("CV", "CV-SV", ["São Vicente", "sao vicente", "CV-SV"]),
    ("AO", "AO-HUI", ["Huíla", "huila", "HUÍLA", "AO-HUI", "hui"]),
    ("MX", "MX-MIC", ["Michoacán de Ocampo", "michoacan de ocampo", "MX-MIC"]),
    ("DO", "DO-05", ["Dajabón", "dajabon", "DO-05"]),
]


@pytest.mark.parametrize(("country", "code", "spellings"), SPELLINGS)
def test_every_spelling_of_a_subdivision_is_its_iso_3166_2_code(
    country: str, code: str, spellings: list[str]
) -> None:
    places = [place(country, s) for s in spellings]
    assert {p.key for p in places} == {f"{country}/{code.split('-', 1)[1]}"}
    assert {p.region_code for p in places} == {code}
    assert len({p.region_name for p in places}) == 1
    # The text as entered stays for display.
    assert [p.region for p in places] == spellings


def test_different_subdivisions_and_countries_have_different_keys() -> None:
    keys = [place(country, spellings[0]).key for country, _, spellings in SPELLINGS]
    assert len(set(keys)) == len(keys)
    # The same name in two countries ("La Paz": Honduras and El Salvador) is two places.
    assert place("HN", "La Paz").key != place("SV", "La Paz").key
    # A code of another country is not a subdivision here.
    assert place("HN", "SV-UN").region_code is None


def test_a_region_that_is_no_subdivision_is_keyed_by_its_canonical_form() -> None:
    spellings = ["San Pedro Súla", "san  pedro sula", " SAN PEDRO SULA", "San\tPedro\u00a0Sula"]
    keys = {place("HN", s).key for s in spellings}
    assert keys == {"HN/san pedro sula"}
    assert place("HN", "San Pedro Sula").region_code is None
    assert place("HN", "San Pedro Sula").region_name is None
    assert place("HN", "atlantida").region_name == "Atlántida"
    # Compatibility characters and marks fold too (NFKD): ligatures, combining accents.
    assert canonical_text("\uff23\uff4f\uff52\uff54\uff45\u0301s")  # fullwidth == "cortes"
    assert canonical_text("ﬁnca Straße") == "finca strasse"


def test_a_country_is_an_iso_3166_1_alpha_2_code() -> None:
    assert place("hn", "Atlántida").key == "HN/AT"
    assert place(" hn ").key == "HN"
    assert country_code("br") == "BR"
    for bad in ("XX", "HND", "Honduras", "", "H1"):
        with pytest.raises(ValueError, match="ISO 3166-1"):
            place(bad, "Atlántida")


def test_no_region_or_a_blank_one_is_the_whole_country() -> None:
    for blank in (None, "", "   "):
        p = place("HN", blank)
        assert p.key == "HN" and p.region is None and p.region_key is None
    whole, region = place("HN"), place("HN", "Cortés")
    assert whole.covers(region) and not region.covers(whole)
    assert region.covers(place("HN", "HN-CR"))
    assert not region.covers(place("HN", "Olancho"))
    assert not whole.covers(place("SV", "La Unión"))


def test_the_label_keeps_the_spelling_entered() -> None:
    assert place("HN", "  Atlántida ").label == "HN/Atlántida"
    assert place("HN").label == "HN"


def test_a_region_code_of_another_country_is_refused_where_places_are_entered() -> None:
    with pytest.raises(ValueError, match="'SV-UN' is a region of SV, not of HN"):
        check_region("HN", "SV-UN")
    for fine in ("HN-AT", "Atlántida", "San Pedro Sula", "AT", "Kilómetro-5", None):
        check_region("HN", fine)
