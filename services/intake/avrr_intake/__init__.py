"""AVRR intake: the first phase of a return, from referral to the application to return.

referral.py (ReferralReceived, duplicates), counselling.py, consent.py, case.py
(the Case aggregate: every event of a case, and the rules between them),
commands.py (REST commands -> decisions -> events), read_models.py
(projections and the queries the API serves), api.py (routes), main.py (the
service declaration the runtime runs).
"""
