"""The fund's double-entry ledger, one import for its users: accounts, posting, reversal, balances, verify.

Other packages move money only through ``post`` (or ``reverse``, or the two-phase ``post_pending`` /
``void_pending``), with lines from ``core.Recipes`` and an idempotency key of their own making (e.g.
``claim:{id}:payout``), inside their request's transaction. Services only flush; the caller commits. A posting that is the whole of
its transaction goes through ``post_alone``, which commits (on PostgreSQL one statement in autocommit).

Split by concern: ``accounts`` (opening and finding accounts), ``posting`` (the posting path, lock order
and replay), ``append`` (the append statement and the hash chain's head), ``reading`` (balances and
entries), ``sealing`` (linking committed entries into the hash chain, after commit), ``verification``
(what a hash covers, and ``verify``).
"""

from __future__ import annotations

from finance.ledger.accounts import (
    ensure_account,
    ensure_accounts,
    ensure_program_accounts,
    get_account,
    list_accounts,
)
from finance.ledger.posting import _entry_by_key, post, post_alone, post_pending, reverse, void_pending
from finance.ledger.reading import (
    Balance,
    _postings_of,
    balance,
    balances,
    describe_account,
    describe_entries,
    get_entry,
    list_entries,
    reversed_by,
)
from finance.ledger.sealing import seal
from finance.ledger.verification import MAX_PROBLEMS_SHOWN, VERIFY_BATCH, verify
from finance.ledger.verification import hashed_entry as _hashed_entry
from finance.ledger.verification import hashed_posting as _hashed_posting

__all__ = [
    "MAX_PROBLEMS_SHOWN", "VERIFY_BATCH", "Balance", "_entry_by_key", "_hashed_entry", "_hashed_posting",
    "_postings_of", "balance", "balances", "describe_account", "describe_entries", "ensure_account",
    "ensure_accounts", "ensure_program_accounts", "get_account", "get_entry", "list_accounts", "list_entries",
    "post", "post_alone", "post_pending", "reverse", "reversed_by", "seal", "verify", "void_pending",
]
