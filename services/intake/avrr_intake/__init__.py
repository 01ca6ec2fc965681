"""AVRR intake: the first phase of a return, from referral to the application to return.

The role files every service has: events.py (the registry: every event intake
writes or reads), observed.py (the other services' events it reads),
commands.py (REST commands -> decisions -> events), reactions.py (what it does
when another service's event arrives), read_models.py (projections and the
queries the API serves), api.py (routes), main.py (the service declaration the
runtime runs, ``create_app()``). The domain: referral.py (ReferralReceived,
duplicates), counselling.py, consent.py, health.py, case.py (the Case
aggregate: every event of a case, and the rules between them), authorities.py
(the public records for countries of origin), timeline.py, reports.py,
handover.py, retention.py.
"""
