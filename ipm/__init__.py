"""The operator's command line: ``python -m ipm --help``."""
