"""Auctions of one asset or a bundle: hidden reserve, minimum increment, anti-sniping extension."""
