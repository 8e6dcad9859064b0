"""Licenses, royalty reports (use first, pay later) and open-license declarations."""
