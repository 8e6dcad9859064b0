from tests.finance.loans import loan_flow as lf


async def test_happy_path(api):
    c = await lf.cast(api)
    loan = await lf.active_loan(api, c)
    rows = await lf.schedule(api, c.sme, loan["id"])
    assert rows[0]["payment"] == 8_530_990
    assert loan["next_due"]["amount"] == 8_530_990
