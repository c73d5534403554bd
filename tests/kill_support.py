"""A worker process for the SIGKILL test: ``python -m tests.kill_support``.

Registers a handler for ``kobana bank_billet.paid`` that records its effect and, while the file
named by ``BLOCK_FILE`` exists, announces itself in ``STARTED_FILE`` and hangs (to be killed).
Then runs the real worker (``workers.__main__.main``) configured from the environment.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from handlers.registry import handler
from tests import effects
from workers.__main__ import main


@handler("kobana", "bank_billet.paid")
def hang_while_blocked(event, session):
    effects.record(event, session, "hang_while_blocked")
    session.flush()  # the effect is written (uncommitted) when the worker dies
    if Path(os.environ["BLOCK_FILE"]).exists():
        Path(os.environ["STARTED_FILE"]).write_text(str(event.id))
        time.sleep(120)


if __name__ == "__main__":
    sys.exit(main())
