"""Valuation: indicator scores, income/market/cost approaches, appraisal reports, loan-to-value."""
