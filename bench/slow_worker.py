"""``python -m bench.slow_worker SECONDS``: the service's worker with one extra handler that sleeps.

The handler is registered for every Kobana event through the real registry, so it runs where
any handler runs (inside the transaction that marks the event processed); 0 means a no-op
handler. Until the registry exists the job function itself is wrapped, which costs the same.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def _install(seconds: float) -> None:
    try:
        from handlers.registry import handler
    except ImportError:
        import workers.jobs

        original = workers.jobs.process_event

        def process_event(data: dict[str, Any]) -> Any:
            result = original(data)
            if seconds:
                time.sleep(seconds)
            return result

        workers.jobs.process_event = process_event  # type: ignore[assignment]
        return

    @handler("kobana", "*")
    def _bench_handler(event: Any, session: Any) -> None:
        if seconds:
            time.sleep(seconds)


def main() -> int:
    _install(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
    from workers.__main__ import main as worker_main

    return worker_main()


if __name__ == "__main__":
    sys.exit(main())
