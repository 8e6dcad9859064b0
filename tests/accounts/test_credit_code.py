"""The unified social credit code (GB 32100-2015) and its check character."""

import pytest

from accounts.credit_code import ALPHABET, WEIGHTS, check_character, make_credit_code, normalise_credit_code

# A published code (Tencent, 深圳市腾讯计算机系统有限公司): its check character is the standard's.
KNOWN = "91440300708461136T"


def test_known_code_and_alphabet():
    assert len(ALPHABET) == 31 and not set("IOZSV") & set(ALPHABET)
    assert normalise_credit_code(KNOWN) == KNOWN
    assert check_character(KNOWN[:17]) == "T"
    assert normalise_credit_code(" 91440300708461136t ") == KNOWN


def test_make_credit_code_completes_a_valid_code():
    code = make_credit_code("91140100MA0L1N8K2")
    assert len(code) == 18 and normalise_credit_code(code) == code
    total = sum(ALPHABET.index(c) * w for c, w in zip(code[:17], WEIGHTS, strict=True))
    assert (total + ALPHABET.index(code[17])) % 31 == 0


def test_wrong_check_character():
    wrong = KNOWN[:17] + ("U" if KNOWN[17] != "U" else "W")
    with pytest.raises(ValueError, match="check character"):
        normalise_credit_code(wrong)


@pytest.mark.parametrize("code", ["91440300708461136", "91440300708461136TT", "", "9144 0300"])
def test_wrong_length(code):
    with pytest.raises(ValueError, match="18 characters"):
        normalise_credit_code(code)


@pytest.mark.parametrize("bad", ["I", "O", "Z", "S", "V", "-", "中"])
def test_characters_outside_the_alphabet(bad):
    with pytest.raises(ValueError, match="not allowed"):
        normalise_credit_code(KNOWN[:5] + bad + KNOWN[6:])
