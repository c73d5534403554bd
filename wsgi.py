"""Entry point for gunicorn (``gunicorn -c gunicorn.conf.py wsgi:app``) and the ``flask --app wsgi`` CLI.

A configuration mistake is one line naming the variable, exit code 2, no traceback.
"""

import sys
from pathlib import Path

from app import create_app
from config import ConfigError
from ops import preflight

try:
    app = create_app()
except ConfigError as exc:
    preflight.fail(Path(sys.argv[0]).name or "wsgi", exc)
