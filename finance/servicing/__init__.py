"""Loan servicing between disbursement and the end (domain §6 "Servicing"): payoff and prepayment by daily
accrual, charges, the pledgee's consent and where the proceeds go, restructuring, revaluation and margin
calls, adding and releasing collateral."""
