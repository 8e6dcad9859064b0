"""Reading what people type: amounts in 元 and rates in %, as the API's integer fen and basis points.

Only the form's notation is read here (``1,000,000.50`` 元, ``4.35`` %); whether the amount or rate is
allowed is the API's to say.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from console import labels


def _decimal(text: str) -> Decimal | None:
    cleaned = text.strip().replace(",", "").replace("，", "").replace("元", "").replace("%", "").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def fen(text: str) -> int | None:
    """``1,234.56`` (元) → 123456 fen; None unless it is a number of 元 with at most two decimals."""
    value = _decimal(text)
    if value is None or (value * 100) != (value * 100).to_integral_value():
        return None
    return int(value * 100)


def bps(text: str) -> int | None:
    """``4.35`` (%) → 435 bps; None unless it is a percentage with at most two decimals."""
    value = _decimal(text)
    if value is None or (value * 100) != (value * 100).to_integral_value():
        return None
    return int(value * 100)


def integer(text: str) -> int | str:
    """A whole number when it is one, else the text as typed (the API then says what is wrong)."""
    t = text.strip()
    return int(t) if t.isdigit() else t


class Reader:
    """Reads a form's fields, collecting notation errors by field (shown at the field, in ``lang``)."""

    def __init__(self, data: dict[str, str], lang: str) -> None:
        self.data, self.lang = data, lang
        self.errors: dict[str, str] = {}

    def text(self, name: str) -> str:
        return self.data.get(name, "").strip()

    def yuan(self, name: str) -> int | None:
        value = fen(self.data.get(name, ""))
        if value is None:
            self.errors[name] = labels.t("bad_yuan", self.lang)
        return value

    def percent(self, name: str) -> int | None:
        value = bps(self.data.get(name, ""))
        if value is None:
            self.errors[name] = labels.t("bad_percent", self.lang)
        return value
