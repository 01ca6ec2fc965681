"""A request's route is looked for once per router, not again to handle it.

FastAPI (0.165, locked) keeps an included router as one entry of its parent's
routes (``fastapi.routing._IncludedRouter``). To route a request, Starlette's
router asks each entry whether it matches, which for an included router is a
scan of its routes, regex after regex, in order; then it asks the entry that
matched to handle the request, and the included router scans its routes again
to find the one to call. Every level of inclusion does the same (intake's and
travel's routers include their sub-routers, and the app includes the service's
router), so the route of a detail read was looked for three times over
intake's 50-odd routes: in-process, under cProfile, more CPU than the route's
own work; py-spy put FastAPI's route matching on 5-8% of a detail read's
samples in intake and travel (docs/benchmarks.md, "What the reads saved").

``remember_route_matches`` keeps each included router's answer for the
request in its ASGI scope, keyed by the router and the request's type, method,
path and root path: the second scan of the same router for the same request is
a lookup. The answer is the scan's own (the same route, path parameters and
route context), so routing, the policy's lookup of the matched template, the
OpenAPI document and 404/405 answers are unchanged. A scan of another path
(Starlette's slash redirect tries the path with or without its trailing slash
on a copy of the scope) has another key.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi import routing

_REMEMBERED = "avrr.route_matches"


def remember_route_matches() -> bool:
    """Make every included router remember its scan per request (once per process);
    False when this FastAPI has no such scan to remember (then routing is left as it is)."""
    included = getattr(routing, "_IncludedRouter", None)
    scan: Callable[..., Any] | None = getattr(included, "_match", None)
    if included is None or scan is None:
        return False
    if getattr(scan, "remembered", False):
        return True

    def remembered(self: Any, scope: MutableMapping[str, Any]) -> Any:
        answers = scope.get(_REMEMBERED)
        if answers is None:
            answers = scope[_REMEMBERED] = {}
        key = (id(self), scope["type"], scope.get("method"), scope["path"], scope.get("root_path"))
        found = answers.get(key)
        if found is None or found[0] is not self:
            # The router is kept with its answer: no other object takes its id meanwhile.
            found = answers[key] = (self, scan(self, scope))
        return found[1]

    remembered.remembered = True  # type: ignore[attr-defined]
    remembered.__doc__ = scan.__doc__
    included._match = remembered
    return True
