"""The 18-character unified social credit code (统一社会信用代码, GB 32100-2015).

Characters come from a 31-symbol alphabet (no I, O, Z, S, V); the 18th is a check character:
``31 - (Σ value_i × weight_i mod 31)`` over the first 17, where 31 is written as 0.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def check_character(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def normalise_credit_code(raw: str) -> str:
    """Upper-case, strip spaces, and validate. Raises ValueError with a reason."""
    code = raw.strip().upper().replace(" ", "")
    if len(code) != 18:
        raise ValueError("a unified social credit code has 18 characters")
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        raise ValueError(f"characters not allowed in a credit code: {''.join(bad)}")
    if check_character(code[:17]) != code[17]:
        raise ValueError("the check character of the credit code does not match")
    return code


def make_credit_code(body17: str) -> str:
    """Complete 17 characters with their check character (for demo data and tests)."""
    return body17 + check_character(body17)
