"""Reintegration's refusals answer in the reader's language (issue 19: Accept-Language).

A returnee's officer reads a refusal in Spanish or Portuguese when their client
asks for it; the facts (case ids, amounts, indicator codes) stay as they are,
and without the header the detail is the English one it always was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from reintegration_fixtures import ANSWERS_ALL, OFFICER, RunningReintegration, plan

from avrr_events.testing import answered_in_the_readers_language, each_refusal

Refusal = Callable[[RunningReintegration, dict[str, str]], Awaitable[httpx.Response]]


async def unknown_case(r: RunningReintegration, headers: dict[str, str]) -> httpx.Response:
    """A command on a case that never arrived (404)."""
    body = {
        "kind": "cash",
        "amount": "10.00",
        "currency": "USD",
        "method": "mobile_money",
        "disbursed_on": "2026-04-01",
    }
    return await r.post("/cases/nobody/disbursements", body, {**OFFICER, **headers})


async def over_the_plans_budget(r: RunningReintegration, headers: dict[str, str]) -> httpx.Response:
    """A disbursement beyond what is left of the plan's 550 USD (422)."""
    if await r.case("lang-1") is None:
        await r.arrive("lang-1")
        await r.agree_plan("lang-1", plan())
    body = {
        "kind": "cash",
        "amount": "600.00",
        "currency": "USD",
        "method": "mobile_money",
        "disbursed_on": "2026-04-01",
    }
    return await r.post("/cases/lang-1/disbursements", body, {**OFFICER, **headers})


async def unanswered_indicators(r: RunningReintegration, headers: dict[str, str]) -> httpx.Response:
    """A survey that leaves indicators unanswered (422)."""
    if await r.case("lang-2") is None:
        await r.arrive("lang-2")
    body: dict[str, Any] = {
        "stage": "baseline",
        "answers": {"income_source": 0.5},
        "scored_on": "2026-03-20",
    }
    return await r.post("/cases/lang-2/sustainability-scores", body, {**OFFICER, **headers})


async def end_before_baseline(r: RunningReintegration, headers: dict[str, str]) -> httpx.Response:
    """The end survey scored before the baseline (422)."""
    if await r.case("lang-3") is None:
        await r.arrive("lang-3")
    body = {"stage": "end", "answers": ANSWERS_ALL, "scored_on": "2026-09-16"}
    return await r.post("/cases/lang-3/sustainability-scores", body, {**OFFICER, **headers})


async def unknown_programme(r: RunningReintegration, headers: dict[str, str]) -> httpx.Response:
    """The totals of a programme that is not configured (404)."""
    return await r.http.get("/programmes/nope/totals", headers={**OFFICER, **headers})


# (refusal, status, English, Spanish, Portuguese)
REFUSALS: list[tuple[Refusal, int, str, str, str]] = [
    (
        unknown_case,
        404,
        "no reintegration for case nobody",
        "no hay ninguna reintegración para el caso nobody",
        "não há nenhuma reintegração para o processo nobody",
    ),
    (
        over_the_plans_budget,
        422,
        "600.00 USD exceeds what is left of the plan's budget (550.00 of 550.00 USD)",
        "600.00 USD supera lo que queda del presupuesto del plan (550.00 de 550.00 USD)",
        "600.00 USD excede o que resta do orçamento do plano (550.00 de 550.00 USD)",
    ),
    (
        unanswered_indicators,
        422,
        "unanswered indicators: ",
        "indicadores sin respuesta: ",
        "indicadores sem resposta: ",
    ),
    (
        end_before_baseline,
        422,
        "score the baseline survey before the end survey",
        "puntúe la encuesta inicial antes de la encuesta final",
        "pontue o questionário inicial antes do questionário final",
    ),
    (
        unknown_programme,
        404,
        "no programme nope",
        "no existe el programa nope",
        "não existe o programa nope",
    ),
]


@each_refusal(REFUSALS)
async def test_a_refusal_is_worded_in_the_language_the_reader_asks_for(
    reintegration: RunningReintegration, refusal: Refusal, answer: tuple[int, str, str, str]
) -> None:
    await answered_in_the_readers_language(lambda headers: refusal(reintegration, headers), *answer)
