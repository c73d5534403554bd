"""Alerts and the daily digest (issue 14; docs/alerts.md), run by the worker.

Under ``workers/`` because it is the worker that runs it (``runner``: a thread beside the job
loop) and it needs what the worker has: the database (alert state, the outbox, the event log,
the ledger) and the inbox stream. No Flask: ``flask alerts`` (web/cli/alerts.py) imports it,
never the reverse. The door only records refusals, through the Flask-free ``ops/refusals.py``.

- ``conditions``: what is wrong now, one registered function per condition;
- ``lifecycle``: findings → alerts (fire, repeat, resolve), one check at a time;
- ``digest``: yesterday's summary with the CSV report;
- ``outbox`` and ``channels``: every message waits in the database until its channel took it;
- ``messages``: every text, pt-BR and English; ``hours``: São Paulo business hours.
"""
