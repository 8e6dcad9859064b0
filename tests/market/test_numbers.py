"""Registration numbers: patent check characters in both forms, and the other kinds' formats."""

from datetime import date

import pytest

from market.numbers import display_number, normalise_number, normalise_patent_number, patent_check_character

TODAY = date(2026, 3, 2)


def test_domain_example_check_character():
    # domain.md: 201710601862 → Σ = 157, 157 mod 11 = 3.
    assert patent_check_character("201710601862") == "3"
    assert normalise_patent_number("201710601862.3", "invention_patent", TODAY) == "201710601862.3"


@pytest.mark.parametrize("raw", ["ZL201710601862.3", "zl 2017 1060 1862.3", "CN201710601862.3",
                                 " 201710601862 . 3 ", "2017106018623", "ZL 201710601862·3"])
def test_presentation_forms_are_accepted(raw):
    assert normalise_patent_number(raw, "invention_patent", TODAY) == "201710601862.3"


def _body_with_check(prefix: str, check: str) -> str:
    for n in range(10**7):
        body = f"{prefix}{n:0{12 - len(prefix)}d}" if len(prefix) < 12 else prefix
        if patent_check_character(body) == check:
            return body
    raise AssertionError("no body found")


def test_x_check_character():
    body = _body_with_check("20181", "X")
    assert normalise_patent_number(f"ZL{body}.x", "invention_patent", TODAY) == f"{body}.X"
    assert normalise_number("invention_patent", f"{body}X", TODAY) == f"{body}.X"


def test_eight_digit_pre_2004_form():
    body = "98123456"  # 1998, kind digit 1 (invention)
    check = patent_check_character(body)
    assert sum(int(d) * w for d, w in zip(body, (2, 3, 4, 5, 6, 7, 8, 9), strict=True)) % 11 == (
        10 if check == "X" else int(check))
    assert normalise_patent_number(f"ZL{body}.{check}", "invention_patent", TODAY) == f"{body}.{check}"
    assert display_number("invention_patent", f"{body}.{check}") == f"ZL{body}.{check}"
    wrong = "0" if check != "0" else "1"
    with pytest.raises(ValueError, match="check character"):
        normalise_patent_number(f"{body}.{wrong}", "invention_patent", TODAY)
    with pytest.raises(ValueError, match="does not match kind"):
        normalise_patent_number(f"{body}.{check}", "utility_model", TODAY)


@pytest.mark.parametrize(("raw", "kind", "reason"), [
    ("201710601862.4", "invention_patent", "check character should be 3"),
    ("201710601862.3", "utility_model", "type digit 1 does not match kind utility_model"),
    ("20171060186.3", "invention_patent", "12 digits"),
    ("2017106018621.3", "invention_patent", "12 digits"),
    ("20171060186A.3", "invention_patent", "digits only"),
    ("201710601862.Y", "invention_patent", "digit or X"),
    ("199910601862.1", "invention_patent", "outside 2003"),
    ("202910601862.1", "invention_patent", "outside 2003"),
])
def test_bad_patent_numbers(raw, kind, reason):
    with pytest.raises(ValueError, match=reason):
        normalise_patent_number(raw, kind, TODAY)


def test_type_digit_not_a_patent_type():
    body = "201740601862"
    with pytest.raises(ValueError, match="not a patent type"):
        normalise_patent_number(f"{body}.{patent_check_character(body)}", None, TODAY)


@pytest.mark.parametrize(("kind", "digit"), [("invention_patent", "1"), ("utility_model", "2"),
                                             ("design_patent", "3"), ("invention_patent", "8"),
                                             ("utility_model", "9")])
def test_kind_digits(kind, digit):
    body = f"2020{digit}0123456"
    assert normalise_number(kind, body + patent_check_character(body), TODAY) == f"{body}.{patent_check_character(body)}"


@pytest.mark.parametrize(("kind", "raw", "stored"), [
    ("trademark", "48213567", "48213567"),
    ("trademark", "第 12345678 号", "12345678"),
    ("trademark", "00123", "123"),
    ("software_copyright", "2022sr0456789", "2022SR0456789"),
    ("software_copyright", "2012SR012345", "2012SR012345"),
    ("copyright", "晋作登字-2022-F-00012345", "晋作登字-2022-F-00012345"),
    ("copyright", "国作登字-2021-A-00000001", "国作登字-2021-A-00000001"),
    ("plant_variety", "cna20191234.5", "CNA20191234.5"),
    ("plant_variety", "CNA2019123456", "CNA2019123456"),
    ("trade_secret", "gx-ts-2021-001", "GX-TS-2021-001"),
])
def test_other_kinds_formats(kind, raw, stored):
    assert normalise_number(kind, raw, TODAY) == stored


@pytest.mark.parametrize(("kind", "raw"), [
    ("trademark", "1234567890"), ("trademark", "TM123"), ("trademark", ""),
    ("software_copyright", "2022SR045"), ("software_copyright", "22SR0456789"), ("software_copyright", "2022XX0456789"),
    ("copyright", "国作登字-2021-Z-00000001"), ("copyright", "作登字-2021-A-00000001"), ("copyright", "国作登字-21-A-00000001"),
    ("plant_variety", "CN20191234.5"), ("plant_variety", "CNA2019.5"),
    ("trade_secret", "-leading-dash"), ("trade_secret", "x" * 65),
    ("domain_name", "example.cn"),
])
def test_other_kinds_refused(kind, raw):
    with pytest.raises(ValueError):
        normalise_number(kind, raw, TODAY)


def test_year_bounds_follow_the_given_business_date():
    body = "202710601862"
    number = f"{body}.{patent_check_character(body)}"
    with pytest.raises(ValueError, match="outside 2003–2026"):
        normalise_patent_number(number, "invention_patent", TODAY)
    assert normalise_patent_number(number, "invention_patent", date(2027, 1, 1)) == number
    # Without a business date (request schemas) only the form is checked; the service checks the year.
    assert normalise_patent_number(number, "invention_patent") == number
    with pytest.raises(ValueError, match="outside 2003"):
        normalise_patent_number("200210601862.1", "invention_patent")
    for kind, raw in (("software_copyright", "2027SR0456789"), ("copyright", "国作登字-2027-A-00000001"),
                      ("plant_variety", "CNA20271234.5")):
        assert normalise_number(kind, raw, date(2027, 1, 1)) == raw
        assert normalise_number(kind, raw) == raw
        with pytest.raises(ValueError, match="after the business date"):
            normalise_number(kind, raw, TODAY)


@pytest.mark.parametrize(("year", "ok"), [("85", True), ("99", True), ("00", True), ("03", True),
                                          ("04", False), ("84", False), ("50", False)])
def test_eight_digit_years_are_1985_to_2003(year, ok):
    body = f"{year}123456"
    number = f"{body}.{patent_check_character(body)}"
    if ok:
        assert normalise_patent_number(number, "invention_patent", TODAY) == number
    else:
        with pytest.raises(ValueError, match="1985–2003"):
            normalise_patent_number(number, "invention_patent", TODAY)


def test_a_non_digit_body_says_so():
    with pytest.raises(ValueError, match="digits only"):
        normalise_patent_number("20A710601862.3", "invention_patent", TODAY)
