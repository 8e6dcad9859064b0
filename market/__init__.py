"""The market: IP assets, encumbrances, listings, offers, deals, licenses, open licenses, auctions, needs."""
