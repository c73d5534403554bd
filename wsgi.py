"""Entry point for gunicorn (``gunicorn -c gunicorn.conf.py wsgi:app``) and the ``flask --app wsgi`` CLI.

A configuration mistake is one line naming the variable, exit code 2, no traceback.

Whatever serves ``app`` serves the console, whose sessions are signed with ``SECRET_KEY``: it is
required here. The ``flask`` command line (``.venv/bin/flask`` or ``python -m flask``: it loads
this module inside its click context) runs one command and exits; it serves no session, so it
gets a throwaway per-process key instead (``create_app``), and a laptop's CLI needs no secret.
"""

import os
import sys
from pathlib import Path

import click

from app import create_app
from config import ConfigError, Settings
from ops import preflight

_program = Path(sys.argv[0]).name or "wsgi"
try:
    _settings = Settings.from_env(os.environ)
    if click.get_current_context(silent=True) is None:  # served, not a command line
        _settings.require_secret_key()
    app = create_app(_settings)
except ConfigError as exc:
    preflight.fail(_program, exc)
