"""The page toolkit every tier's site uses (STYLE §25): templates that escape by default, one
guard that checks the login, the role and the form's CSRF token before a handler runs, and
error pages in Chinese that change nothing.

A handler is a plain function ``handler(req) -> Response`` run on a worker thread: it reads
the form, calls the one action the CLI also calls, and renders. ``Site.page`` wraps it:

* no session (or an expired one): to the login page, then back;
* a session whose second factor is owed opens only the code page;
* ``roles``: the account's role must be one of them (Django admin's ``has_*_permission``, in
  one place) -- refused with 403 otherwise;
* every POST carries the session's CSRF token (a login form, before any session, carries the
  token of a cookie set with the form: double submit) -- refused with 403 otherwise;
* a ``BianminError`` becomes a page with the Chinese headline of its code and its message,
  status 400 (404 not found, 403 refused); anything else is logged and shown as a plain
  "系统出错" page -- never a traceback.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.kernel.errors import BianminError, NotFoundError, PeerError, UsageError
from node.web import labels
from node.web.accounts import Account, AccountBook, Session
from node.web.security import compare, new_token

__all__ = ["MAX_TEXT", "Forbidden", "Pages", "Req", "SecurityHeaders", "Site", "file_response",
           "redirect", "static_dir"]

log = logging.getLogger("bianmin.web")

HERE = Path(__file__).resolve().parent
MAX_TEXT = 2000  # the longest text field a form may send (a reason, an address)
LOGIN_CSRF = "bm_login_csrf"
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def static_dir() -> Path:
    return HERE / "static"


class Forbidden(PeerError):
    code = "forbidden"


class SecurityHeaders:
    """Headers on every answer: no framing, no sniffing, scripts and styles from this site
    only (there are no inline scripts), no caching of pages that show personal data -- and
    ``Server-Timing: app;dur=MS``, the server's own time for the request (``make bench``
    reads it; so can a browser's developer tools)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                headers += [(b"content-security-policy", CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"same-origin")]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Pages:
    """Jinja2 templates (autoescape on every template) from the tier's folder, then the
    shared one, with the labels as filters."""

    def __init__(self, folders: Sequence[Path], **globals_: object) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*folders, HERE / "templates"]),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True)
        self.env.filters.update(
            when=labels.when, day=labels.when_day, masked_name=labels.masked_name,
            masked_id=labels.masked_id, state=lambda s: labels.STATE.get(str(s), str(s)),
            action=lambda s: labels.ACTION.get(str(s), str(s)),
            colour=lambda s: labels.COLOUR.get(str(s), str(s)),
            role=lambda s: labels.ROLE.get(str(s), str(s)),
            kind=lambda s: labels.KIND.get(str(s).split(":")[0], str(s)),
            via=lambda s: labels.VIA.get(str(s), str(s)), yuan=_yuan)
        self.env.globals.update(globals_)

    def render(self, template: str, context: Mapping[str, Any], *,
               status: int = 200) -> Response:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status)


def _yuan(value: object) -> str:
    text = str(value)
    return "免费" if text in ("0", "0.00", "0.0") else f"{text} 元"


_SHOWN = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
          ".gif": "image/gif", ".webp": "image/webp", ".pdf": "application/pdf"}


def file_response(data: bytes, filename: str) -> Response:
    """A stored scan: images and PDFs shown in the browser, anything else downloaded (never
    rendered as a page); the name in ASCII and, for browsers that read it, in UTF-8."""
    suffix = Path(filename).suffix.lower()
    kind = _SHOWN.get(suffix)
    ascii_name = "".join(c for c in filename if c.isascii() and (c.isalnum() or c in "._-"))
    disposition = (f'{"inline" if kind else "attachment"}; '
                   f'filename="{ascii_name or "scan" + suffix}"; '
                   f"filename*=UTF-8''{quote(filename)}")
    return Response(data, media_type=kind or "application/octet-stream",
                    headers={"content-disposition": disposition})


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


