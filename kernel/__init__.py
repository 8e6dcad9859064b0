"""The shared kernel: settings, database, money, ids, the business clock, errors, audit, idempotency.

It imports none of the domain packages; every other package may import it.
"""
