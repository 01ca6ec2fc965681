"""``make chaos``: whole case lifecycles through the four service processes under faults.

``python -m chaos`` starts a PostgreSQL server and a Kafka broker of its own
(scripts/infra.sh on other ports, a private state directory, so the shared
servers others test on are never touched), the four services as separate
processes, and then, until ``--cases`` lifecycles are driven or
``--max-minutes`` have passed:

- drives lifecycles of several expected outcomes concurrently through the
  REST APIs (tests/journey_steps.py's steps), every command sent with an
  Idempotency-Key and retried with the same key while its service is down;
- SIGKILLs a random service process every few seconds and starts it again;
  restarts the Kafka broker once and PostgreSQL once;
- publishes poison records on every service topic.

Then it verifies, and exits non-zero on any violation (chaos/verification.py):
every case in its expected final state (REST reads), every event exactly once
in each consumer group's inbox and in intake's timeline (compared per case
with the event stores), every command's effect exactly once, the dead letters
exactly the injected poison (with its reasons), and consumer lag back to zero.
"""
