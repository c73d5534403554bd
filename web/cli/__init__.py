"""The ``flask`` command groups. Each module is imported only when one of its commands runs
(``app._CLI_GROUPS``), so the web process never pays for them."""
