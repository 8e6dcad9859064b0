"""PDF documents the platform is the author of (appraisal reports, repayment schedules, the fund's
monthly report), in Chinese: fpdf2 with the SimHei TrueType font that the ``mplfonts`` package ships
(embedded as a subset, so the file opens anywhere and its text can be searched and extracted).

Build a ``Document`` (title, headings, label/value pairs, tables), then ``render`` it (CPU work: call
``await render_async`` from a request, which runs it in a thread).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

FONT = "cjk"
PDF_MEDIA_TYPE = "application/pdf"


@lru_cache
def font_path() -> str:
    import mplfonts

    return os.path.join(os.path.dirname(mplfonts.__file__), "fonts", "SimHei.ttf")


def yuan(fen: int | None) -> str:
    """Fen as 元 with thousands separators and two places (``1,234.56``); blank for None."""
    if fen is None:
        return ""
    value = (Decimal(int(fen)) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value:,.2f}"


def bps(value: int | None) -> str:
    """Basis points as a percentage (``435`` → ``4.35%``)."""
    if value is None:
        return ""
    return f"{(Decimal(int(value)) / 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


@dataclass
class Document:
    title: str
    subtitle: str = ""
    generated_on: date | None = None
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> Document:
        self.blocks.append(("heading", text))
        return self

    def paragraph(self, text: str) -> Document:
        self.blocks.append(("paragraph", text))
        return self

    def pairs(self, rows: Sequence[tuple[str, Any]]) -> Document:
        self.blocks.append(("pairs", [(str(k), "" if v is None else str(v)) for k, v in rows]))
        return self

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              widths: Sequence[int] | None = None) -> Document:
        body = [["" if v is None else str(v) for v in r] for r in rows]
        self.blocks.append(("table", (list(headers), body, list(widths) if widths else None)))
        return self


def render(doc: Document) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    class _PDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(FONT, size=8)
            self.cell(0, 8, f"第 {self.page_no()} 页 / 共 {{nb}} 页", align="C")

    pdf = _PDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(doc.title)
    pdf.set_creator("IP Pledge Market")
    path = font_path()
    pdf.add_font(FONT, fname=path)
    pdf.add_font(FONT, style="B", fname=path)  # tables set their headings in bold
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font(FONT, size=17)
    pdf.multi_cell(0, 10, doc.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    if doc.subtitle:
        pdf.multi_cell(0, 6, doc.subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
    if doc.generated_on:
        pdf.multi_cell(0, 6, f"生成日期：{doc.generated_on.isoformat()}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    head = FontFace(emphasis="B", fill_color=(230, 236, 242))
    for kind, value in doc.blocks:
        if kind == "heading":
            pdf.ln(2)
            pdf.set_font(FONT, size=13)
            pdf.multi_cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(FONT, size=10)
        elif kind == "paragraph":
            pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
        elif kind == "pairs":
            with pdf.table(col_widths=(35, 65), first_row_as_headings=False, line_height=6.5) as table:
                for label, text in value:
                    row = table.row()
                    row.cell(label)
                    row.cell(text)
            pdf.ln(2)
        else:
            headers, rows, widths = value
            pdf.set_font(FONT, size=8.5 if len(headers) > 6 else 9.5)
            with pdf.table(col_widths=tuple(widths) if widths else None, headings_style=head,
                           line_height=5.5, text_align="CENTER") as table:
                for r in [headers, *rows]:
                    row = table.row()
                    for cell in r:
                        row.cell(cell)
            pdf.set_font(FONT, size=10)
            pdf.ln(2)
    return bytes(pdf.output())


async def render_async(doc: Document) -> bytes:
    return await asyncio.to_thread(render, doc)
