"""Registers every table, day-end handler, event subscriber and workflow by importing the domain packages
whole (``kernel.discovery``); tests/kernel/test_registration.py fails if a registering module is missed."""
# Nothing needs listing here any more. A module outside the domain packages that registers something
# may still be imported below: one import per line, any order (git's union merge, .gitattributes).

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
import market.assets.consents
import finance.servicing.models
import finance.servicing.restructures
import accounts.approvals
import finance.ledger.periods
import accounts.tokens
import kernel.outbox
import finance.payments.driver
import kernel.event_log
import kernel.webhooks
import finance.feed
import market.feed
import finance.fund.provisions
from kernel.discovery import import_all

import_all()
