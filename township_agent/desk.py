"""The township's pages (issue 11): the same desk as a village's (``node.desk``), plus the
queue of delegated cases (下放事项) the township decides, and deciding them with
``township_agent.decide.decide`` -- the CLI's action -- as the logged-in clerk.

A decision made here is the township's own signed record; until the county confirms it, it
is provisional at the township and the village (``node.kernel.projector`` rule 4).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from node.desk import work
from node.kernel.errors import NotFoundError
from node.kernel.payloads import Outcome
from node.kernel.slip import verification_code
from node.kernel.workflow import TRANSITIONS, Action
from node.service import NodeService
from node.web.pages import Req, Site, redirect
from township_agent.decide import current_delegation, decide, township_cases

__all__ = ["FOLDER", "NAV", "township_routes"]

FOLDER = Path(__file__).resolve().parent / "templates"
NAV = [("/delegated", "下放事项审批")]


def township_routes(service: NodeService) -> Callable[[Site], list[BaseRoute]]:
    """The township's own pages, added to its desk's."""
    def routes(site: Site) -> list[BaseRoute]:
        @site.page()
        def delegated(req: Req) -> Response:
            with service.store.reading() as r:
                granted = current_delegation(service, r)
            cases = [c for c in township_cases(service) if c.decided_by == "township"]
            waiting = [c for c in cases if (c.state, Action.APPROVE) in TRANSITIONS]
            waiting.sort(key=lambda c: c.received_at)
            return req.render("delegated.html", waiting=waiting, granted=granted,
                              decided=[c for c in cases if c.outcome][-20:])

        @site.page()
        def decide_page(req: Req) -> Response:
            case, history = service.case(req.path["case_id"])
            if case.decided_by != "township":
                raise NotFoundError(f"case {case.case_id} is decided by the county")
            item = work.item_of(service, case.item_code)
            return req.render("decide.html", case=case, item=item,
                              timeline=work.timeline(service, history, item),
                              open=(case.state, Action.APPROVE) in TRANSITIONS)

        @site.page()
        def decide_post(req: Req) -> Response:
            case_id = req.path["case_id"]
            verdict = req.text("outcome", limit=8)
            if verdict not in ("approve", "reject"):
                raise NotFoundError("请选择准予或不予许可")
            assert req.session is not None
            decide(service, case_id, outcome=Outcome(verdict),
                   reason=req.text("reason", limit=1000, required="理由"),
                   operator=req.session.account.label, verification_code=verification_code())
            return redirect(f"/cases/{case_id}?done=decided")

        return [Route("/delegated", delegated),
                Route("/delegated/{case_id}", decide_page, methods=["GET"]),
                Route("/delegated/{case_id}", decide_post, methods=["POST"])]

    return routes
