"""Imports every module that defines tables, day-end handlers or event subscribers, so they register."""

import accounts.models  # noqa: F401
import finance.fund.models
import finance.fund.service  # noqa: F401  (day-end: queued claims)
import finance.ledger.models  # noqa: F401
import kernel.audit
import kernel.clock
import kernel.idempotency  # noqa: F401
import market.assets.models
import market.day_end  # noqa: F401
