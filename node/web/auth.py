"""Logging in and out, the same on every tier's site (issue 11): password, then the TOTP code
if the account has one; the session cookie is HttpOnly, SameSite=Strict, and Secure where the
site is served over HTTPS. ``on_login`` lets a tier write the login into its trail."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.routing import Route

from node.web.accounts import LoginRefused, Session
from node.web.pages import Req, Site, _same_site, redirect

__all__ = ["auth_routes"]


def auth_routes(site: Site, *, hint: str = "",
                on_login: Callable[[Session, str], None] | None = None) -> list[Route]:
    def login_form(req: Req, *, problem: str = "", name: str = "", status: int = 200,
                   ) -> Response:
        next_url = _same_site(req.query.get("next", "") or req.text("next")) or "/"
        return site.login_form_token(req, lambda token: req.render(
            "login.html", status=status, login_csrf=token, next=next_url, problem=problem,
            name=name, login_hint=hint))

    @site.page(login=False)
    def login_get(req: Req) -> Response:
        if req.session is not None and req.session.complete:
            return redirect("/")
        return login_form(req)

    @site.page(login=False)
    def login_post(req: Req) -> Response:
        name = req.text("name", limit=64)
        remote = req.request.client.host if req.request.client else ""
        try:
            session = site.book.login(name, req.text("password", limit=200), remote=remote)
        except LoginRefused as exc:
            return login_form(req, problem=str(exc), name=name, status=401)
        target = _same_site(req.text("next")) or "/"
        response = redirect(target if session.complete else "/login/totp")
        site.set_session_cookie(response, session)
        if on_login is not None and session.complete:
            on_login(session, remote)
        return response

    @site.page(totp_stage=True)
    def totp_get(req: Req) -> Response:
        return req.render("totp.html", problem="")

    @site.page(totp_stage=True)
    def totp_post(req: Req) -> Response:
        assert req.session is not None
        try:
            session = site.book.second_factor(req.session.token, req.text("code", limit=8))
        except LoginRefused as exc:
            if exc.code == "locked":
                response = redirect("/login")
                site.clear_session_cookie(response)
                return response
            return req.render("totp.html", status=401, problem=str(exc))
        if on_login is not None:
            on_login(session, req.request.client.host if req.request.client else "")
        return redirect("/")

    @site.page(totp_stage=True)
    def logout(req: Req) -> Response:
        assert req.session is not None
        site.book.end(req.session.token)
        response = redirect("/login")
        site.clear_session_cookie(response)
        return response

    return [Route("/login", login_get, methods=["GET"]),
            Route("/login", login_post, methods=["POST"]),
            Route("/login/totp", totp_get, methods=["GET"]),
            Route("/login/totp", totp_post, methods=["POST"]),
            Route("/logout", logout, methods=["POST"])]
