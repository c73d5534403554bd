"""A realistic month of provider traffic, and the report it must produce, computed independently.

``generate(year, month, seed)`` returns a ``Month``: the signed-to-be bodies for all three
providers (hundreds of objects, every discrepancy type) and a ground truth derived from the
*scenarios* that produced them, never from folding the events, so a test comparing the two
checks the ledger rather than repeating it. Used by the tests and by ``flask reconcile demo``.
"""

from ledger.traffic.month import Delivery, Month, generate

__all__ = ["Delivery", "Month", "generate"]
