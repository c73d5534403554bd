"""The reconciliation ledger: one state per money object, folded from its events.

The core (``facts``, ``fold``, ``reconcile``, ``render``) is pure: no database, no Flask,
so it is tested with plain payloads and the same code runs in the worker and in the report.
``models`` and ``store`` persist it; ``handlers.ledger`` keeps it current; ``cli`` reports it.
"""
