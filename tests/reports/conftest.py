"""Report tests run real scenarios against a real HTTP target (the run tests' one, and a phased one here)."""

from tests.runs.conftest import target, target_server  # noqa: F401  (fixtures)
