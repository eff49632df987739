"""The desk's pages (issue 11): thin handlers that read the form, call the one action of
``node.service.NodeService`` the CLI also calls (``intake``, ``supplement``, ``withdraw``,
``conclude``), and render. The guard (``node.web.pages.Site.page``) has already checked the
login and the CSRF token; a ``BianminError`` from the action becomes a page in Chinese and
nothing is written.

``desk_app(service, web)`` is the Starlette application ``node run`` serves (and ``township
serve``, with the township's own pages added).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from node.desk import work
from node.desk.accounts import desk_book
from node.desk.slips import Slip, qr_svg, slip_pdf
from node.desk.status import status_line
from node.kernel.catalog import Item
from node.kernel.clock import CST
from node.kernel.errors import BianminError, NotFoundError, UsageError
from node.kernel.payloads import Applicant, CaseSubmitted, Supplemented
from node.kernel.prereview import PreReview, pre_review, resolve_item
from node.kernel.resident_id import validate_resident_id
from node.kernel.workflow import Action
from node.service import MaterialInput, NodeService
from node.settings import WebSettings
from node.web.auth import auth_routes
from node.web.labels import error_headline
from node.web.pages import (
    Pages,
    Req,
    SecurityHeaders,
    Site,
    file_response,
    redirect,
    static_dir,
)

__all__ = ["desk_app", "desk_site"]

HERE = Path(__file__).resolve().parent
NAV = [("/", "首页"), ("/catalog", "事项目录"), ("/cases", "查找办件")]


def desk_site(service: NodeService, web: WebSettings, *, nav: Sequence[tuple[str, str]] = (),
              folders: Sequence[Path] = ()) -> Site:
    pages = Pages([*folders, HERE / "templates"])

    def context(req: Req) -> Mapping[str, Any]:
        return {"nav": [*NAV, *nav], "status_line": status_line(service),
                "station": service.config.name}

    return Site(pages=pages, book=desk_book(service, web), cookie="bm_desk",
                secure=web.secure_cookies or bool(web.tls_cert), title=service.config.name,
                max_upload_mb=service.config.limits.max_case_mb + 1, context=context)


def desk_app(service: NodeService, web: WebSettings, *,
             extra: Callable[[Site], list[BaseRoute]] | None = None,
             nav: Sequence[tuple[str, str]] = (), folders: Sequence[Path] = ()) -> Starlette:
    site = desk_site(service, web, nav=nav, folders=folders)
    routes = [*auth_routes(site, hint="账号由本站管理员用 bianmin node account add 建立。"),
              *desk_routes(site, service, web),
              *(extra(site) if extra else []),
              Mount("/static", StaticFiles(directory=static_dir()), name="static")]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def _page(req: Req, default: int = 1) -> int:
    raw = req.query.get("page", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else default


def _filename(upload: UploadFile) -> str:
    """The upload's own name, made safe for a file name (no folders, no control characters)."""
    name = Path((upload.filename or "scan").replace("\\", "/")).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")[-100:]
    return name.strip(". ") or "scan"


