"""Text for search and matching in Chinese and English without a segmentation dictionary.

Latin text splits into lower-cased words; CJK runs become overlapping character bigrams (and the single
character for a run of one), the usual dictionary-free method for Chinese retrieval.
"""

from __future__ import annotations

import re
import unicodedata

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_IS_CJK = re.compile(rf"[{_CJK}]")


def normalise(text: str) -> str:
    """NFKC (full-width to half-width) and lower case: the form stored for LIKE search."""
    return unicodedata.normalize("NFKC", text or "").lower()


def terms(text: str) -> list[str]:
    """Search terms of a text, in order, with repeats (callers count or dedupe as they need)."""
    out: list[str] = []
    for run in _TOKEN.findall(normalise(text)):
        if _IS_CJK.match(run):
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif len(run) > 1 or run.isdigit():
            out.append(run)
    return out


def is_cjk(text: str) -> bool:
    """True when every character of a non-empty text is a CJK ideograph."""
    return bool(text) and all(_IS_CJK.match(c) for c in text)


def query_parts(q: str) -> list[str]:
    """The whitespace-separated parts of a search query, normalised; each must occur in the text."""
    return [p for p in normalise(q).split() if p][:10]
