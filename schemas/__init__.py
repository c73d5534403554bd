"""Marshmallow schemas per provider, and the envelope that travels on the queue."""
