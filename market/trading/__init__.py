"""Listings, offers and deals: selling and licensing IP, recorded with a contract number."""
