"""The Loan Prime Rate table (1-year and 5-year), published monthly; offers and subsidies read it."""
