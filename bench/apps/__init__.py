"""WSGI apps the service is compared against, served by the same ``gunicorn.conf.py``."""
