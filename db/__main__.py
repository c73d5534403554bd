"""``python -m db upgrade|current|downgrade REV``: migrations with the service's own Settings.

The Procfile's ``release:`` line runs ``python -m db upgrade`` once per deploy.
"""

from __future__ import annotations

import os
import sys

from alembic import command

from config import ConfigError, Settings
from db import alembic_config, database_url
from ops import preflight

USAGE = "usage: python -m db [upgrade [REV] | downgrade REV | current]"


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE + "\n\nApply (upgrade, default: to head), revert or show the database migrations of "
              "DATABASE_URL (unset: the SQLite file under VAR_DIR).")  # fmt: skip
        return 0
    try:
        settings = Settings.from_env(os.environ)
        preflight.check_database(settings, migrated=False)
    except (ConfigError, preflight.StartupError) as exc:
        preflight.fail("python -m db", exc)
    action, *rest = argv or ["upgrade"]
    config = alembic_config(settings)
    if action == "upgrade":
        command.upgrade(config, rest[0] if rest else "head")
    elif action == "downgrade" and rest:
        command.downgrade(config, rest[0])
    elif action == "current":
        command.current(config, verbose=True)
    else:
        print(USAGE, file=sys.stderr)
        return 2
    url = database_url(settings)
    print(f"db: {action} done on {url.split('@')[-1]}", file=sys.stderr)  # no password in output
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
