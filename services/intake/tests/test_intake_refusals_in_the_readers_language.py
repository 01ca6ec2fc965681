"""Intake's refusals in the reader's language (issue 19: Accept-Language).

Against real PostgreSQL and Kafka (the ``intake`` fixture). A caseworker or a
partner who asks in Portuguese or Spanish reads why a command was refused in
that language (Content-Language says which, Vary says it depends on
Accept-Language); without the header, the detail is the English one it always
was. Facts (ids, codes, field names) are not translated; the problem's
extensions are unchanged. The refusals driven: a child who would consent
alone, the principal taken off their own case, a command on a closed case
(its action a phrase worded in the same language), and the feedback routes'
unknown office and unknown item.
"""

from __future__ import annotations

import uuid
from typing import Any

from intake_fixtures import Intake, consent

SESSION = {
    "held_on": "2026-01-05",
    "office": "GT-GUA",
    "language": "es",
    "topics": ["return process"],
    "outcome": "decided_not_to_apply",
}


async def _in_each_language(
    intake: Intake, method: str, path: str, status: int, body: dict[str, Any] | None = None
) -> dict[str, dict[str, object]]:
    """The problem of one request asked in pt, in es and without Accept-Language ("en"),
    each answered ``status``."""
    answers: dict[str, dict[str, object]] = {}
    for language in ("pt", "es", None):
        headers = {"Accept-Language": f"{language}, en;q=0.5"} if language else {}
        response = await intake.http.request(method, path, json=body, headers=headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        if language is not None:
            assert response.headers["content-language"] == language
            assert "Accept-Language" in response.headers["vary"]
        answers[language or "en"] = response.json()
    return answers


async def _a_case(intake: Intake, relationship: str) -> tuple[str, str]:
    """A case just referred, and its person of ``relationship``."""
    created = await intake.open_case()
    return str(created["case_id"]), intake.person(created, relationship)


def _removal(person_id: str) -> dict[str, str]:
    return {"person_id": person_id, "reason": "left_household"}


async def test_a_child_consenting_alone_is_refused_in_the_readers_language(
    intake: Intake,
) -> None:
    case_id, child = await _a_case(intake, "child")
    answers = await _in_each_language(
        intake, "POST", f"/cases/{case_id}/consents", 422, consent(child)
    )
    assert answers["pt"]["detail"] == (
        f"a pessoa {child} é uma criança: o consentimento é dado pelo seu tutor ou "
        "representante legal (registe também a opinião da própria criança)"
    )
    assert answers["es"]["detail"] == (
        f"la persona {child} es menor de edad: da el consentimiento su tutor o representante "
        "legal (registre también la opinión del propio niño o niña)"
    )
    assert answers["en"]["detail"] == (
        f"person {child} is a child: their guardian or legal representative gives consent "
        "(record the child's own views alongside)"
    )


async def test_the_principal_kept_on_the_case_names_the_field_in_every_language(
    intake: Intake,
) -> None:
    case_id, mother = await _a_case(intake, "principal")
    answers = await _in_each_language(
        intake, "POST", f"/cases/{case_id}/household/removals", 422, _removal(mother)
    )
    assert answers["pt"]["detail"] == "a pessoa principal não pode ser retirada do seu próprio caso"
    assert answers["es"]["detail"] == "la persona principal no puede ser retirada de su propio caso"
    assert answers["en"]["detail"] == "the principal cannot be removed from their own case"
    assert {str(a["field"]) for a in answers.values()} == {"person_id"}


async def test_a_command_on_a_closed_case_names_the_action_in_the_readers_language(
    intake: Intake,
) -> None:
    case_id, _mother = await _a_case(intake, "principal")
    sessions = f"/cases/{case_id}/counselling-sessions"
    closed = await intake.http.post(sessions, json=SESSION)
    assert closed.status_code == 201, closed.text

    answers = await _in_each_language(intake, "POST", sessions, 422, SESSION)
    # The action is a phrase of the catalog too: the whole sentence is in one language.
    assert answers["pt"]["detail"] == (
        "não é possível registar o aconselhamento: o caso está no estado closed; "
        "só o apagamento continua possível"
    )
    assert answers["es"]["detail"] == (
        "no se puede registrar el asesoramiento: el caso está en estado closed; "
        "solo sigue siendo posible el borrado"
    )
    assert answers["en"]["detail"] == (
        "cannot record counselling: the case is closed; only erasure is still possible"
    )
    assert {str(a["case_status"]) for a in answers.values()} == {"closed"}


async def test_the_feedback_routes_refuse_in_the_readers_language(intake: Intake) -> None:
    body = {"category": "service_quality", "office": "ZZ-NOWHERE", "text": "Bien atendida"}
    answers = await _in_each_language(intake, "POST", "/feedback", 422, body)
    assert answers["pt"]["detail"] == "o escritório ZZ-NOWHERE não é um escritório do registo"
    assert answers["es"]["detail"] == "la oficina ZZ-NOWHERE no es una oficina del registro"
    assert answers["en"]["detail"] == "office ZZ-NOWHERE is not an office of the registry"
    assert {str(a["field"]) for a in answers.values()} == {"office"}

    missing = str(uuid.uuid4())
    answers = await _in_each_language(intake, "GET", f"/feedback/{missing}", 404)
    assert answers["pt"]["detail"] == f"o comentário {missing} não existe"
    assert answers["es"]["detail"] == f"el comentario {missing} no existe"
    assert answers["en"]["detail"] == f"feedback {missing} does not exist"


async def test_a_language_without_a_catalog_reads_english(intake: Intake) -> None:
    case_id, mother = await _a_case(intake, "principal")
    response = await intake.http.post(
        f"/cases/{case_id}/household/removals",
        json=_removal(mother),
        headers={"Accept-Language": "qu"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "the principal cannot be removed from their own case"
