"""The real schemes of domain.md §7, each with its worked numbers (amounts in fen: ¥1 = 100)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.fund.sharing import CapsUsed, SharingRules, Tier, distribute_recovery, final_loss, split_loss

WAN = 1_000_000  # ¥10,000 in fen
M = 100 * WAN  # ¥1m

ZHONGSHAN = SharingRules(shares=(("fund", 5400), ("insurer", 1600), ("evaluator", 400)))
ZHUHAI = SharingRules(shares=(("fund", 4000),))
SHENZHEN = SharingRules(shares=(("fund", 5000),))
GUARANTEE_4321 = SharingRules(shares=(("guarantor", 4000), ("re_guarantor", 3000), ("government", 1000)),
                              fund=None, min_residual_bps=2000)
GUANGZHOU_2023 = SharingRules(shares=(("fund", 5000),), loan_cap=10 * M, borrower_year_cap=20 * M,
                              annual_cap=50 * M)
GUANGZHOU_2025 = SharingRules(shares=(("fund", 4000),),
                              tiers=(Tier(5 * M, 4000), Tier(15 * M, 3000), Tier(30 * M, 2000)))


def test_zhongshan_54_26_16_4() -> None:
    split = split_loss(M, ZHONGSHAN)
    assert split.parts == {"fund": 540_000_00, "insurer": 160_000_00, "evaluator": 40_000_00, "bank": 260_000_00}
    assert split.limited_by == ()


def test_zhongshan_odd_fen_goes_to_the_largest_remainder() -> None:
    # 101 fen: exact shares 54.54 / 16.16 / 4.04 / 26.26 → floors 100, the last fen to the fund (.54).
    assert split_loss(101, ZHONGSHAN).parts == {"fund": 55, "insurer": 16, "evaluator": 4, "bank": 26}


def test_zhongshan_without_an_insurer_the_bank_bears_its_share() -> None:
    split = split_loss(M, ZHONGSHAN, absent={"insurer"})
    assert split.parts == {"fund": 540_000_00, "insurer": 0, "evaluator": 40_000_00, "bank": 420_000_00}


def test_zhuhai_40_60() -> None:
    assert split_loss(250 * M, ZHUHAI).parts == {"fund": 100 * M, "bank": 150 * M}
    # ¥2,500,000.01: 100,000,000.4 / 150,000,000.6 fen → the odd fen to the bank.
    assert split_loss(250 * M + 1, ZHUHAI).parts == {"fund": 100 * M, "bank": 150 * M + 1}


def test_shenzhen_50_50_tie_goes_to_the_party_listed_first() -> None:
    assert split_loss(3 * M, SHENZHEN).parts == {"fund": 150 * WAN, "bank": 150 * WAN}
    assert split_loss(3, SHENZHEN).parts == {"fund": 2, "bank": 1}


def test_4321_guarantee_model() -> None:
    split = split_loss(M, GUARANTEE_4321)
    assert split.parts == {"guarantor": 40 * WAN, "re_guarantor": 30 * WAN, "government": 10 * WAN,
                           "bank": 20 * WAN}


def test_bank_must_keep_its_minimum_share() -> None:
    # The national guarantee fund: the bank keeps at least 20%.
    with pytest.raises(ValueError, match="at least 2000"):
        SharingRules(shares=(("guarantor", 8500),), fund=None, min_residual_bps=2000)
    with pytest.raises(ValueError, match="at least 2000"):
        SharingRules(shares=(("fund", 4000),), tiers=(Tier(None, 8100),), min_residual_bps=2000)


def test_guangzhou_2023_half_of_the_principal_loss() -> None:
    split = split_loss(8 * M, GUANGZHOU_2023, loan_principal=8 * M)
    assert split.parts == {"fund": 4 * M, "bank": 4 * M} and split.limited_by == ()


def test_guangzhou_2023_counts_at_most_10m_of_a_loan() -> None:
    split = split_loss(15 * M, GUANGZHOU_2023, loan_principal=15 * M)
    assert split.parts == {"fund": 5 * M, "bank": 10 * M}
    assert split.fund_uncapped == 750 * WAN and split.limited_by == ("loan_cap",)


def test_guangzhou_2023_per_borrower_per_year_cap() -> None:
    split = split_loss(8 * M, GUANGZHOU_2023, used=CapsUsed(borrower_year=18 * M, annual=18 * M))
    assert split.parts == {"fund": 2 * M, "bank": 6 * M} and split.limited_by == ("borrower_year_cap",)
    exhausted = split_loss(8 * M, GUANGZHOU_2023, used=CapsUsed(borrower_year=20 * M))
    assert exhausted.parts == {"fund": 0, "bank": 8 * M}


def test_guangzhou_2023_annual_cap() -> None:
    split = split_loss(8 * M, GUANGZHOU_2023, used=CapsUsed(annual=4950 * WAN))
    assert split.parts == {"fund": 50 * WAN, "bank": 750 * WAN} and split.limited_by == ("annual_cap",)


def test_guangzhou_2023_caps_stack() -> None:
    split = split_loss(25 * M, GUANGZHOU_2023, used=CapsUsed(borrower_year=17 * M, annual=48 * M))
    # 50% of 25m = 12.5m → loan cap 5m → borrower 3m left → annual 2m left.
    assert split.parts == {"fund": 2 * M, "bank": 23 * M}
    assert split.limited_by == ("loan_cap", "borrower_year_cap", "annual_cap")


@pytest.mark.parametrize(("principal", "loss", "fund"), [
    (5 * M, 5 * M, 2 * M),  # up to ¥5m: 40%
    (5 * M + 1, M, 30 * WAN),  # just above ¥5m: 30%
    (15 * M, 10 * M, 3 * M),  # ¥15m: still 30%
    (20 * M, 20 * M, 4 * M),  # ¥15–30m: 20%
    (30 * M, 30 * M, 6 * M),
])
def test_guangzhou_2025_tiers_by_loan_size(principal: int, loss: int, fund: int) -> None:
    split = split_loss(loss, GUANGZHOU_2025, loan_principal=principal)
    assert split.parts == {"fund": fund, "bank": loss - fund}


def test_guangzhou_2025_above_30m_is_ineligible() -> None:
    split = split_loss(10 * M, GUANGZHOU_2025, loan_principal=30 * M + 1)
    assert split.parts == {"fund": 0, "bank": 10 * M} and split.limited_by == ("tier_ineligible",)
    assert GUANGZHOU_2025.fund_share_bps(30 * M + 1) is None
    with pytest.raises(ValueError):
        split_loss(M, GUANGZHOU_2025)  # tiers need the loan's size


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError):
        SharingRules(shares=(("fund", 5000), ("fund", 1000)))
    with pytest.raises(ValueError):
        SharingRules(shares=(("insurer", 1000),))  # no fund share but a fund is named
    with pytest.raises(ValueError):
        SharingRules(shares=(("fund", 6000), ("insurer", 5000)))
    with pytest.raises(ValueError):
        SharingRules(shares=(("fund", 4000),), tiers=(Tier(None, 4000), Tier(5 * M, 3000)))
    with pytest.raises(ValueError):
        split_loss(-1, ZHUHAI)
    with pytest.raises(ValueError):
        split_loss(1, ZHUHAI, absent={"ghost"})


def test_recoveries_return_in_proportion_to_what_each_paid() -> None:
    paid = split_loss(M, ZHONGSHAN).parts
    back = distribute_recovery(60 * WAN, paid)
    assert back == {"fund": 324_000_00, "insurer": 96_000_00, "evaluator": 24_000_00, "bank": 156_000_00}
    assert final_loss(paid, back) == {"fund": 216_000_00, "insurer": 64_000_00, "evaluator": 16_000_00,
                                      "bank": 104_000_00}


def test_surplus_beyond_the_loss_goes_to_the_borrower() -> None:
    paid = split_loss(M, ZHUHAI).parts
    back = distribute_recovery(120 * WAN, paid)
    assert back == {"fund": 40 * WAN, "bank": 60 * WAN, "borrower": 20 * WAN}
    # A later recovery after everyone is whole goes entirely to the borrower.
    assert distribute_recovery(500, paid, back) == {"fund": 0, "bank": 0, "borrower": 500}


def test_later_recoveries_correct_earlier_rounding() -> None:
    paid = {"fund": 1, "bank": 1}
    first = distribute_recovery(1, paid)
    assert first == {"fund": 1, "bank": 0}
    assert distribute_recovery(1, paid, first) == {"fund": 0, "bank": 1}


def test_impossible_recoveries_are_refused() -> None:
    with pytest.raises(ValueError):
        distribute_recovery(-1, {"fund": 10})
    with pytest.raises(ValueError):
        distribute_recovery(1, {"fund": 10}, {"fund": 11})
    with pytest.raises(ValueError):
        distribute_recovery(1, {"borrower": 10})


@st.composite
def rules(draw: st.DrawFn) -> SharingRules:
    names = draw(st.lists(st.sampled_from(["guarantor", "insurer", "evaluator", "government"]), unique=True,
                          max_size=3))
    fund_share = draw(st.integers(0, 10_000))
    others = []
    budget = 10_000 - fund_share
    for name in names:
        share = draw(st.integers(0, budget))
        budget -= share
        others.append((name, share))
    cap = st.one_of(st.none(), st.integers(0, 10**11))
    return SharingRules(shares=(("fund", fund_share), *others), loan_cap=draw(cap),
                        borrower_year_cap=draw(cap), annual_cap=draw(cap))


@settings(max_examples=300, deadline=None)
@given(loss=st.integers(0, 10**12), rule=rules(), absent_fund=st.booleans(),
       used=st.builds(CapsUsed, st.integers(0, 10**11), st.integers(0, 10**11)))
def test_splits_always_sum_to_the_loss(loss: int, rule: SharingRules, absent_fund: bool, used: CapsUsed) -> None:
    split = split_loss(loss, rule, used=used, absent={"fund"} if absent_fund else ())
    assert sum(split.parts.values()) == loss
    assert all(part >= 0 for part in split.parts.values())
    assert split.parts["fund"] <= split.fund_uncapped or absent_fund
    for cap, already in ((rule.borrower_year_cap, used.borrower_year), (rule.annual_cap, used.annual)):
        if cap is not None:
            assert split.parts["fund"] <= max(cap - already, 0)


@settings(max_examples=300, deadline=None)
@given(paid=st.dictionaries(st.sampled_from(["fund", "bank", "insurer", "guarantor"]), st.integers(0, 10**10),
                            min_size=1),
       tranches=st.lists(st.integers(0, 10**10), min_size=1, max_size=6))
def test_recoveries_sum_to_the_proceeds_and_never_exceed_what_was_paid(paid: dict[str, int],
                                                                         tranches: list[int]) -> None:
    recovered = dict.fromkeys(paid, 0)
    borrower = 0
    for proceeds in tranches:
        back = distribute_recovery(proceeds, paid, recovered)
        assert sum(back.values()) == proceeds and all(v >= 0 for v in back.values())
        borrower += back.pop("borrower", 0)
        recovered = {k: recovered[k] + back[k] for k in paid}
        assert all(recovered[k] <= paid[k] for k in paid)
    assert sum(recovered.values()) == min(sum(tranches), sum(paid.values()))
    assert borrower == sum(tranches) - sum(recovered.values())
