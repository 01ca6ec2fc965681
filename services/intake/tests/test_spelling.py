"""The spellings people search treats as one (avrr_intake.spelling), and those it keeps apart.

Each pair is a variation the issue names (accents, ñ/n, ç/c, compound family
names, particles, b/v, ll/y, z/s/c, silent h, transliteration) or one the
rules' comments give as their example; a search for one spelling must find a
person recorded under the other, so both must give the same words (exact), the
same phonetic codes, or at least the same skeletons.
"""

from __future__ import annotations

import pytest

from avrr_intake import spelling
from avrr_intake.search import PeopleSearchIn, SearchKey, Terms


def words(name: str) -> list[str]:
    return spelling.normalised_words(name)


def sounds(name: str) -> list[str]:
    return [spelling.phonetic(w) for w in words(name)]


def bones(name: str) -> list[str | None]:
    return [spelling.skeleton(w) for w in words(name)]


@pytest.mark.parametrize(
    ("recorded", "typed"),
    [
        ("José María", "JOSE MARIA"),  # case and accents
        ("Peña", "Pena"),  # ñ / n
        ("Gonçalves", "Goncalves"),  # ç / c
        ("García-López", "Garcia Lopez"),  # compound family name, hyphen or space
        ("García-López", "garcía  lópez"),
        ("Maria dos Santos", "Maria Santos"),  # Portuguese particle
        ("Juan de la Cruz", "Juan Cruz"),  # Spanish particles
        ("D'Ávila", "Avila"),  # elided particle
        ("Ortega y Gasset", "Ortega Gasset"),  # connector
        ("Müller", "Muller"),
    ],
)
def test_case_accents_compound_names_and_particles_give_the_same_words(
    recorded: str, typed: str
) -> None:
    assert words(recorded) == words(typed)


@pytest.mark.parametrize(
    ("recorded", "typed"),
    [
        ("Vásquez", "Básquez"),  # b / v
        ("Villalobos", "Billalobos"),
        ("Castillo", "Castiyo"),  # ll / y
        ("Carvalho", "Carvallo"),  # Portuguese lh / Spanish ll
        ("Yolanda", "Iolanda"),  # y / i
        ("González", "Gonzales"),  # z / s
        ("Souza", "Sousa"),
        ("Luiz", "Luis"),
        ("Cecilia", "Sesilia"),  # soft c / s (seseo)
        ("Celaya", "Zelaya"),
        ("Hernández", "Ernández"),  # silent h
        ("Thiago", "Tiago"),
        ("Helena", "Elena"),
        ("Giménez", "Jiménez"),  # soft g / j
        ("Ximena", "Jimena"),  # initial x / j
        ("Xavier", "Javier"),
        ("Quintero", "Kintero"),  # qu / k
        ("Carlos", "Karlos"),  # hard c / k
        ("Peña", "Penha"),  # ñ / Portuguese nh
        ("Raphael", "Rafael"),  # ph / f
        ("Mattos", "Matos"),  # doubled letters
        ("Wilmer", "Vilmer"),  # w / v
        ("Chaves", "Shaves"),  # ch / sh
    ],
)
def test_spanish_and_portuguese_variants_sound_the_same(recorded: str, typed: str) -> None:
    assert words(recorded) != words(typed)  # not the same words: the phonetic code meets them
    assert sounds(recorded) == sounds(typed)


@pytest.mark.parametrize(
    ("recorded", "typed"),
    [("Mohammed", "Muhammad"), ("Mohamed", "Muhammed"), ("Youssef", "Yusuf")],
)
def test_transliterations_share_their_skeleton(recorded: str, typed: str) -> None:
    assert sounds(recorded) != sounds(typed)
    assert bones(recorded) == bones(typed) != [None]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Fernández", "Hernández"),
        ("Guillermo", "Jillermo"),  # gu before i hardens the g: not the soft g of Giménez
        ("Marta", "Maria"),
        ("Sánchez", "Sanz"),
        ("Rodrigo", "Rodríguez"),
    ],
)
def test_different_names_stay_apart(one: str, other: str) -> None:
    assert sounds(one) != sounds(other)


def test_short_skeletons_are_no_key() -> None:
    # "Ana", "Luis", "Pena": one or two consonants would match half the population.
    assert bones("Ana Luis Pena") == [None, None, None]


def test_initials_go_and_a_name_of_particles_only_keeps_them() -> None:
    assert words("J. R. Quispe") == ["quispe"]
    assert words("De La") == ["de", "la"]
    assert words("42 --") == []


def test_document_and_phone_numbers_are_compared_as_their_digits() -> None:
    assert spelling.document_number("bo-123 4567") == spelling.document_number("BO1234567")
    assert spelling.phone_number("+502 5555-0199") == spelling.phone_number("5555 0199")
    assert spelling.phone_number("+502 5555-0199") == "55550199"


def test_a_person_and_a_search_for_them_under_other_spellings_share_tokens() -> None:
    key = SearchKey(b"k" * 32)
    person = Terms.of_person(
        {
            "given_names": "María José",
            "family_name": "García-López de la Cruz",
            "date_of_birth": "1990-04-12",
            "document": {"type": "passport", "number": "BO-1234567"},
        },
        "+502 5555 0199",
    )
    typed = PeopleSearchIn(
        name="maria jose garsia lopes cruz",
        date_of_birth="1990-04-12",
        document_number="bo1234567",
        phone="5555-0199",
    ).terms()
    theirs = {row.token for row in person.rows(key)}
    wanted = typed.criteria(key)
    assert len(wanted) == 5 + 3  # five words, a birth date, a document, a phone
    for row in wanted:  # every criterion of the search is one of their rows
        assert row.token in theirs, row
    # Each word of the search, as spelt, is one of theirs by sound; "garsia" and "lopes" not
    # as written.
    exact = {row.exact for row in person.rows(key)}
    assert [row.exact in exact for row in wanted if row.kind == "name"] == [
        True, True, False, False, True
    ]  # fmt: skip


def test_tokens_are_keyed_truncated_and_never_the_value() -> None:
    one, other = SearchKey(b"k" * 32), SearchKey(b"K" * 32)
    token = one.token("word", "quispe")
    assert len(token) == 16 and int(token, 16) >= 0
    assert token != other.token("word", "quispe")  # another key, another token
    assert token != one.token("sound", "quispe")  # the kind of code is part of the message
    assert "quispe" not in token


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"name": "J. R."}, "name"),
        ({"document_number": "B-1"}, "document_number"),
        ({"phone": "5555 01"}, "phone"),
        ({"date_of_birth": "12/04/1990"}, "date_of_birth"),
        ({"nickname": "Mari"}, "nickname"),
    ],
)
def test_bad_searches_are_refused_naming_the_field(body: dict[str, str], field: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as refused:
        PeopleSearchIn.model_validate(body)
    located = {".".join(str(p) for p in e["loc"]) or "body" for e in refused.value.errors()}
    assert field in located
