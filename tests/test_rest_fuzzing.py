"""Issue 10: every operation of every service's OpenAPI, fuzzed with schemathesis.

Each service runs as the real app (its runtime: relay and consumer) on real
PostgreSQL and Kafka, then again on the embedded default (SQLite files and the
in-process bus), in schemathesis' ASGI portal. Requests carry a bearer
token (``DevTokenIssuer``, verified by the app's OIDC authenticator, dev
headers off) whose roles admit every operation, so generated requests reach
the handlers instead of stopping at 401/403. A household that asked to return
exists in intake and eligibility before the run, and half of the generated
case ids are replaced by its id, so commands and reads meet a real case.

The properties, for every generated request, valid or not:
- never a 5xx;
- every 4xx is ``application/problem+json`` with the RFC 9457 members
  (type, title, status equal to the response's status);
- a request the OpenAPI document allows is accepted (schemathesis'
  ``positive_data_acceptance``; a run of its CLI calls an operation that fails it
  a "schema validation mismatch"), unless the refusal is one of
  ``DOCUMENTED_REFUSALS``: rules JSON Schema cannot state (today's date, the
  aggregate's state, a registry's entries), each stated in a description (issue 17,
  point 9).

``AVRR_FUZZ_EXAMPLES`` bounds the examples per operation (default 10, which
keeps the run to a few minutes on two cores; ``make chaos`` or a nightly run
raises it). Each failure shows a curl line that reproduces it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from journey_steps import OFFICE, referral, today
from schemathesis import Case
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.python.asgi import ASGIClient
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from avrr_eligibility.main import service as eligibility_service
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.settings import ServiceSettings
from avrr_events.testing import _create_database, _drop_database, delete_topics
from avrr_events.web.auth import DevTokenIssuer
from avrr_events.web.authorization import ALL_OFFICES, ROLES
from avrr_events.web.embedded import embedded_settings
from avrr_events.web.http import PROBLEM_JSON
from avrr_events.web.service import Service, ServiceRuntime
from avrr_intake.main import service as intake_service
from avrr_reintegration.main import service as reintegration_service
from avrr_travel.main import service as travel_service

# Hypothesis notices the services' own use of `random` (retry jitter in the portal
# thread) while it generates; that is not the strategies' randomness.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

EXAMPLES = int(os.environ.get("AVRR_FUZZ_EXAMPLES", "10"))

# Every role, every office: the fuzzer must reach the handlers, not stop at 401/403.
TOKEN_ROLES = [str(role) for role in ROLES]
ISSUER = DevTokenIssuer()
SERVICES: dict[str, Service] = {
    "intake": intake_service,
    "eligibility": eligibility_service,
    "travel": travel_service,
    "reintegration": reintegration_service,
}
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)


def assert_problem_details(response: Any, case: Case[Any]) -> None:
    """A 4xx must be problem+json with the RFC 9457 members type, title and status."""
    status = response.status_code
    if status < 400:
        return
    where = f"{status} from {case.as_curl_command()}"
    media = response.headers.get("content-type", [""])
    media = media[0] if isinstance(media, list) else media
    assert media.split(";")[0].strip() == PROBLEM_JSON, f"content-type {media!r}: {where}"
    body = response.json()
    assert isinstance(body, dict), where
    missing = {"type", "title", "status"} - set(body)
    assert not missing, f"no {sorted(missing)} in {body}: {where}"
    assert body["status"] == status, f"status member {body['status']!r}: {where}"


@dataclass(frozen=True)
class Refusal:
    """A refusal of a request its OpenAPI allows, for a reason JSON Schema cannot state.

    The rule depends on what the fuzzer does not know (the aggregate's version and
    status, today's date, a registry's or a programme's entries); the operation's or
    the field's description states it. ``what`` is a regular expression that the
    detail of the problem matches, or, for a validation problem, each ``field: reason``.
    """

    operation: str  # "POST /movements/{case_id}/arrival"; "*": every operation
    problem: str  # the problem type after urn:avrr:problem:
    what: str
    reason: str
    carries: str | None = None  # only for a request whose values hold this text


CASE_COMMANDS = "POST /cases/{case_id}/"
CASE_LISTS = "GET /[ci][an][sc]*"  # GET /cases, GET /incoming (avrr_intake.case_list)
DOCUMENTED_REFUSALS = (
    Refusal(
        CASE_LISTS,
        "validation",
        r"cursor: (not a cursor this list gave|page with cursor or with offset, not both)"
        r"|destination_region: needs destination_country.*",
        "a cursor is one the list gave, a region needs its country (the parameters' descriptions)",
    ),
    Refusal(
        "GET /reports/*",
        "validation",
        r"(returned|referred)_to: before (returned|referred)_from",
        "a report's period ends before it starts (the parameter's description)",
    ),
    Refusal("*", "precondition-failed", "", "If-Match names another version"),
    Refusal("*", "domain-rule", "this Idempotency-Key was already used", "a key's other body"),
    Refusal(
        "*",
        "validation",
        r"(held_on|(consent\.)?given_on|(household\.\d+\.|person\.)?date_of_birth|agreed_at"
        r"|(disbursed|referred|visited|scored|completed)_on)"
        r": Value error, must not be in the future",
        "a date after today (avrr_events.dates.NOT_IN_FUTURE, in the field's description)",
    ),
    Refusal(
        "*",
        "validation",
        r"((consent\.)?language|languages\.\d+): Value error, not an ISO 639-1 or ISO 639-3 "
        r"language code",
        "ISO 639-3 has some 7,900 codes: named in the description, not listed as an enum",
    ),
    Refusal(
        CASE_COMMANDS + "*",
        "domain-rule",
        r"(.*: )?the case is (withdrawn|closed)|.*personal data (was|is already) erased",
        "an earlier request withdrew or closed the case, or erased its personal data",
    ),
    Refusal(
        CASE_COMMANDS + "*",
        "domain-rule",
        r"person .* is not a member of case|there is no consent for \w+ to withdraw"
        r"|the return request is suspended|return was already requested",
        "the person, the consent or the case's state: ids and history the fuzzer cannot know",
    ),
    Refusal(
        "*",
        "unstorable-value",
        "a value is out of the range this service stores",
        "PostgreSQL text holds no NUL character; the OpenAPI does not yet say so per field",
        carries="\x00",
    ),
    Refusal(
        CASE_COMMANDS + "*",
        "domain-rule",
        r"the values given are the ones recorded|the return request already reads so"
        r"|the principal cannot be removed|person .* is the last adult",
        "the case's recorded values and household, which the fuzzer cannot know",
    ),
    Refusal(
        CASE_COMMANDS + "rectifications",
        "validation",
        r"body: Value error, (document_type is corrected together with document_number"
        r"|contact: give at least one of phone, email, address)",
        "the schema's dependentRequired and contact's properties are met by a null, which "
        "corrects nothing: a document type needs its number, a contact one value",
    ),
    Refusal(
        CASE_COMMANDS + "rectifications",
        "domain-rule",
        r"the referral (recorded no contact details|named no referrer) to rectify"
        r"|contact, referrer and current_city are the case's, the principal's.*",
        "a contact or referrer is corrected, not added, and on the principal only (the "
        "fields' descriptions): what the referral recorded and who is principal",
    ),
    Refusal(
        CASE_COMMANDS + "*",
        "conflict",
        r"only a requested return can be amended|the return was cleared for travel"
        r"|the household has travelled",
        "the case's phase: whether its return was requested, cleared or travelled",
    ),
    Refusal(
        "POST /assessments/{case_id}/*",
        "domain-rule",
        r"person .* is not in the household of case",
        "the household's person ids, which the fuzzer cannot know",
    ),
    Refusal(
        "POST /movements/{case_id}/*",
        "domain-rule",
        r"the (departure|arrival) cannot be confirmed in advance"
        r"|a document cannot be obtained in the future",
        "a moment after now (avrr_events.dates.NOT_IN_FUTURE, in the field's description)",
    ),
    Refusal(
        "POST /movements/{case_id}/arrival",
        "validation",
        r"confirmer_id: not an office of the office registry",
        "the registry's offices (the operation's description says so)",
    ),
    Refusal(
        CASE_COMMANDS + "*",
        "domain-rule",
        r"organisation .* is not mapped|(unknown|unanswered) indicators"
        r"|programme .* is not configured",
        "the directory's organisations and the programme's indicators (in the descriptions)",
    ),
    Refusal(
        CASE_COMMANDS + "attachments",
        "validation",
        r"file: (its bytes are not a PDF, PNG or JPEG file .*|the file is empty"
        r"|named \S* but its content is .*)",
        "a file is taken by what its bytes are (PDF, PNG, JPEG), never its name or declared "
        "type: read from the bytes, as the file field's description says",
    ),
    Refusal(
        CASE_COMMANDS + "reopening",
        "validation",
        r"consent: Value error, a case is reopened with the person's consent to "
        r"return_assistance_processing",
        "the consent given again includes return_assistance_processing (the consent field's "
        "description)",
    ),
    Refusal(
        CASE_COMMANDS + "household/additions",
        "domain-rule",
        r"the return was requested: the new member's consent|the case has its principal"
        r"|a household has at most \d+ people|the case is an unaccompanied child's"
        r"|this person is already a member|person .* is a child: their guardian"
        r"|name the guardian or representative",
        "the case's state and household: the rules the body's and its fields' descriptions "
        "state (consent once the return was requested, one principal, 30 people, no adult "
        "into an unaccompanied child's case; a child's consent by their guardian)",
    ),
    Refusal(
        CASE_COMMANDS + "transfers",
        "domain-rule",
        r"office .* is not a host or receiving office of the registry",
        "the office registry's offices (the request body's description names the registry)",
    ),
    Refusal(
        "POST /feedback",
        "domain-rule",
        r"office .* is not an office of the registry",
        "the office registry's offices (the office field's description names the registry)",
    ),
    Refusal(
        "POST /groups",
        "domain-rule",
        r"the departure date is in the past",
        "a group departs today or later (the departure_date field's description)",
    ),
    Refusal(
        "POST /caseload-imports",
        "validation",
        r"file: .*",
        "a body of any bytes is no caseload: a CSV or XLSX file in the documented columns "
        "(the request body's description names docs/import.md)",
    ),
)


def documented_refusal(response: Any, case: Case[Any]) -> Refusal | None:
    """The allow-listed reason why ``response`` refuses ``case``, if it is one.

    A validation problem is documented only when every error it names is.
    """
    if response.status_code < 400 or "json" not in str(response.headers.get("content-type")):
        return None
    body = response.json()
    problem = str(body.get("type", "")).removeprefix("urn:avrr:problem:")
    operation = f"{case.method.upper()} {case.path}"
    sent = json.dumps([case.path_parameters, case.query, case.body], default=str)
    refusals = [
        r
        for r in DOCUMENTED_REFUSALS
        if r.problem == problem
        and fnmatch.fnmatchcase(operation, r.operation)
        and (r.carries is None or json.dumps(r.carries)[1:-1] in sent)
    ]
    errors = [f"{e.get('field')}: {e.get('reason')}" for e in body.get("errors", [])]
    if problem == "validation":
        found = [next((r for r in refusals if re.fullmatch(r.what, e)), None) for e in errors]
        return found[0] if errors and all(found) else None
    detail = str(body.get("detail", ""))
    return next((r for r in refusals if re.match(r.what, detail)), None)


@dataclass
class Served:
    """One service under fuzzing: its runtime and a client on its app."""

    runtime: ServiceRuntime
    client: ASGIClient


@dataclass
class Fuzzing:
    """The running services, the fuzzer's token and a case that exists everywhere it can."""

    services: dict[str, Served]
    token: str
    case_id: str


def exercise(case: Case[Any], fuzzing: Fuzzing, service: str) -> None:
    """Send one generated request as a fully authorised user and check the answer.

    Half of the generated case ids (chosen by a checksum, so a failing example
    replays the same way) are replaced by the seeded case's id: those requests
    reach the command handlers and read models instead of stopping at 404.
    """
    served = fuzzing.services[service]
    assert all(not t.done() for t in served.runtime._tasks), "relay or consumer stopped"
    generated = case.path_parameters.get("case_id") if case.path_parameters else None
    if isinstance(generated, str) and zlib.crc32(generated.encode()) % 2:
        assert case.path_parameters is not None
        case.path_parameters["case_id"] = fuzzing.case_id
    response = case.call(
        base_url=served.client.base_url,
        session=served.client,
        headers={"Authorization": f"Bearer {fuzzing.token}"},
    )
    case.validate_response(response, checks=[not_a_server_error])
    assert_problem_details(response, case)
    if documented_refusal(response, case) is None:
        # A request the OpenAPI allows is accepted (schemathesis' "schema validation
        # mismatch" when it is not): the documents state what the validation enforces.
        case.validate_response(response, checks=[positive_data_acceptance])


def openapi_of(service: Service) -> dict[str, Any]:
    """The service's OpenAPI document, from an app that is never started."""
    settings = ServiceSettings(database_url="sqlite+aiosqlite:///:memory:", dev=True)
    document: dict[str, Any] = ServiceRuntime(service, settings).app(lifespan=False).openapi()
    return document


class WithoutLifespan:
    """The app, minus its lifespan: schemathesis ends an app's lifespan after every test
    item and starts it again on the next request, which would restart the runtime's
    relay and consumer per operation. The fixture runs the runtime for the module."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Refusing before reading a message is how an app says it has no lifespan.
            raise RuntimeError("no lifespan: the test fixture runs the service")
        await self.app(scope, receive, send)


@contextmanager
def running_services(
    settings_of: Callable[[str], ServiceSettings], bus: InProcessBus | None = None
) -> Iterator[dict[str, Served]]:
    """The four services, running with ``settings_of(name)``.

    Each runtime runs on schemathesis' ASGI portal (the event loop thread that
    serves the requests), so its database pools and Kafka clients live on the
    loop that uses them.
    """
    portal = schemathesis_asgi._get_portal()
    served: dict[str, Served] = {}
    try:
        for name, service in SERVICES.items():
            runtime = ServiceRuntime(service, settings_of(name), bus=bus)
            app = runtime.app(lifespan=False)
            app.state.authenticator = ISSUER.authenticator()
            portal.call(runtime.start)
            served[name] = Served(runtime, ASGIClient(cast(Any, WithoutLifespan(app))))
        yield served
    finally:
        for each in served.values():
            portal.call(each.runtime.stop)


@contextmanager
def real_stack(admin_url: str, bootstrap: str) -> Iterator[dict[str, Served]]:
    """PostgreSQL (a fresh database per service, one shared key database) and Kafka."""
    prefix = f"fuzz{uuid.uuid4().hex[:8]}"
    databases = [f"{prefix}_{name}" for name in (*SERVICES, "keys")]
    for database in databases:
        asyncio.run(_create_database(admin_url, database))

    def url(database: str) -> str:
        return make_url(admin_url).set(database=database).render_as_string(hide_password=False)

    def settings_of(name: str) -> ServiceSettings:
        return ServiceSettings(
            database_url=url(f"{prefix}_{name}"),
            keystore_url=url(f"{prefix}_keys"),
            kafka_bootstrap_servers=bootstrap,
            dev=True,
            dev_auth=False,  # only the bearer token authenticates
            topic_prefix=prefix,
            topic_partitions=1,
            relay_poll_interval=0.2,
            migrate_on_start=True,
        )

    try:
        with running_services(settings_of) as served:
            yield served
    finally:
        for database in databases:
            asyncio.run(_drop_database(admin_url, database))
        delete_topics(f"{prefix}.")


@contextmanager
def embedded(data_dir: Path) -> Iterator[dict[str, Served]]:
    """The embedded default: SQLite files and one in-process bus (as `make run`)."""

    def settings_of(name: str) -> ServiceSettings:
        return embedded_settings(name, data_dir).model_copy(update={"dev_auth": False})

    with running_services(settings_of, InProcessBus()) as served:
        yield served


def seed_case(intake: ASGIClient, eligibility: ASGIClient, token: str) -> str:
    """A household that asked to return: a case in intake and an assessment in eligibility."""
    auth = {"Authorization": f"Bearer {token}"}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = intake.post(path, json=body, headers=auth)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    created = post("/referrals", referral())
    case_id = str(created["case_id"])
    consent = {"purposes": ["return_assistance_processing"], "given_on": today(), "language": "es"}
    for member in created["household"]:
        person = {"person_id": member["person_id"]}
        if member["relationship"] != "principal":
            principal = next(m for m in created["household"] if m["relationship"] == "principal")
            person |= {"given_by": "guardian", "representative_person_id": principal["person_id"]}
        post(f"/cases/{case_id}/consents", consent | person)
    session = {
        "held_on": today(),
        "office": OFFICE,
        "language": "es",
        "topics": ["return process"],
        "outcome": "decided_to_apply",
    }
    post(f"/cases/{case_id}/counselling-sessions", session)
    post(f"/cases/{case_id}/return-request", {"destination_country": "HN"})
    for _ in range(300):
        if eligibility.get(f"/assessments/{case_id}", headers=auth).status_code == 200:
            return case_id
        time.sleep(0.1)
    raise AssertionError("eligibility never opened the seeded case's assessment")


@pytest.fixture(scope="module", params=["postgres-kafka", "embedded"])
def fuzzing(
    request: pytest.FixtureRequest,
    postgres_admin_url: str,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fuzzing]:
    """The services on the real stack, then on the embedded default, with a seeded case."""
    token = ISSUER.issue("fuzzer", roles=TOKEN_ROLES, offices=[ALL_OFFICES])
    stack = (
        real_stack(postgres_admin_url, kafka_bootstrap)
        if request.param == "postgres-kafka"
        else embedded(tmp_path_factory.mktemp("embedded"))
    )
    with stack as served:
        case_id = seed_case(served["intake"].client, served["eligibility"].client, token)
        yield Fuzzing(served, token, case_id)


def answers_generated_requests(service: str) -> Callable[..., None]:
    """The test of ``service``: every request its OpenAPI document generates gets no 5xx, and
    every refusal is a problem+json document (``exercise``), on both stacks (``fuzzing``)."""
    schema = schemathesis.openapi.from_dict(openapi_of(SERVICES[service]))

    @SETTINGS
    @schema.parametrize()
    def test(case: Case[Any], fuzzing: Fuzzing) -> None:
        exercise(case, fuzzing, service)

    return cast(Callable[..., None], test)  # schemathesis' decorators are untyped


test_intake_answers_generated_requests_without_5xx_and_with_problem_details = (
    answers_generated_requests("intake")
)
test_eligibility_answers_generated_requests_without_5xx_and_with_problem_details = (
    answers_generated_requests("eligibility")
)
test_travel_answers_generated_requests_without_5xx_and_with_problem_details = (
    answers_generated_requests("travel")
)
test_reintegration_answers_generated_requests_without_5xx_and_with_problem_details = (
    answers_generated_requests("reintegration")
)
