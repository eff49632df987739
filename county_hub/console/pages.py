"""The county console's pages (issue 11): thin handlers over ``county_hub.console.views``
(reads and permissions) and ``county_hub.workflow.act`` (the one operator action, the CLI's
too), behind the guard of ``node.web.pages.Site``.

``console_app(hub)`` is the Starlette application every ``hub serve`` process serves; its
sessions are rows of the hub's database, so any process answers any request.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from county_hub.accounts import Actor, account_change, hub_book, make_account
from county_hub.actions import resolve_alarm
from county_hub.console import views
from county_hub.console.charts import Bar, bars_svg
from county_hub.console.ratelimit import take
from county_hub.hub import Hub
from county_hub.store import OperatorRow
from county_hub.supervision import node_views, stats, trail
from county_hub.workflow import act
from node.desk.work import describe
from node.kernel.deadlines import Colour
from node.kernel.errors import NotFoundError, UsageError
from node.kernel.workflow import Action
from node.web.accounts import Session
from node.web.auth import auth_routes
from node.web.labels import COLOUR
from node.web.pages import (
    Forbidden,
    Pages,
    Req,
    SecurityHeaders,
    Site,
    file_response,
    redirect,
    static_dir,
)

__all__ = ["console_app"]

HERE = Path(__file__).resolve().parent
NAV = {
    "clerk": [("/queue", "我的待办"), ("/cases", "查找办件")],
    "head": [("/queue", "我的待办"), ("/cases", "查找办件"), ("/supervision", "电子监察")],
    "supervisor": [("/supervision", "电子监察"), ("/cases", "查找办件"), ("/trail", "审计轨迹"),
                   ("/alarms", "警报与拒收"), ("/nodes", "节点")],
    "admin": [("/accounts", "账号"), ("/nodes", "节点"), ("/alarms", "警报与拒收")],
}
HOME = {"clerk": "/queue", "head": "/queue", "supervisor": "/supervision", "admin": "/accounts"}
NEEDS_REASON = {Action.NOT_ACCEPT, Action.REQUEST_SUPPLEMENT, Action.OPINION, Action.APPROVE,
                Action.REJECT}


def _page(req: Req) -> int:
    raw = req.query.get("page", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def _date(text: str, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{what}“{text}”不是日期（年-月-日）", code="bad_request") from exc


def _rate_bar(row: dict[str, object], by: str) -> Bar:
    rate = row["on_time_rate"]
    if not isinstance(rate, float | int):
        return Bar(label=str(row[by]), value=0, text=f"尚无办结（{row['received']} 件）")
    return Bar(label=str(row[by]), value=float(rate),
               text=f"{float(rate) * 100:.0f}%（{row['received']} 件）")


def console_app(hub: Hub) -> Starlette:
    web = hub.config.web
    pages = Pages([HERE / "templates"], county=hub.config.county_name)
    book = hub_book(hub)

    def operator_row(session: Session) -> OperatorRow:
        with hub.store.reading() as r:
            found = r.operator(session.account.name)
        if found is None or not found.active:
            raise Forbidden("这个账号没有对应的在岗工作人员，请与管理员联系")
        return found

    def context(req: Req) -> dict[str, Any]:
        assert req.session is not None
        with hub.store.reading() as r:
            found = r.operator(req.session.account.name)
        role = found.role if found is not None else ""
        return {"nav": NAV.get(role, []), "operator": found}

    site = Site(pages=pages, book=book, cookie="bm_console",
                secure=web.secure_cookies or bool(web.tls_cert),
                title=f"{hub.config.county_name}政务服务 · 审批控制台", context=context)

    def who(req: Req, page: str) -> OperatorRow:
        """The operator behind the session, if their role may open ``page`` (views.CAN)."""
        assert req.session is not None
        found = operator_row(req.session)
        if found.role not in views.CAN[page]:
            raise Forbidden("您的角色不能使用这个页面")
        return found

    def on_login(session: Session, remote: str) -> None:
        with hub.store.transaction() as tx:
            tx.add_trail(kind="LoggedIn", operator=session.account.name, via="console",
                         detail=f"from {remote}")

    routes: list[BaseRoute] = [
        *auth_routes(site, hint="账号由县信息中心（管理员）开通；连续输错 "
                                f"{web.max_failures} 次密码将锁定 {web.lock_minutes} 分钟。",
                     on_login=on_login),
        *_routes(site, hub, who, operator_row),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def _routes(site: Site, hub: Hub, who: Any, operator_row: Any) -> list[BaseRoute]:
    web = hub.config.web

    @site.page()
    def home(req: Req) -> Response:
        assert req.session is not None
        return redirect(HOME.get(operator_row(req.session).role, "/lookup"))

    @site.page()
    def queue(req: Req) -> Response:
        op = who(req, "queue")
        colour = req.query.get("colour", "")
        if colour and colour not in COLOUR:
            colour = ""
        found = views.queue(hub, op, colour=colour, page=_page(req))
        return req.render("queue.html", found=found, colour=colour, colours=list(Colour))

    @site.page()
    def cases(req: Req) -> Response:
        op = who(req, "cases")
        query, state = req.query.get("q", "")[:40], req.query.get("state", "")[:24]
        found, page, pages, total = views.search(hub, op, query=query, state=state,
                                                 page=_page(req))
        return req.render("search.html", found=found, page=page, pages=pages, total=total,
                          q=query, state=state)

    @site.page()
    def case_page(req: Req) -> Response:
        op = who(req, "cases")
        view = views.case_view(hub, op, req.path["case_id"])
        item = views.item_of(hub, view.case)
        offered = [a for a in views.ACTIONS if views.may(op, view.case, a)]
        records = [(rec, *describe(rec, item)) for rec in view.history]
        return req.render("case.html", v=view, item=item, offered=offered, records=records,
                          acts=views.acts_on(op, view.case), done=req.query.get("done", ""))

    @site.page()
    def case_act(req: Req) -> Response:
        op = who(req, "act")
        case_id = req.path["case_id"]
        try:
            action = Action(req.path["action"])
        except ValueError as exc:
            raise NotFoundError("没有这个操作") from exc
        if action not in views.ACTIONS:
            raise NotFoundError("没有这个操作")
        view = views.case_view(hub, op, case_id)  # not found for another department
        favourable = None
        if action is Action.OPINION:
            choice = req.text("favourable", limit=4)
            favourable = {"yes": True, "no": False}.get(choice)
        reason = req.text("reason", limit=1000,
                          required="理由" if action in NEEDS_REASON else "")
        act(hub, view.case.case_id, action, operator=op.name, via="console", reason=reason,
            materials=req.texts("material"), department=op.department if action is
            Action.OPINION else "", favourable=favourable)
        return redirect(f"/cases/{case_id}?done={action.value}")

    @site.page()
    def scan(req: Req) -> Response:
        op = who(req, "cases")
        material, data = views.scan(hub, op, req.path["case_id"], req.path["sha256"])
        return file_response(data, material.filename)

    @site.page()
    def supervision(req: Req) -> Response:
        op = who(req, "supervision")
        since = _date(req.query.get("from", ""), "开始日期")
        until = _date(req.query.get("to", ""), "结束日期")
        open_cases = [d for d in views.supervise_all(hub) if views.sees_stats(op, d.case)]
        counts = dict.fromkeys(Colour, 0)
        for d in open_cases:
            counts[d.status.colour] += 1
        colour_chart = bars_svg([Bar(label=COLOUR[c.value], value=n, text=f"{n} 件",
                                     tone=c.value) for c, n in counts.items()],
                                title="在办件（按时限颜色）")
        charts, tables = [], {}
        for by, title in (("item", "按事项"), ("department", "按部门"), ("node", "按受理站点")):
            rows = stats(hub, since=since, until=until, by=by,
                         only=lambda c: views.sees_stats(op, c))
            tables[by] = rows
            charts.append(bars_svg([_rate_bar(row, by) for row in rows],
                                   title=f"按时办结率 · {title}", maximum=1.0))
        return req.render("supervision.html", colour_chart=colour_chart, charts=charts,
                          tables=tables, counts=counts, since=req.query.get("from", ""),
                          until=req.query.get("to", ""), open_total=len(open_cases))

    @site.page()
    def trail_page(req: Req) -> Response:
        who(req, "trail")
        filters = {k: req.query.get(k, "")[:64] for k in ("case", "node", "operator")}
        since = _date(req.query.get("from", ""), "开始日期")
        until = _date(req.query.get("to", ""), "结束日期")
        rows = trail(hub, case_id=filters["case"] or None, node_id=filters["node"] or None,
                     operator=filters["operator"] or None, since=since, until=until)
        rows.reverse()
        total = len(rows)
        page = _page(req)
        pages = max(1, -(-total // 100))
        page = min(page, pages)
        return req.render("trail.html", rows=rows[(page - 1) * 100: page * 100], page=page,
                          pages=pages, total=total, f=filters,
                          since=req.query.get("from", ""), until=req.query.get("to", ""))

    @site.page()
    def alarms(req: Req) -> Response:
        who(req, "alarms")
        with hub.store.reading() as r:
            found = r.open_alarms(include_resolved=req.query.get("all") == "1")
            counts = r.refusal_counts()
            recent = r.recent_evidence(50)
        return req.render("alarms.html", alarms=found, counts=counts, recent=recent,
                          all=req.query.get("all") == "1")

    @site.page()
    def alarm_resolve(req: Req) -> Response:
        op = who(req, "alarms")
        alarm_id = req.path["alarm_id"]
        if not alarm_id.isdigit():
            raise NotFoundError("没有这条警报")
        resolve_alarm(hub, int(alarm_id), operator=op.name,
                      note=req.text("note", limit=1000, required="处理说明"))
        return redirect("/alarms")

    @site.page()
    def nodes(req: Req) -> Response:
        who(req, "nodes")
        return req.render("nodes.html", nodes=node_views(hub))

    @site.page()
    def accounts(req: Req) -> Response:
        who(req, "accounts")
        with hub.store.reading() as r:
            operators = r.list_operators()
        book = hub_book(hub)
        logins = {a.name: a for a in book.list()}
        return req.render("accounts.html", operators=operators, logins=logins,
                          now=hub.clock.now(), secret=None)

    @site.page()
    def account_post(req: Req) -> Response:
        admin = who(req, "accounts")
        by = Actor(name=admin.name, via="console", role=admin.role)
        name = req.text("name", limit=64, required="账号")
        what = req.path["what"]
        book = hub_book(hub)
        secret = None
        if what == "create":
            make_account(hub, name=name, password=req.text("password", limit=200,
                                                           required="初始密码"), by=by)
        elif what == "password":
            book.set_password(name, req.text("password", limit=200, required="新密码"))
            account_change(hub, kind="password set for", name=name, by=by, detail="")
        elif what == "unlock":
            book.unlock(name)
            account_change(hub, kind="unlocked", name=name, by=by, detail="")
        elif what in ("disable", "enable"):
            if name == admin.name:
                raise UsageError("不能停用自己的账号", code="bad_request")
            book.set_active(name, what == "enable")
            account_change(hub, kind=f"{what}d", name=name, by=by, detail="")
        elif what == "totp":
            secret = book.enrol_totp(name)
            account_change(hub, kind="second factor set for", name=name, by=by, detail="")
        elif what == "tokens":
            n = book.revoke_tokens(name)
            account_change(hub, kind="tokens revoked of", name=name, by=by, detail=f"{n}")
        else:
            raise NotFoundError("没有这个操作")
        if secret is not None:
            from node.web.security import totp_uri  # noqa: PLC0415

            with hub.store.reading() as r:
                operators = r.list_operators()
            return req.render("accounts.html", operators=operators,
                              logins={a.name: a for a in book.list()}, now=hub.clock.now(),
                              secret=(name, secret, totp_uri(secret, name, "bianmin")))
        return redirect("/accounts")

    # -- the public status lookup ---------------------------------------------------------------

    def lookup_form(req: Req, *, found: Any = None, problem: str = "", status: int = 200,
                    ) -> Response:
        return site.login_form_token(req, lambda token: req.render(
            "lookup.html", status=status, login_csrf=token, found=found, problem=problem,
            case_id=req.text("case_id", limit=40), nav=[]))

    @site.page(login=False)
    def lookup_get(req: Req) -> Response:
        return lookup_form(req)

    @site.page(login=False)
    def lookup_post(req: Req) -> Response:
        remote = req.request.client.host if req.request.client else "?"
        take(hub, f"lookup:{remote}", limit=web.lookups_per_minute,
             window=dt.timedelta(minutes=1))
        try:
            found = views.lookup(hub, req.text("case_id", limit=40, required="受理编号"),
                                 req.text("code", limit=20, required="查询码"))
        except NotFoundError as exc:
            return lookup_form(req, problem=str(exc), status=404)
        return lookup_form(req, found=found)

    return [
        Route("/", home), Route("/queue", queue), Route("/cases", cases),
        Route("/cases/{case_id}", case_page),
        Route("/cases/{case_id}/act/{action}", case_act, methods=["POST"]),
        Route("/cases/{case_id}/scans/{sha256}", scan),
        Route("/supervision", supervision), Route("/trail", trail_page),
        Route("/alarms", alarms),
        Route("/alarms/{alarm_id}/resolve", alarm_resolve, methods=["POST"]),
        Route("/nodes", nodes), Route("/accounts", accounts),
        Route("/accounts/{what}", account_post, methods=["POST"]),
        Route("/lookup", lookup_get, methods=["GET"]),
        Route("/lookup", lookup_post, methods=["POST"]),
    ]
