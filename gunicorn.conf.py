"""gunicorn settings, from the environment (Heroku-like platforms set PORT and WEB_CONCURRENCY)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# Providers give us 5 s (Kobana); a request that takes longer has failed anyway.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "10"))
graceful_timeout = 20
keepalive = 5
accesslog = None  # one structured line per request comes from the app itself
preload_app = False
