from decimal import Decimal

from kernel.money import apply_bps, format_yuan, split_largest_remainder, to_fen
from kernel.text import query_parts, terms


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
