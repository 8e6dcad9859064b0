import pytest


@pytest.fixture(autouse=True)
def _clean_database():
    """The probe has a database of its own (tests/probe/test_schemathesis.py); nothing to empty."""
    yield
