"""The loan workflows (``kernel.workflow.Workflow``): applications, offers, loans, repayments, instalments
and disposal lots. Every status change of these rows goes through one of them."""

from __future__ import annotations

from kernel.workflow import Workflow

LOAN = Workflow("loan", {
    ("pending_security", "register_pledge"): "secured",
    ("secured", "disburse"): "active",
    ("active", "fall_overdue"): "overdue",
    ("overdue", "cure"): "active",
    ("active", "repay_in_full"): "repaid",
    ("overdue", "repay_in_full"): "repaid",
    ("overdue", "declare_default"): "defaulted",
    ("defaulted", "compensate"): "compensated",
    # The bank may auction the collateral before the fund has paid (an uncovered loan may never be).
    ("defaulted", "dispose"): "disposing",
    ("compensated", "dispose"): "disposing",
    # The fund's payment can land while the auction runs: the loan stays in disposal.
    ("disposing", "compensate"): "disposing",
    # An unsold lot may be put up again (e.g. with a lower reserve).
    ("disposing", "dispose"): "disposing",
    ("disposing", "close"): "closed",
    ("defaulted", "write_off"): "written_off",
    ("compensated", "write_off"): "written_off",
    ("disposing", "write_off"): "written_off",
}, initial="pending_security")

# The lending bank invites a guarantor or insurer; the invitee accepts by joining with its terms.
INVITATION = Workflow("loan_invitation", {("pending", "accept"): "accepted"}, initial="pending")

APPLICATION = Workflow("loan_application", {
    ("submitted", "accept_offer"): "accepted",
    ("submitted", "withdraw"): "withdrawn",
}, initial="submitted")

OFFER = Workflow("loan_offer", {
    ("pending", "accept"): "accepted",
    ("pending", "decline"): "declined",
    ("pending", "withdraw"): "withdrawn",
}, initial="pending")

# A repayment is ``processing`` while its payment is in flight; it lands (is applied) or fails.
REPAYMENT = Workflow("loan_repayment", {
    ("processing", "apply"): "succeeded",
    ("processing", "fail"): "failed",
}, initial="processing")

# An instalment's status follows its figures (``position.row_status``); the day-end's set-based UPDATE
# marks the ones falling overdue.
INSTALMENT_ACTIONS = {"partial": "pay_part", "paid": "pay", "overdue": "fall_overdue"}
INSTALMENT = Workflow("loan_installment", {
    (source, action): target
    for source in ("pending", "partial", "overdue")
    for target, action in INSTALMENT_ACTIONS.items() if target != source
}, initial="pending")

# A disposal lot is open while its auction runs; it went unsold, or its deal settled the loan.
DISPOSAL = Workflow("loan_disposal", {
    ("open", "go_unsold"): "unsold",
    ("open", "settle"): "settled",
    ("unsold", "settle"): "settled",
}, initial="open")

# Loans that are still owed money and accrue (the day-end works on these).
PERFORMING = ("active", "overdue")
BEFORE_DISBURSEMENT = ("pending_security", "secured")
