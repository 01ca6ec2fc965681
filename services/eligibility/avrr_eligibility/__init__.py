"""AVRR eligibility: programme rules, vulnerability screening, due diligence, destination safety.

Where things are:
- programmes.py / programmes.yaml: the programmes as data and the eligibility rules
- assessment.py: the Assessment aggregate (one per case) and its events
- destination.py: the DestinationSafety aggregate (suspend / reopen returns) and its events
- events.py: the registry: every event this service writes or reads (open it first)
- observed.py: the intake events this service reads (tolerant reader models)
- reactions.py: ReturnRequested -> assessment + decision; CaseWithdrawn -> closed
- commands.py: caseworker and supervisor commands (REST -> aggregate -> events)
- read_models.py: the assessment queue, decisions, suspended destinations
- api.py: REST routes; main.py: the service assembly (entry point ``avrr.services``,
  ``create_app()``); countries.py, settings.py: country codes, the programme file's path
"""
