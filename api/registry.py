"""Imports every module that defines tables, day-end handlers or event subscribers, so they register."""

import accounts.models  # noqa: F401
import finance.fund.models
import finance.fund.service
import finance.ledger.models
import finance.loans.day_end
import finance.loans.models
import finance.loans.subscribers
import finance.payments.models  # noqa: F401
import kernel.audit
import kernel.clock
import kernel.idempotency  # noqa: F401
import market.assets.models
import market.auctions.models
import market.day_end
import market.licensing.models
import market.matching.models
import market.trading.models  # noqa: F401
import valuation.models
import valuation.subscribers  # noqa: F401
