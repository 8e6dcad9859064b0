"""A statistics result: the rows, the filters echoed back, and how to draw it; rendered as JSON, CSV, XLSX
or a chart. Titles and labels are written in Chinese; ``kernel.i18n`` gives their English."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finance.charts import MEDIA_TYPES, bar_chart, grouped_bar_chart
from kernel import i18n, tabular


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

    @property
    def period(self) -> str:
        f = self.filters
        if f.get("from") and f.get("to"):
            return f"{f['from']} – {f['to']}"
        return str(f.get("as_of") or f.get("year") or "")

    def as_table(self, filename: str = "report") -> tabular.Table:
        return tabular.Table(title=self.title, columns=self.columns, rows=self.rows, period=self.period,
                             filters=self.filters, totals=self.totals, filename=filename)

    def as_chart(self, fmt: str, lang: str = i18n.ZH) -> bytes:
        labels = [str(r[self.chart_label]) for r in self.rows]
        title = i18n.text(self.title, lang)
        title = f"{title}（{self.period}）" if self.period else title
        x_label, y_label = i18n.text(self.x_label, lang), i18n.text(self.y_label, lang)
        if self.chart_series:
            series = [(i18n.text(legend, lang), [self._scaled(r[col]) for r in self.rows])
                      for col, legend in self.chart_series]
            return grouped_bar_chart(title, labels, series, x_label=x_label, y_label=y_label, fmt=fmt)
        values = [self._scaled(r[self.chart_value]) for r in self.rows]
        return bar_chart(title, labels, values, x_label=x_label, y_label=y_label, fmt=fmt)

    def _scaled(self, value: Any) -> float:
        # Only for drawing: the JSON and CSV keep exact integer fen.
        return float(value or 0) / self.chart_divisor


FORMATS = ("json", "csv", "xlsx", *MEDIA_TYPES)
