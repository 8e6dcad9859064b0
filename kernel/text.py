"""Text for search and matching in Chinese and English without a segmentation dictionary.

Latin text splits into lower-cased words; CJK runs become overlapping character bigrams (and the single
character for a run of one), the usual dictionary-free method for Chinese retrieval.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_IS_CJK = re.compile(rf"[{_CJK}]")


def normalise(text: str) -> str:
    """NFKC (full-width to half-width) and lower case: the form stored for LIKE search."""
    return unicodedata.normalize("NFKC", text or "").lower()


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def terms(text: str) -> list[str]:
    """Search terms of a text, in order, with repeats (callers count or dedupe as they need)."""
    out: list[str] = []
    for run in _TOKEN.findall(normalise(text)):
        if _IS_CJK.match(run):
            out.extend([run] if len(run) == 1 else _bigrams(run))
        elif len(run) > 1 or run.isdigit():
            out.append(run)
    return out


# --- Terms for an inverted index of a stored (normalised) text -----------------------------------
# A query part made only of [a-z0-9] occurs in a normalised text exactly when it occurs inside one of the
# text's maximal runs of those characters ("words"), so an index of the words, looked up by substring in
# their vocabulary, answers such a part exactly; a part of two CJK characters occurs exactly when it is a
# bigram of one of the text's CJK runs. A longer CJK part needs every one of its bigrams: the index names
# the candidates, LIKE decides. Words of fewer than WORD_MIN characters are not indexed (a vocabulary
# lookup needs a trigram); a word longer than 2 × WORD_PART_MAX is indexed as overlapping pieces of that
# length, WORD_PART_MAX apart, so that every part of up to WORD_PART_MAX characters lies inside a piece.
WORD_MIN = 3
WORD_PART_MAX = 200
_WORD_PART = re.compile(rf"[a-z0-9]{{{WORD_MIN},{WORD_PART_MAX}}}")
_CJK_PART = re.compile(rf"[{_CJK}]{{2,{WORD_PART_MAX}}}")


def index_terms(normalised: str) -> tuple[list[str], list[str]]:
    """The distinct words and CJK bigrams of an already normalised text (``normalise``'s output, as
    stored for LIKE), in order of first occurrence: what an inverted index of the text holds."""
    words: dict[str, None] = {}
    bigrams: dict[str, None] = {}
    for run in _TOKEN.findall(normalised):
        if _IS_CJK.match(run):
            bigrams.update(dict.fromkeys(_bigrams(run)))
        elif len(run) >= WORD_MIN:
            for start in range(0, max(len(run) - WORD_PART_MAX, 1), WORD_PART_MAX):
                words[run[start : start + 2 * WORD_PART_MAX]] = None
    return list(words), list(bigrams)


def index_lookup(part: str) -> tuple[str, str] | None:
    """How the index of ``index_terms`` answers one query part (``query_parts``' output): ``("word",
    part)``, every word containing it; ``("bigram", b)``, the texts with bigram ``b`` (exact for a part
    of two CJK characters, candidates for a longer one); None, not at all (the part mixes kinds of
    characters, or is too short or too long)."""
    if _WORD_PART.fullmatch(part):
        return "word", part
    if _CJK_PART.fullmatch(part):
        return "bigram", part[:2]
    return None


def is_cjk(text: str) -> bool:
    """True when every character of a non-empty text is a CJK ideograph."""
    return bool(text) and all(_IS_CJK.match(c) for c in text)


def query_parts(q: str) -> list[str]:
    """The whitespace-separated parts of a search query, normalised; each must occur in the text."""
    return [p for p in normalise(q).split() if p][:10]


# --- Control characters -------------------------------------------------------------------------
# NUL and the other C0 and C1 controls (and DEL) are refused in every string the API takes: PostgreSQL
# cannot store NUL, and the others only hide text. Tab, line feed and carriage return pass in
# multi-line text: a field whose name ends with one of MULTILINE_SUFFIXES (``description``,
# ``abstract``, ``reason``...). api/input_guard.py applies the rule to every body, query and path;
# SingleLine / MultiLine apply it to a form field or a value that does not come from a JSON body.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f]")
MULTILINE_SUFFIXES = ("abstract", "description", "message", "purpose", "reason", "note", "notes", "comment",
                      "text")


def is_multiline_field(name: str | None) -> bool:
    return bool(name) and str(name).endswith(MULTILINE_SUFFIXES)


def control_character(value: str, multiline: bool = False) -> str | None:
    """The first refused control character in ``value`` as its code point (e.g. ``U+0000``), or None."""
    found = (_CONTROL if multiline else _CONTROL_OR_BREAK).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def _refuse(multiline: bool) -> Any:
    def check(value: str) -> str:
        bad = control_character(value, multiline)
        if bad:
            raise ValueError(f"control character {bad} is not allowed")
        return value

    return AfterValidator(check)


SingleLine = Annotated[str, _refuse(multiline=False)]
MultiLine = Annotated[str, _refuse(multiline=True)]
