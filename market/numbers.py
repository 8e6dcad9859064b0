"""Registration numbers of IP assets: validation and the one normalised form we store.

Chinese patent application numbers: since 2003, 12 digits + check character (``201710601862.3``);
before 2004, 8 digits + check (``98123456.X``). The check is ``Σ d_i × w_i mod 11`` with weights
2,3,4,5,6,7,8,9,2,3,4,5 (first 8 of them for the old form); 10 is written ``X``. ``ZL``/``CN``
prefixes, dots and spaces are presentation and accepted on input.

``today`` is the business date (``kernel.clock.business_date``): a year written into a number may not be
after it. Without it (request-schema validation, which has no session) only the form is checked and the
service checks the year again with the business date.
"""

from __future__ import annotations

import re
from datetime import date

PATENT_KINDS = ("invention_patent", "utility_model", "design_patent")
ASSET_KINDS = (*PATENT_KINDS, "trademark", "copyright", "software_copyright", "trade_secret", "plant_variety",
               "geographical_indication")
# A geographical indication (地理标志) is protected either as a collective or certification mark (a trademark
# registration number) or as a GI product (an announcement of the protecting authority, 2008年第123号).
GI_FORMS = ("collective_mark", "certification_mark", "gi_product")
GI_MARK_FORMS = ("collective_mark", "certification_mark")

_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# Digit that names the patent type -> asset kinds it may be (8 and 9 are PCT national-phase entries).
_TYPE_DIGIT = {"1": ("invention_patent",), "2": ("utility_model",), "3": ("design_patent",),
               "8": ("invention_patent",), "9": ("utility_model",)}

_TRADEMARK = re.compile(r"^\d{1,9}$")
_SOFTWARE = re.compile(r"^(\d{4})SR(\d{6,7})$")
_COPYRIGHT = re.compile(r"^([\u4e00-\u9fff])作登字-(\d{4})-([A-L])-(\d{8})$")
_TRADE_SECRET = re.compile(r"^[A-Z0-9][A-Z0-9\-_/]{0,63}$")
_PLANT = re.compile(r"^CNA(\d{4})(\d{4,6})(\.[0-9X])?$")
_GI_ANNOUNCEMENT = re.compile(r"^(\d{4})年第(\d{1,4})号(公告)?$")


def patent_check_character(digits: str) -> str:
    total = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=False))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


def normalise_patent_number(raw: str, kind: str | None = None, today: date | None = None) -> str:
    """Return ``DDDDDDDDDDDD.C`` (or ``DDDDDDDD.C``); raise ValueError saying what is wrong."""
    s = re.sub(r"[\s.·]", "", raw.strip().upper())
    for prefix in ("ZL", "CN"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    if len(s) not in (13, 9):
        raise ValueError("a patent number has 12 digits and a check character (or 8 before 2004)")
    body, check = s[:-1], s[-1]
    if not body.isdigit():
        raise ValueError("a patent number's body is digits only")
    if len(body) == 12:
        year, type_digit = int(body[:4]), body[4]
        if year < 2003 or (today is not None and year > today.year):
            latest = today.year if today is not None else "today"
            raise ValueError(f"filing year {year} is outside 2003–{latest} for a 12-digit number")
    else:
        type_digit = body[2]
        # Two-digit years of the old form: 85–99 and 00–03 (the Patent Law took effect in 1985).
        if not (body[:2] >= "85" or body[:2] <= "03"):
            raise ValueError(f"year {body[:2]} is outside 1985–2003 for an 8-digit number")
    if check not in "0123456789X":
        raise ValueError("the check character is a digit or X")
    expected = patent_check_character(body)
    if check != expected:
        raise ValueError(f"check character should be {expected}, not {check}")
    if type_digit not in _TYPE_DIGIT:
        raise ValueError(f"type digit {type_digit} is not a patent type (1, 2, 3, 8 or 9)")
    if kind is not None and kind not in _TYPE_DIGIT[type_digit]:
        raise ValueError(f"type digit {type_digit} does not match kind {kind}")
    return f"{body}.{check}"


def _not_future(year: str, today: date | None) -> None:
    if today is not None and int(year) > today.year:
        raise ValueError(f"the year {year} in the number is after the business date {today.isoformat()}")


def normalise_number(kind: str, raw: str, today: date | None = None) -> str:
    if kind not in ASSET_KINDS:
        raise ValueError(f"unknown asset kind {kind}")
    if kind in PATENT_KINDS:
        return normalise_patent_number(raw, kind, today)
    s = raw.strip()
    if kind == "trademark":
        s = re.sub(r"\s", "", s)
        if s.startswith("第") and s.endswith("号"):
            s = s[1:-1]
        if not _TRADEMARK.match(s):
            raise ValueError("a trademark registration number is 1 to 9 digits")
        return s.lstrip("0") or "0"
    if kind == "geographical_indication":
        s = re.sub(r"\s", "", s)
        if m := _GI_ANNOUNCEMENT.match(s):
            _not_future(m.group(1), today)
            return f"{m.group(1)}年第{int(m.group(2))}号"
        if s.startswith("第") and s.endswith("号"):
            s = s[1:-1]
        if not _TRADEMARK.match(s):
            raise ValueError("a geographical indication's number is its mark's registration number (1 to 9 "
                             "digits) or the GI product's announcement number (2008年第123号)")
        return s.lstrip("0") or "0"
    if kind == "software_copyright":
        s = re.sub(r"\s", "", s).upper()
        if not (m := _SOFTWARE.match(s)):
            raise ValueError("a software copyright number looks like 2021SR0123456")
        _not_future(m.group(1), today)
        return s
    if kind == "copyright":
        s = re.sub(r"\s", "", s)
        if not (m := _COPYRIGHT.match(s)):
            raise ValueError("a copyright registration number looks like 国作登字-2021-F-00012345")
        _not_future(m.group(2), today)
        return s
    if kind == "plant_variety":
        s = re.sub(r"\s", "", s).upper()
        if not (m := _PLANT.match(s)):
            raise ValueError("a plant variety number looks like CNA20201234.5")
        _not_future(m.group(1), today)
        return s
    s = s.upper()
    if not _TRADE_SECRET.match(s):
        raise ValueError("a trade secret reference is 1–64 letters, digits, - _ /")
    return s


def is_gi_announcement(number: str) -> bool:
    return bool(_GI_ANNOUNCEMENT.match(number))


def display_number(kind: str, number: str) -> str:
    """How a granted patent is written: ``ZL201710601862.3``."""
    return f"ZL{number}" if kind in PATENT_KINDS else number
