"""Background jobs: the registry of job functions, the queue (arq or in-process), the worker."""
