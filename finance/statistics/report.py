"""A statistics result: the rows, the filters echoed back, and how to draw it; rendered as JSON, CSV or a chart."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from finance.statistics.charts import MEDIA_TYPES, bar_chart, grouped_bar_chart


@dataclass
class Report:
    title: str
    filters: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] = field(default_factory=dict)
    chart_label: str = ""  # the column whose values label the bars
    chart_value: str = ""  # the column whose values are the bars
    x_label: str = ""
    y_label: str = ""
    # Charts of money: divide fen by this (1_000_000 → 万元) so the axis reads in the unit of y_label.
    chart_divisor: int = 1
    # Several bars per label: (column, legend) pairs; when set, ``chart_value`` is not used.
    chart_series: list[tuple[str, str]] = field(default_factory=list)
    # More breakdowns for the JSON body (e.g. by deal mode); CSV carries the rows only.
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "filters": self.filters, "columns": self.columns, "data": self.rows,
                "totals": self.totals, **self.extra}

    def as_csv(self) -> str:
        buf = io.StringIO()
        buf.write("# " + self.title + " " + " ".join(f"{k}={v}" for k, v in self.filters.items()
                                                      if v is not None) + "\n")
        writer = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        if self.totals:
            writer.writerow({self.columns[0]: "total", **self.totals})
        return buf.getvalue()

    def as_xlsx(self) -> bytes:
        """One sheet: the title and filters on the first row, then the header and the rows (and totals)."""
        from openpyxl import Workbook  # only for this format: keep it off the other requests' import path

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "data"
        sheet.append([self.title, *(f"{k}={v}" for k, v in self.filters.items() if v is not None)])
        sheet.append(self.columns)
        for row in self.rows:
            sheet.append([row.get(c) for c in self.columns])
        if self.totals:
            sheet.append(["total", *(self.totals.get(c) for c in self.columns[1:])])
        buf = io.BytesIO()
        book.save(buf)
        return buf.getvalue()

    def as_chart(self, fmt: str) -> bytes:
        labels = [str(r[self.chart_label]) for r in self.rows]
        period = " ".join(f"{k}={v}" for k, v in self.filters.items() if v is not None)
        title = f"{self.title}（{period}）" if period else self.title
        if self.chart_series:
            series = [(legend, [self._scaled(r[col]) for r in self.rows]) for col, legend in self.chart_series]
            return grouped_bar_chart(title, labels, series, x_label=self.x_label, y_label=self.y_label, fmt=fmt)
        values = [self._scaled(r[self.chart_value]) for r in self.rows]
        return bar_chart(title, labels, values, x_label=self.x_label, y_label=self.y_label, fmt=fmt)

    def _scaled(self, value: Any) -> float:
        # Only for drawing: the JSON and CSV keep exact integer fen.
        return float(value or 0) / self.chart_divisor


FORMATS = ("json", "csv", *MEDIA_TYPES)
