"""The slips a desk hands over (issue 11): the receipt (受理回执) at intake and the result slip
(办结结果单) at hand-over, as one value each, printed from the browser (A4 or A5 print CSS) or
as a PDF.

The QR code holds the case number and the slip's code (the receipt code, or the decision's
verification code) -- what the public status lookup (办件查询) asks for. The PDF is drawn with
reportlab's built-in CID font STSong-Light, so it needs no font file and works offline; it
is imported only when a PDF is asked for, to keep ``node run`` small.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno

__all__ = ["Slip", "qr_svg", "slip_pdf"]


@dataclass(frozen=True, kw_only=True)
class Slip:
    title: str  # 受理回执 | 办结结果单
    station: str
    case_id: str
    code_label: str  # 查询码 | 验证码
    code: str
    rows: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = ()

    @property
    def qr_text(self) -> str:
        return f"BIANMIN:{self.case_id}:{self.code}"


def qr_svg(text: str) -> str:
    """An inline SVG QR code (no image file, no script): escaped by segno."""
    qr = segno.make(text, error="m")
    svg: str = qr.svg_inline(scale=4, border=2, omitsize=False)
    return svg


def slip_pdf(slip: Slip, *, paper: str = "a4") -> bytes:
    from reportlab.graphics.barcode.qr import QrCodeWidget  # noqa: PLC0415
    from reportlab.graphics.shapes import Drawing  # noqa: PLC0415
    from reportlab.lib import colors  # noqa: PLC0415
    from reportlab.lib.pagesizes import A4, A5  # noqa: PLC0415
    from reportlab.lib.styles import ParagraphStyle  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.pdfbase import pdfmetrics  # noqa: PLC0415
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # noqa: PLC0415
    from reportlab.platypus import (  # noqa: PLC0415
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    small = paper == "a5"
    size = 9 if small else 11
    base = ParagraphStyle("base", fontName=font, fontSize=size, leading=size * 1.5)
    title = ParagraphStyle("title", parent=base, fontSize=size + 7, leading=(size + 7) * 1.4,
                           alignment=1)
    centre = ParagraphStyle("centre", parent=base, alignment=1)

    def p(text: str, style: ParagraphStyle = base) -> Paragraph:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return Paragraph(escaped, style)

    buffer = io.BytesIO()
    margin = (8 if small else 15) * mm
    doc = SimpleDocTemplate(buffer, pagesize=A5 if small else A4, leftMargin=margin,
                            rightMargin=margin, topMargin=margin, bottomMargin=margin,
                            title=f"{slip.title} {slip.case_id}", author=slip.station)
    widget = QrCodeWidget(slip.qr_text)
    x0, y0, x1, y1 = widget.getBounds()
    side = (28 if small else 36) * mm
    drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0), 0, 0])
    drawing.add(widget)
    head = Table([[[p(slip.title, title), p(slip.station, centre),
                    p(f"受理编号：{slip.case_id}", centre),
                    p(f"{slip.code_label}：{slip.code}", centre)], drawing]],
                 colWidths=[doc.width - side - 4 * mm, side + 4 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    body = Table([[p(k), p(v)] for k, v in slip.rows],
                 colWidths=[(24 if small else 32) * mm, doc.width - (24 if small else 32) * mm])
    body.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.95, 0.96, 0.97)),
        ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story = [head, Spacer(1, 4 * mm), body, Spacer(1, 4 * mm)]
    story += [p(n) for n in slip.notes]
    story += [Spacer(1, 8 * mm),
              p("经办人（签字）：____________        申请人（签字）：____________")]
    doc.build(story)
    return buffer.getvalue()
