"""One module per provider, each registering its extractors on import."""

from ledger.sources import celcoin, kobana, transfeera  # noqa: F401