@dataclass
class Req:
    """What a handler gets: the request, its form, the session and its account."""

    request: Request
    site: Site
    form: FormData | None = None
    session: Session | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def account(self) -> Account:
        assert self.session is not None
        return self.session.account

    @property
    def path(self) -> Mapping[str, str]:
        return self.request.path_params

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    def text(self, name: str, *, limit: int = MAX_TEXT, required: str = "") -> str:
        """A form field, stripped; ``UsageError`` naming it (``required``: its Chinese name)
        if it is empty though required, too long, or holds control characters."""
        raw = self.form.get(name, "") if self.form is not None else ""
        value = raw.strip() if isinstance(raw, str) else ""
        if required and not value:
            raise UsageError(f"请填写“{required}”", code="bad_request")
        if len(value) > limit:
            raise UsageError(f"“{required or name}”最多 {limit} 个字", code="bad_request")
        if any(ord(c) < 32 and c not in "\n\r\t" for c in value):
            raise UsageError(f"“{required or name}”含有不可见的控制字符", code="bad_request")
        return value

    def texts(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def files(self, name: str) -> list[UploadFile]:
        if self.form is None:
            return []
        return [f for f in self.form.getlist(name)
                if isinstance(f, UploadFile) and f.filename]

    def render(self, template: str, /, status: int = 200, **context: Any) -> Response:
        return self.site.render(self, template, status=status, **context)


Handler = Callable[[Req], Response]


class Site:
    """One tier's pages: templates, the account book, the login cookie, and the guard."""

    def __init__(self, *, pages: Pages, book: AccountBook, cookie: str, secure: bool,
                 title: str, max_upload_mb: int = 100,
                 context: Callable[[Req], Mapping[str, Any]] | None = None) -> None:
        self.pages, self.book, self.cookie, self.secure = pages, book, cookie, secure
        self.title = title
        self.max_upload = max_upload_mb << 20
        self.context = context

    # -- rendering ------------------------------------------------------------------------------

    def render(self, req: Req, template: str, /, *, status: int = 200,
               **context: Any) -> Response:
        base: dict[str, Any] = {"site_title": self.title, "session": req.session,
                                "account": req.session.account if req.session else None,
                                "csrf": req.session.csrf if req.session else "",
                                "path": req.request.url.path}
        if self.context is not None and req.session is not None and req.session.complete:
            base.update(self.context(req))
        base.update(context)
        return self.pages.render(template, base, status=status)

    def error(self, req: Req, exc: BianminError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else (
            403 if isinstance(exc, PeerError) and exc.code in ("forbidden", "csrf") else
            429 if exc.code == "rate_limited" else 400)
        return self.render(req, "error.html", status=status,
                           headline=labels.error_headline(exc), message=str(exc),
                           back=_same_site(req.request.headers.get("referer", "")))

    # -- the session cookie ---------------------------------------------------------------------

    def set_session_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(self.cookie, session.token, httponly=True, samesite="strict",
                            secure=self.secure, path="/")

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie, path="/", httponly=True, samesite="strict",
                               secure=self.secure)

    def login_form_token(self, req: Req, response_builder: Callable[[str], Response],
                         ) -> Response:
        """Render a login-stage form with a fresh double-submit CSRF token."""
        token = req.request.cookies.get(LOGIN_CSRF) or new_token()
        response = response_builder(token)
        response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict",
                            secure=self.secure, path="/", max_age=3600)
        return response

    # -- the guard ------------------------------------------------------------------------------

    def page(self, *, login: bool = True, roles: Sequence[str] | None = None,
             totp_stage: bool = False) -> Callable[[Handler], Callable[[Request], Any]]:
        def wrap(handler: Handler) -> Callable[[Request], Any]:
            @functools.wraps(handler)
            async def endpoint(request: Request) -> Response:
                req = Req(request=request, site=self)
                try:
                    if request.method == "POST":
                        req.form = await self._form(request)
                    return await run_in_threadpool(self._guarded, handler, req, login, roles,
                                                   totp_stage)
                except BianminError as exc:
                    return await run_in_threadpool(self.error, req, exc)
                except Exception:
                    log.exception("page %s %s failed", request.method, request.url.path)
                    return await run_in_threadpool(self._broken, req)
            return endpoint
        return wrap

    async def _form(self, request: Request) -> FormData:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_upload:
            raise UsageError(f"上传的内容共 {int(length) >> 20} MB，超过了 "
                             f"{self.max_upload >> 20} MB 的上限：请降低扫描分辨率后再试",
                             code="case_too_large")
        try:
            return await request.form(max_files=50, max_fields=500,
                                      max_part_size=self.max_upload)
        except Exception as exc:  # a malformed or oversized form: refuse it, change nothing
            raise UsageError("表单内容无法读取，请刷新页面后重试", code="bad_request") from exc

    def _guarded(self, handler: Handler, req: Req, login: bool, roles: Sequence[str] | None,
                 totp_stage: bool) -> Response:
        request = req.request
        session = self.book.session(request.cookies.get(self.cookie, ""))
        req.session = session
        if login:
            if session is None:
                return redirect("/login?next=" + quote(_same_site(str(request.url)) or "/"))
            if not session.complete and not totp_stage:
                return redirect("/login/totp")
            if roles is not None and session.account.role not in roles:
                raise Forbidden(f"{labels.ROLE.get(session.account.role, session.account.role)}"
                                "不能使用这个页面")
        if request.method == "POST":
            sent = req.form.get("csrf", "") if req.form is not None else ""
            expected = (session.csrf if session is not None and login
                        else request.cookies.get(LOGIN_CSRF, ""))
            if not isinstance(sent, str) or not expected or not compare(sent, expected):
                raise Forbidden("页面已过期或来源不明（CSRF 校验未通过）：请返回、刷新页面后再提交",
                                code="csrf")
        return handler(req)

    def _broken(self, req: Req) -> Response:
        return self.render(req, "error.html", status=500, headline="系统出错了",
                           message="这一步没有完成，也没有改动任何数据。请稍后再试；如果一再出现，请联系县里"
                                   "的信息中心。", back="")


def _same_site(url: str) -> str:
    """The path and query of ``url`` (never another site's address: no open redirects)."""
    if not url:
        return ""
    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else "/"
    return path + (f"?{parts.query}" if parts.query else "")
