"""A statistics result: the rows, the filters echoed back, and how to draw it; rendered as JSON, CSV or a chart."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from finance.statistics.charts import MEDIA_TYPES, bar_chart


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

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "filters": self.filters, "columns": self.columns, "data": self.rows,
                "totals": self.totals}

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

    def as_chart(self, fmt: str) -> bytes:
        labels = [str(r[self.chart_label]) for r in self.rows]
        values = [float(r[self.chart_value] or 0) for r in self.rows]
        period = " ".join(f"{k}={v}" for k, v in self.filters.items() if v is not None)
        title = f"{self.title}（{period}）" if period else self.title
        return bar_chart(title, labels, values, x_label=self.x_label, y_label=self.y_label, fmt=fmt)


FORMATS = ("json", "csv", *MEDIA_TYPES)
