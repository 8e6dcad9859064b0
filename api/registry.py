"""Imports every module that defines tables, day-end handlers or event subscribers, so they register."""
# One import per line, any order: this file merges with git's union strategy (.gitattributes).

import accounts.models
import finance.payments.models
import finance.rates.models
import kernel.audit
import kernel.clock
import kernel.idempotency
import market.assets.models
import market.day_end
import market.day_end  # noqa: F401
import valuation.models
import valuation.subscribers  # noqa: F401