class Uploads:
    """Uploaded files written to a private scratch folder for the action to read; removed on
    the way out (the action has copied what it keeps into the node's blobs)."""

    def __init__(self, service: NodeService) -> None:
        root = (service.home or Path(tempfile.gettempdir())) / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="upload-", dir=root))

    def save(self, upload: UploadFile, index: int) -> Path:
        folder = self.dir / str(index)
        folder.mkdir()
        path = folder / _filename(upload)
        upload.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)
        return path

    def __enter__(self) -> Uploads:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _scanner_files(web: WebSettings) -> list[str]:
    if not web.scanner_folder:
        return []
    folder = Path(web.scanner_folder)
    try:
        found = sorted((p for p in folder.iterdir() if p.is_file()),
                       key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    return [p.name for p in found[:50]]


def _materials(req: Req, item: Item, uploads: Uploads, web: WebSettings,
               ) -> list[MaterialInput]:
    """The materials presented: a scan uploaded, a file of the scanner's folder, or the paper
    checked at the desk."""
    chosen: list[MaterialInput] = []
    for n, spec in enumerate(item.materials):
        files = req.files(f"file_{spec.code}")
        scanned = req.text(f"scanner_{spec.code}", limit=255)
        if files:
            chosen.append(MaterialInput(code=spec.code, path=uploads.save(files[0], n)))
        elif scanned and web.scanner_folder:
            if scanned not in _scanner_files(web):
                raise UsageError(f"扫描仪文件夹里没有 {scanned}", code="no_such_file")
            chosen.append(MaterialInput(code=spec.code, path=Path(web.scanner_folder) / scanned))
        elif req.text(f"paper_{spec.code}", limit=4):
            chosen.append(MaterialInput(code=spec.code))
    return chosen


def _fields(req: Req, item: Item) -> dict[str, str]:
    return {f.name: v for f in item.fields if (v := req.text(f"field_{f.name}", limit=500))}


def _applicant(req: Req, service: NodeService) -> Applicant:
    return Applicant(name=req.text("name", limit=64, required="申请人姓名"),
                     id_number=req.text("id_number", limit=32, required="身份证号码"),
                     phone=req.text("phone", limit=32))


def _id_facts(number: str, today: dt.date) -> str:
    checked = validate_resident_id(number, today=today)
    born = dt.date(int(checked[6:10]), int(checked[10:12]), int(checked[12:14]))
    sex = "男" if int(checked[16]) % 2 else "女"
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return f"身份证号码有效：{sex}，{born.year}年{born.month}月{born.day}日出生（{age} 岁）"


def desk_routes(site: Site, service: NodeService, web: WebSettings) -> list[BaseRoute]:
    tier = service.config.tier

    def today() -> dt.date:
        return service.clock.now().astimezone(CST).date()

    @site.page()
    def home(req: Req) -> Response:
        todo = {
            "supplement": service.cases("supplement_requested"),
            "incomplete": service.cases("incomplete"),
            "handover": [c for s in ("approved", "rejected", "not_accepted")
                         for c in service.cases(s)],
        }
        counts = work.counts(service, today())
        return req.render("home.html", todo=todo, taken_today=counts[0], total=counts[1])

    @site.page()
    def status_fragment(req: Req) -> Response:
        return req.render("status_line.html")

    @site.page()
    def catalog(req: Req) -> Response:
        found, version = work.catalog_of(service)
        query = req.query.get("q", "")[:50]
        return req.render("catalog.html", groups=work.categories(found, tier, query),
                          q=query, version=version, title=found.title)

    @site.page()
    def item_page(req: Req) -> Response:
        item = work.item_of(service, req.path["code"])
        return req.render("item.html", item=item, may_take=tier in item.accept_at)

    def intake_form(req: Req, item: Item, *, review: PreReview | None = None,
                    problems: Sequence[str] = (), status: int = 200) -> Response:
        return req.render("intake.html", status=status, item=item, form=req.form or {},
                          review=review, problems=problems, scanner=_scanner_files(web),
                          duplicates=[], tier_ok=tier in item.accept_at)

    @site.page()
    def intake_get(req: Req) -> Response:
        item = work.item_of(service, req.path["code"])
        resolve_item(work.catalog_of(service)[0], item.code, tier)
        return intake_form(req, item)

    def _review(req: Req, item: Item) -> tuple[PreReview | None, list[str], list[Any]]:
        """The pre-review of what the form holds, without saving anything."""
        problems: list[str] = []
        review = None
        duplicates: list[Any] = []
        number = req.text("id_number", limit=32)
        if number:
            try:
                checked = validate_resident_id(number, today=today())
                duplicates = work.open_duplicates(service, id_number=checked,
                                                  item_code=item.code)
            except UsageError as exc:
                problems.append(f"身份证号码：{exc}")
        else:
            problems.append("请填写身份证号码")
        if not req.text("name", limit=64):
            problems.append("请填写申请人姓名")
        codes = [m.code for m in item.materials
                 if req.files(f"file_{m.code}") or req.text(f"paper_{m.code}", limit=4)
                 or req.text(f"scanner_{m.code}", limit=255)]
        try:
            review = pre_review(item, codes, _fields(req, item))
        except UsageError as exc:
            problems.append(str(exc))
        return review, problems, duplicates

    @site.page()
    def intake_review(req: Req) -> Response:
        item = work.item_of(service, req.path["code"])
        review, problems, duplicates = _review(req, item)
        return req.render("review.html", item=item, review=review, problems=problems,
                          duplicates=duplicates)

    @site.page()
    def intake_post(req: Req) -> Response:
        item = work.item_of(service, req.path["code"])
        if req.text("do", limit=10) == "review":
            review, problems, duplicates = _review(req, item)
            return req.render("intake.html", item=item, form=req.form or {}, review=review,
                              problems=problems, scanner=_scanner_files(web),
                              duplicates=duplicates, tier_ok=True)
        try:
            applicant = _applicant(req, service)
            duplicates = work.open_duplicates(
                service, id_number=validate_resident_id(applicant.id_number, today=today()),
                item_code=item.code)
            if duplicates and not req.text("confirm_duplicate", limit=4):
                review, problems, _d = _review(req, item)
                return req.render("intake.html", status=409, item=item, form=req.form or {},
                                  review=review, problems=problems,
                                  scanner=_scanner_files(web), duplicates=duplicates,
                                  tier_ok=True)
            with Uploads(service) as uploads:
                result = service.intake(item_code=item.code, applicant=applicant,
                                        materials=_materials(req, item, uploads, web),
                                        fields=_fields(req, item),
                                        confirm_duplicate=bool(duplicates))
        except BianminError as exc:  # the form again, as typed, with what is wrong on top
            return req.render("intake.html", status=400, item=item, form=req.form or {},
                              review=None, problems=[f"{error_headline(exc)}（详细说明：{exc}）",
                                                     "（没有保存；上传的文件请重新选择）"],
                              scanner=_scanner_files(web), duplicates=[], tier_ok=True)
        return redirect(f"/cases/{result.case_id}/receipt?new=1")

    @site.page()
    def check_id(req: Req) -> Response:
        number = req.text("id_number", limit=32)
        try:
            return req.render("id_check.html", ok=True, text=_id_facts(number, today()))
        except UsageError as exc:
            return req.render("id_check.html", ok=False, text=str(exc))

    @site.page()
    def cases(req: Req) -> Response:
        query = req.query.get("q", "")[:40]
        state = req.query.get("state", "")[:24]
        found = work.find_cases(service, query=query, state=state, page=_page(req))
        return req.render("cases.html", found=found, q=query, state=state)

    def _case(req: Req) -> tuple[Any, Any, Item | None]:
        case, history = service.case(req.path["case_id"])
        try:
            item = work.item_of(service, case.item_code)
        except NotFoundError:
            item = None
        return case, history, item

    @site.page()
    def case_page(req: Req) -> Response:
        case, history, item = _case(req)
        materials = [(m, r.header.recorded_at) for r in history
                     if isinstance(r.payload, CaseSubmitted | Supplemented)
                     for m in r.payload.materials]
        decided = work.decision_of(history)
        return req.render(
            "case.html", case=case, item=item, timeline=work.timeline(service, history, item),
            materials=materials, decided=decided is not None,
            may_supplement=work.may(case, Action.SUPPLEMENT),
            may_withdraw=work.may(case, Action.WITHDRAW),
            may_conclude=work.may(case, Action.CONCLUDE),
            concluded=case.state == "concluded")

    def slip_page(req: Req, slip: Slip, template: str) -> Response:
        paper = "a5" if req.query.get("paper") == "a5" else "a4"
        return req.render(template, slip=slip, qr=qr_svg(slip.qr_text), paper=paper,
                          new=req.query.get("new") == "1",
                          case_id=req.path["case_id"])

    @site.page()
    def receipt_page(req: Req) -> Response:
        case, history, _item = _case(req)
        return slip_page(req, work.receipt(service, case, history), "slip.html")

    @site.page()
    def slip_result(req: Req) -> Response:
        case, history, _item = _case(req)
        return slip_page(req, work.result_slip(service, case, history), "slip.html")

    def pdf(slip: Slip, paper: str, name: str) -> Response:
        return Response(slip_pdf(slip, paper=paper), media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="{name}.pdf"'})

    @site.page()
    def receipt_pdf(req: Req) -> Response:
        case, history, _item = _case(req)
        return pdf(work.receipt(service, case, history),
                   "a5" if req.query.get("paper") == "a5" else "a4", f"receipt-{case.case_id}")

    @site.page()
    def slip_pdf_page(req: Req) -> Response:
        case, history, _item = _case(req)
        return pdf(work.result_slip(service, case, history),
                   "a5" if req.query.get("paper") == "a5" else "a4", f"result-{case.case_id}")

    @site.page()
    def supplement(req: Req) -> Response:
        case, _history, item = _case(req)
        if item is None:
            raise NotFoundError(f"item {case.item_code} is not in the catalog this node holds")
        with Uploads(service) as uploads:
            chosen = _materials(req, item, uploads, web)
            if not chosen:
                raise UsageError("请至少选择一项补交的材料（上传扫描件或勾选已查验原件）",
                                 code="materials_required")
            service.supplement(case.case_id, chosen)
        return redirect(f"/cases/{case.case_id}?done=supplement")

    @site.page()
    def withdraw(req: Req) -> Response:
        case_id = req.path["case_id"]
        service.withdraw(case_id, req.text("reason", limit=500, required="撤回理由"))
        return redirect(f"/cases/{case_id}?done=withdraw")

    @site.page()
    def conclude(req: Req) -> Response:
        case_id = req.path["case_id"]
        service.conclude(case_id, req.text("note", limit=500))
        return redirect(f"/cases/{case_id}/slip?new=1")

    @site.page()
    def scan(req: Req) -> Response:
        _case_view, history, _item = _case(req)
        digest = req.path["sha256"]
        named = {m.sha256.hex(): m for r in history
                 if isinstance(r.payload, CaseSubmitted | Supplemented)
                 for m in r.payload.materials if m.sha256}
        material = named.get(digest)
        if material is None or not service.blobs.has(material.sha256):
            raise NotFoundError("这份扫描件不在本站")
        return file_response(service.blobs.path(material.sha256).read_bytes(),
                             material.filename)

    return [
        Route("/", home), Route("/status-line", status_fragment),
        Route("/catalog", catalog), Route("/items/{code}", item_page),
        Route("/intake/{code}", intake_get, methods=["GET"]),
        Route("/intake/{code}", intake_post, methods=["POST"]),
        Route("/intake/{code}/review", intake_review, methods=["POST"]),
        Route("/check/id", check_id, methods=["POST"]),
        Route("/cases", cases), Route("/cases/{case_id}", case_page),
        Route("/cases/{case_id}/receipt", receipt_page),
        Route("/cases/{case_id}/receipt.pdf", receipt_pdf),
        Route("/cases/{case_id}/slip", slip_result),
        Route("/cases/{case_id}/slip.pdf", slip_pdf_page),
        Route("/cases/{case_id}/supplement", supplement, methods=["POST"]),
        Route("/cases/{case_id}/withdraw", withdraw, methods=["POST"]),
        Route("/cases/{case_id}/conclude", conclude, methods=["POST"]),
        Route("/cases/{case_id}/scans/{sha256}", scan),
    ]
