"""Subsidies (domain §8): policies set by the regulator, claims computed from a loan's real records,
approval paid from a budget held in the fund ledger and paid out through the payment gateway."""
