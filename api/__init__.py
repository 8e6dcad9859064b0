"""The HTTP layer: thin routers over the domain services, auth, errors, transactions, idempotency."""
