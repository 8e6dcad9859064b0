"""The risk fund's double-entry ledger (after TigerBeetle and Formance): balanced, append-only, hash-chained.

Post through ``finance.ledger.service.post`` with lines from ``finance.ledger.core.Recipes``.
"""
