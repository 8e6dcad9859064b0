"""Imports every module that defines tables, day-end handlers or event subscribers, so they register."""
# One import per line, any order: this file merges with git's union strategy (.gitattributes).

import accounts.models
import finance.deal_payments
import finance.fund.models
import finance.fund.claims
import finance.ledger.models
import finance.loans.day_end
import finance.loans.models
import finance.loans.subscribers
import finance.payments.models
import finance.rates.models
import finance.subsidies.models
import finance.subsidies.claims
import kernel.audit
import kernel.clock
import kernel.idempotency
import market.assets.models
import market.auctions.models
import market.day_end
import market.licensing.models
import market.matching.day_end
import market.matching.models
import market.trading.models
import valuation.models
import valuation.subscribers
import accounts.tokens
import kernel.outbox
import finance.payments.driver
