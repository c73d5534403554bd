"""Entry point for gunicorn: ``gunicorn -c gunicorn.conf.py wsgi:app``.

The web serves the console, whose sessions are signed with ``SECRET_KEY``: it is required here
(one line naming it, no traceback), not in ``create_app``, so tests and the CLI build apps freely.
"""

import os
import sys

from app import create_app
from config import ConfigError, Settings

try:
    _settings = Settings.from_env(os.environ)
    _settings.require_secret_key()
except ConfigError as exc:
    sys.exit(f"ConfigError: {exc}")

app = create_app(_settings)
