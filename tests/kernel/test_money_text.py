import random
from decimal import Decimal

from kernel.money import apply_bps, format_yuan, split_largest_remainder, to_fen
from kernel.text import WORD_PART_MAX, index_lookup, index_terms, normalise, query_parts, terms


def test_money_helpers():
    assert to_fen(Decimal("2.5")) == 3 and to_fen(Decimal("-2.5")) == -3
    assert apply_bps(100_000, 435) == 4350
    assert split_largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert sum(split_largest_remainder(10_000_001, [3000, 2000, 5000])) == 10_000_001
    assert format_yuan(123456789) == "¥1,234,567.89"


def test_text_terms_and_query_parts():
    assert terms("碳化硅 SiC 单晶") == ["碳化", "化硅", "sic", "单晶"]
    assert terms("Ｌｉ电") == ["li", "电"]
    assert query_parts("  Machine  学习 ") == ["machine", "学习"]


def test_index_terms_answer_every_word_part():
    """Words of 3+ characters and CJK bigrams; a part made only of [a-z0-9] lies inside an indexed word
    (a long word's overlapping pieces included) whenever it lies in the text."""
    text = normalise("Graphene li-ion 2026 x1 锂电池热管理 电")
    assert index_terms(text) == (["graphene", "ion", "2026"], ["锂电", "电池", "池热", "热管", "管理"])
    rng = random.Random(3)
    for length in (3, 199, 400, 401, 599, 600, 601, 1234):
        run = "".join(rng.choice("ab") for _ in range(length))
        words, _ = index_terms(f"{run} 尾")
        assert all(len(w) <= 2 * WORD_PART_MAX for w in words)
        for size in (3, 57, WORD_PART_MAX):
            for start in range(0, length - size + 1, 13):
                assert any(run[start : start + size] in w for w in words), (length, size, start)
    assert index_lookup("graphene") == ("word", "graphene") and index_lookup("2026") == ("word", "2026")
    assert index_lookup("锂电池") == ("bigram", "锂电") and index_lookup("电池") == ("bigram", "电池")
    for part in ("li", "li-ion", "电", "锂电abc", "é", "a" * (WORD_PART_MAX + 1)):
        assert index_lookup(part) is None, part
