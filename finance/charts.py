"""Bar charts with Chinese titles and labels (matplotlib, Agg, Noto Sans CJK from mplfonts), for the
statistics reports and the fund's monitoring alike."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager
from matplotlib.figure import Figure

WIDTH_PX, HEIGHT_PX, DPI = 1000, 600, 100
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


@lru_cache
def _font_family() -> str:
    import mplfonts

    path = os.path.join(os.path.dirname(mplfonts.__file__), "fonts", "NotoSansCJKsc-Regular.otf")
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, x_label: str, y_label: str,
              fmt: str = "png") -> bytes:
    """One bar per label; ``fmt`` is png or svg. The figure is 1000×600 px."""
    family = _font_family()
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax = fig.subplots()
    bars = ax.bar(range(len(values)), values, color="#2f6f9f")
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 6 else 0, ha="right"
                  if len(labels) > 6 else "center", fontfamily=family)
    ax.bar_label(bars, labels=[f"{v:,.2f}".rstrip("0").rstrip(".") for v in values], fontfamily=family,
                 fontsize=9)
    ax.set_title(title, fontfamily=family, fontsize=15)
    ax.set_xlabel(x_label, fontfamily=family)
    ax.set_ylabel(y_label, fontfamily=family)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    return buf.getvalue()


def grouped_bar_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
                      x_label: str, y_label: str, fmt: str = "png") -> bytes:
    """Side-by-side bars, one colour per series (``(legend, values)``), with a legend; 1000×600 px."""
    family = _font_family()
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax = fig.subplots()
    n = max(len(series), 1)
    width = 0.8 / n
    colours = ("#2f6f9f", "#d9822b", "#3a9a5b", "#9b4f96")
    for i, (legend, values) in enumerate(series):
        xs = [x - 0.4 + width * (i + 0.5) for x in range(len(labels))]
        bars = ax.bar(xs, values, width=width, label=legend, color=colours[i % len(colours)])
        ax.bar_label(bars, labels=[f"{v:,.2f}".rstrip("0").rstrip(".") for v in values], fontfamily=family,
                     fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 6 else 0,
                  ha="right" if len(labels) > 6 else "center", fontfamily=family)
    ax.set_title(title, fontfamily=family, fontsize=15)
    ax.set_xlabel(x_label, fontfamily=family)
    ax.set_ylabel(y_label, fontfamily=family)
    ax.legend(prop=font_manager.FontProperties(family=family))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    return buf.getvalue()
