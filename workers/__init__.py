"""The queue between the web process and the workers, and the worker process itself."""
