"""Finance: payments, pledge loans, the risk fund and its ledger, subsidies."""
