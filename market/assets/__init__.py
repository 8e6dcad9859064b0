"""The IP asset registry: assets, ownership history, encumbrances and the high-value verdict."""
