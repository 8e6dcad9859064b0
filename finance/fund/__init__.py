"""The risk-sharing fund: programmes, cover, compensation, recovery, its ledger and stress tests.

The pure maths (no database, no HTTP) lives in ``sharing`` (loss and recovery splits under a
programme's shares, tiers and caps) and ``stress`` (the Vasicek credit-loss simulation).
"""
