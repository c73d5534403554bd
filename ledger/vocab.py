"""The names every output uses, so scripts can rely on them. Never rename one."""

from __future__ import annotations

#: Object kinds and the direction their settled money moves (``in`` to us, ``out`` from us).
DIRECTION: dict[str, str] = {
    "boleto": "in",
    "pix_charge": "in",
    "pix_in": "in",
    "ted_in": "in",
    "pix_out": "out",
    "ted_out": "out",
    "transfer": "out",
    "transfer_refund": "in",
    "cashin_refund": "out",
    "pix_reversal_in": "in",
    "pix_reversal_out": "out",
}
KINDS = tuple(DIRECTION)
CHARGES = frozenset({"boleto", "pix_charge"})
RECEIVED = frozenset({"pix_in", "ted_in"})
PAYOUTS = frozenset({"pix_out", "ted_out", "transfer"})
RETURNS = frozenset({"transfer_refund", "pix_reversal_in"})  # a payout of ours coming back

DISCREPANCY_TYPES = (
    "underpaid",
    "overpaid",
    "paid_twice",
    "paid_after_cancel",
    "unknown_charge",
    "payout_failed",
    "payout_returned",
    "payout_pending",
    "amount_conflict",
)
