"""The real worker, plus one countable handler: ``python -m tests.fault_worker`` (fault scenarios).

The handler records one ``test_effects`` row per run in the transaction that marks the event
processed, so counting rows per event counts effects. ``HANDLER_SLEEP`` (seconds) keeps each job
busy long enough for a SIGKILL to land in the middle of one; ``HANDLER_STARTS`` names a file that
gets one line per handler start: the event id and the worker's process group (whom to kill mid-job).
"""

from __future__ import annotations

import os
import sys
import time

from handlers.registry import handler
from tests import effects
from workers.__main__ import main

_SLEEP = float(os.environ.get("HANDLER_SLEEP", "0"))
_STARTS = os.environ.get("HANDLER_STARTS")


@handler("*", "*")
def count_effect(event, session):
    if _STARTS:  # every start, outside the transaction: starts minus effects = runs cut short by a fault
        with open(_STARTS, "a") as starts:
            starts.write(f"{event.id} {os.getpgrp()}\n")
    effects.record(event, session, "count_effect")
    session.flush()  # the effect is written, uncommitted, while the job may still be killed
    if _SLEEP:
        time.sleep(_SLEEP)


if __name__ == "__main__":
    sys.exit(main())
