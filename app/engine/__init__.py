"""The execution engine: a pure library (no FastAPI, ORM or Celery). It takes plain specs and gives plain results."""
